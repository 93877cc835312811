#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/settings.hpp"

namespace pgtier {

using Environment = std::map<std::string, std::string>;

// The process environment as a map (tests pass their own).
Environment current_environment();

struct Config {
    PostgresConfig postgres;
    StorageConfig storage;
    ScheduleConfig schedule;
    RetentionConfig retention;
    BackupConfig backup;
    CompressionConfig compression;
    OffsiteConfig offsite;
    EncryptionConfig encryption;
    NotifyConfig notify;
    DaemonConfig daemon;
    std::string source = "defaults";  // the file it came from, for messages
    // Keys set by a PGTIER_<SECTION>_<KEY> variable: "postgres.port" -> "PGTIER_POSTGRES_PORT".
    std::map<std::string, std::string> from_environment;

    // Where a key's value came from, for messages: "environment variable PGTIER_X_Y" when a
    // variable set it, else "<file>: section.key".
    std::string origin(const std::string& key) const;
};

struct ConfigOverrides {
    std::optional<std::string> config_file;  // --config
    std::optional<std::string> storage_dir;  // --dir
};

// Loads the configuration: defaults, then the TOML file (--config, else PGTIER_CONFIG, else
// /etc/pgtier/pgtier.toml; only the default path may be missing), then PGTIER_<SECTION>_<KEY>
// variables, then --dir. Throws ConfigError naming the file, the key and the problem.
Config load_config(const ConfigOverrides& overrides, const Environment& env);

// Parses TOML text (for tests); `source` names it in messages.
Config parse_config(const std::string& toml_text, const std::string& source,
                    const Environment& env);

// How to reach the server, resolved from the config and libpq's environment.
struct ConnectionSettings {
    std::string host;  // "" = libpq default
    int port = 5432;
    std::string user = "postgres";
    std::optional<std::string> password;  // from a password file or PGPASSWORD; else .pgpass
};

// Resolves connection settings; reads the password file. Throws ConfigError when a named
// password file cannot be read.
ConnectionSettings resolve_connection(const Config& config, const Environment& env);

// Credentials for the offsite store: offsite.access_key_id_file / secret_access_key_file, else
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else their *_FILE forms (Swarm secrets);
// AWS_SESSION_TOKEN(_FILE) when set. Throws ConfigError naming where each was looked for when
// one is missing or its file cannot be read. Never logged.
struct OffsiteCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
};
OffsiteCredentials resolve_offsite_credentials(const Config& config, const Environment& env);

// The webhook URLs: notify.urls, then the lines of notify.url_file (blank lines and # comments
// skipped). Throws ConfigError when the file cannot be read or a line is not an http(s) URL
// (naming the file and line, never the URL).
std::vector<std::string> resolve_notify_urls(const Config& config);

// The IANA time zone names are formatted in: schedule.timezone, else TZ, else "UTC".
std::string effective_timezone(const Config& config, const Environment& env);

// Makes the effective time zone the process's (set_process_timezone). Throws ConfigError naming
// where the zone came from (the file's key, PGTIER_SCHEDULE_TIMEZONE or TZ) when it is not one.
void apply_timezone(const Config& config, const Environment& env);

}  // namespace pgtier
