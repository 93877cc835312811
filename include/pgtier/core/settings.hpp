#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/compression.hpp"
#include "pgtier/core/notify.hpp"

// The configuration's sections as plain values, for the logic that uses them; reading them from
// TOML and the environment is sys/config.hpp.
namespace pgtier {

struct PostgresConfig {
    std::string host;           // "" = PGHOST / libpq default
    std::optional<int> port;    // unset = PGPORT / 5432
    std::string user;           // "" = PGUSER / postgres
    std::string password_file;  // "" = POSTGRES_PASSWORD_FILE, then PGPASSWORD / .pgpass
};

struct StorageConfig {
    std::filesystem::path dir = "/backups";
    // The identity recorded in each manifest instead of the server's system identifier, for a
    // rebuilt node that continues the history ("" = the system identifier).
    std::string cluster_name;
};

struct ScheduleConfig {
    std::string timezone;  // "" = TZ, else UTC
    std::string full = "0 3 * * 0";
    std::string differential = "0 3 * * 3";
    std::string incremental = "0 * * * *";
};

struct RetentionConfig {
    int incremental_days = 14;
    int differential_days = 42;
    int full_days = 42;
    int min_full = 2;
    int keep_monthly_full = 0;  // also keep the newest full of each of the last N months
};

struct BackupConfig {
    int jobs = 0;  // databases dumped at once; 0 = default_jobs(cores) (core/jobs.hpp)
};

struct CompressionConfig {
    CompressionFormat format = CompressionFormat::bzip2;
    int level = 9;           // after loading: the configured level, else the format's default
    int threads = 0;         // 0 = one per core
    bool level_set = false;  // whether the file or the environment gave a level
};

// [offsite]: copies in S3-compatible object storage (docs/design.md, Offsite copies).
struct OffsiteConfig {
    std::string url;       // "s3://BUCKET[/PREFIX]"; "" = no offsite copies
    std::string endpoint;  // "" = AWS: https://s3.REGION.amazonaws.com
    std::string region = "us-east-1";
    bool path_style = false;  // ENDPOINT/BUCKET/KEY instead of BUCKET.HOST/KEY
    std::string ca_file;      // "" = the system's CA certificates
    bool verify_tls = true;
    std::string access_key_id_file;  // "" = AWS_ACCESS_KEY_ID(_FILE)
    std::string secret_access_key_file;
    std::int64_t max_lag_seconds = 24 * 3600;  // health fails when an archive waits longer
    // Remote retention; unset = the local [retention] value.
    std::optional<int> incremental_days;
    std::optional<int> differential_days;
    std::optional<int> full_days;
    std::optional<int> min_full;

    bool enabled() const { return !url.empty(); }
};

// [encryption]: archives as age files, manifests signed (docs/design.md, Encryption).
struct EncryptionConfig {
    std::vector<std::string> recipients;  // "age1…": a backup encrypts to each
    std::string recipients_file;          // more recipients, one per line
    std::string identity_file;            // AGE-SECRET-KEY-1… lines: what reads them back
    std::string signing_key_file;         // Ed25519 private key (PEM): signs each manifest
    std::string verify_key;               // "ed25519:…": every manifest read must be signed by it
};

// [notify]: webhooks told of failures and recoveries (docs/notifications-and-metrics.md).
struct NotifyConfig {
    std::vector<std::string> urls;  // never logged whole: they are secrets (Slack hooks)
    std::string url_file;           // more URLs, one per line (a secret file)
    NotifyFormat format = NotifyFormat::json;
    bool on_success = false;   // also backup_succeeded after every good run
    int timeout_seconds = 10;  // per attempt
    int retries = 3;           // attempts after the first, 1 s back-off doubling
};

struct DaemonConfig {
    bool auto_restore = false;
    std::string metrics_listen;  // "HOST:PORT" serving /metrics and /healthz; "" = off
    std::string log_level = "info";
    // Back-off of the retries of a failed run; the last step repeats; empty: no retries.
    std::vector<std::chrono::seconds> retry_delays{std::chrono::minutes(1), std::chrono::minutes(5),
                                                   std::chrono::minutes(15),
                                                   std::chrono::minutes(60)};
};

}  // namespace pgtier
