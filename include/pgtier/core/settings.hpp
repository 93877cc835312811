#pragma once
#include <filesystem>
#include <optional>
#include <string>

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

struct CompressionConfig {
    int level = 9;
    int threads = 0;  // 0 = one per core
};

struct DaemonConfig {
    bool auto_restore = false;
    std::string log_level = "info";
};

}  // namespace pgtier
