#include "catch_compat.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/config.hpp"

using namespace pgtier;

namespace {
std::string error_of(const std::string& toml, const Environment& env = {}) {
    try {
        parse_config(toml, "/etc/pgtier/test.toml", env);
    } catch (const ConfigError& err) {
        return err.what();
    }
    return "";
}
}  // namespace

TEST_CASE("defaults match docs/configuration.md") {
    const Config c = parse_config("", "defaults", {});
    CHECK(c.storage.dir == "/backups");
    CHECK(c.schedule.full == "0 3 * * 0");
    CHECK(c.schedule.differential == "0 3 * * 3");
    CHECK(c.schedule.incremental == "0 * * * *");
    CHECK(c.retention.incremental_days == 14);
    CHECK(c.retention.differential_days == 42);
    CHECK(c.retention.full_days == 42);
    CHECK(c.retention.min_full == 2);
    CHECK(c.compression.level == 9);
    CHECK(c.compression.threads == 0);
    CHECK(c.backup.jobs == 0);
    CHECK_FALSE(c.daemon.auto_restore);
    CHECK(c.daemon.log_level == "info");
}

TEST_CASE("a TOML file sets every section") {
    const Config c = parse_config(R"(
[postgres]
host = "/run/postgresql"
port = 5433
user = "backup"
password_file = "/run/secrets/postgres_password"
[storage]
dir = "/srv/backups"
[backup]
jobs = 4
[compression]
level = 6
threads = 3
[daemon]
auto_restore = true
log_level = "debug"
)",
                                  "x.toml", {});
    CHECK(c.postgres.host == "/run/postgresql");
    CHECK(c.postgres.port == 5433);
    CHECK(c.postgres.user == "backup");
    CHECK(c.storage.dir == "/srv/backups");
    CHECK(c.compression.level == 6);
    CHECK(c.compression.threads == 3);
    CHECK(c.backup.jobs == 4);
    CHECK(c.daemon.auto_restore);
    CHECK(c.daemon.log_level == "debug");
}

TEST_CASE("errors name the file, the key and the problem") {
    auto unknown = error_of("[storage]\ndirr = \"/x\"\n");
    CHECK_THAT(unknown, match::Contains("/etc/pgtier/test.toml:2") &&
                            match::Contains("unknown key storage.dirr"));

    auto section = error_of("[stroage]\ndir = \"/x\"\n");
    CHECK_THAT(section, match::Contains("unknown section [stroage]"));

    auto type = error_of("[postgres]\nport = \"abc\"\n");
    CHECK_THAT(type, match::Contains("postgres.port must be an integer"));

    auto range = error_of("[compression]\nlevel = 42\n");
    CHECK_THAT(range, match::Contains("/etc/pgtier/test.toml: compression.level 42 is out of range "
                                      "for compression.format \"bzip2\": bzip2 takes 1 to 9"));

    auto format = error_of("[compression]\nformat = \"gzip\"\n");
    CHECK_THAT(format, match::Contains("/etc/pgtier/test.toml:2: compression.format must be "
                                       "\"bzip2\" or \"zstd\", got 'gzip'"));

    CHECK_THAT(error_of("[backup]\njobs = 65\n"),
               match::Contains("backup.jobs must be between 0 and 64, got 65"));

    auto level = error_of("[daemon]\nlog_level = \"loud\"\n");
    CHECK_THAT(level, match::Contains("daemon.log_level must be one of"));

    auto syntax = error_of("[storage\n");
    CHECK_THAT(syntax, match::Contains("not valid TOML"));
}

TEST_CASE("compression: the format chooses the level's range and default") {
    CHECK(parse_config("", "x.toml", {}).compression.format == CompressionFormat::bzip2);
    const Config zstd = parse_config("[compression]\nformat = \"zstd\"\n", "x.toml", {});
    CHECK(zstd.compression.format == CompressionFormat::zstd);
    CHECK(zstd.compression.level == 3);
    CHECK(parse_config("[compression]\nformat = \"zstd\"\nlevel = 19\n", "x.toml", {})
              .compression.level == 19);
    CHECK(parse_config("[compression]\nlevel = 1\nformat = \"zstd\"\n", "x.toml", {})
              .compression.level == 1);
    CHECK_THAT(error_of("[compression]\nformat = \"zstd\"\nlevel = 20\n"),
               match::Contains("compression.level 20 is out of range for compression.format "
                               "\"zstd\": zstd takes 1 to 19 (bzip2: 1 to 9)"));
    CHECK_THAT(error_of("[compression]\nformat = \"zstd\"\nlevel = 0\n"),
               match::Contains("compression.level 0 is out of range"));
    // The environment's format judges the file's level.
    CHECK_THAT(error_of("[compression]\nformat = \"zstd\"\nlevel = 12\n",
                        {{"PGTIER_COMPRESSION_FORMAT", "bzip2"}}),
               match::Contains("/etc/pgtier/test.toml: compression.level 12 is out of range for "
                               "compression.format \"bzip2\" (from environment variable "
                               "PGTIER_COMPRESSION_FORMAT): bzip2 takes 1 to 9 (zstd: 1 to 19)"));
    CHECK_THAT(error_of("", {{"PGTIER_COMPRESSION_LEVEL", "15"}}),
               match::Contains("environment variable PGTIER_COMPRESSION_LEVEL: compression.level "
                               "15 is out of range for compression.format \"bzip2\""));
    const Config from_env = parse_config(
        "", "x.toml", {{"PGTIER_COMPRESSION_FORMAT", "zstd"}, {"PGTIER_COMPRESSION_LEVEL", "15"}});
    CHECK(from_env.compression.format == CompressionFormat::zstd);
    CHECK(from_env.compression.level == 15);
    CHECK_THAT(error_of("", {{"PGTIER_COMPRESSION_FORMAT", "xz"}}),
               match::Contains("environment variable PGTIER_COMPRESSION_FORMAT: compression.format "
                               "must be \"bzip2\" or \"zstd\", got 'xz'"));
}

TEST_CASE("PGTIER_<SECTION>_<KEY> overrides the file") {
    const Environment env = {{"PGTIER_STORAGE_DIR", "/env/dir"},
                             {"PGTIER_COMPRESSION_LEVEL", "3"},
                             {"PGTIER_DAEMON_AUTO_RESTORE", "true"},
                             {"PGTIER_BACKUP_JOBS", "3"},
                             {"PGTIER_POSTGRES_PASSWORD_FILE", "/run/secrets/pw"},
                             {"PGTIER_BIN", "/not/a/config/key"}};
    const Config c = parse_config("[storage]\ndir = \"/file/dir\"\n", "x.toml", env);
    CHECK(c.storage.dir == "/env/dir");
    CHECK(c.compression.level == 3);
    CHECK(c.daemon.auto_restore);
    CHECK(c.postgres.password_file == "/run/secrets/pw");
    CHECK(c.backup.jobs == 3);

    CHECK_THAT(
        error_of("", {{"PGTIER_COMPRESSION_LEVEL", "fast"}}),
        match::Contains("PGTIER_COMPRESSION_LEVEL") && match::Contains("must be an integer"));
    CHECK_THAT(error_of("", {{"PGTIER_STORAGE_DIRECTORY", "/x"}}),
               match::Contains("unknown key storage.directory"));
}

TEST_CASE("load_config: an explicit file must exist, the default may not") {
    CHECK_THROWS_WITH(load_config({"/nonexistent/pgtier.toml", std::nullopt}, {}),
                      match::Contains("/nonexistent/pgtier.toml: configuration file not found"));
    CHECK_THROWS_AS(load_config({}, {{"PGTIER_CONFIG", "/nonexistent/x.toml"}}), ConfigError);
    const Config c =
        load_config({std::nullopt, std::string("/cli/dir")}, {{"PGTIER_STORAGE_DIR", "/env"}});
    CHECK(c.storage.dir == "/cli/dir");
}

TEST_CASE("connection settings follow config, then libpq's environment") {
    Config c;
    auto s = resolve_connection(c, {{"PGHOST", "/tmp/sock"}, {"PGPORT", "6543"}, {"PGUSER", "u"}});
    CHECK(s.host == "/tmp/sock");
    CHECK(s.port == 6543);
    CHECK(s.user == "u");
    CHECK_FALSE(s.password.has_value());

    auto defaults = resolve_connection(c, {});
    CHECK(defaults.port == 5432);
    CHECK(defaults.user == "postgres");

    c.postgres.port = 7000;
    c.postgres.user = "cfg";
    s = resolve_connection(c, {{"PGPORT", "6543"}, {"PGUSER", "u"}, {"PGPASSWORD", "pw"}});
    CHECK(s.port == 7000);
    CHECK(s.user == "cfg");
    CHECK(s.password == "pw");

    c.postgres.password_file = "/nonexistent/secret";
    CHECK_THROWS_WITH(resolve_connection(c, {}), match::Contains("postgres.password_file") &&
                                                     match::Contains("/nonexistent/secret"));
    Config plain;
    CHECK_THROWS_WITH(resolve_connection(plain, {{"POSTGRES_PASSWORD_FILE", "/nonexistent/pw"}}),
                      match::Contains("POSTGRES_PASSWORD_FILE"));
}

TEST_CASE("a bad value from a variable names the variable, not the file") {
    auto connection_error = [](const Config& c) -> std::string {
        try {
            resolve_connection(c, {});
        } catch (const ConfigError& err) {
            return err.what();
        }
        return "";
    };
    const Environment env{{"PGTIER_POSTGRES_PASSWORD_FILE", "/nonexistent/env-pw"}};
    const Config from_env = parse_config("[storage]\ndir = \"/x\"\n", "cfg.toml", env);
    CHECK(from_env.origin("postgres.password_file") ==
          "environment variable PGTIER_POSTGRES_PASSWORD_FILE");
    CHECK_THAT(connection_error(from_env),
               match::StartsWith("environment variable PGTIER_POSTGRES_PASSWORD_FILE: ") &&
                   match::Contains("/nonexistent/env-pw") && !match::Contains("cfg.toml"));

    // The variable overrides a value in the file: still the variable is named.
    const Config both = parse_config("[postgres]\npassword_file = \"/file/pw\"\n", "cfg.toml", env);
    CHECK_THAT(connection_error(both),
               match::Contains("PGTIER_POSTGRES_PASSWORD_FILE") && !match::Contains("cfg.toml"));

    const Config from_file =
        parse_config("[postgres]\npassword_file = \"/nonexistent/file-pw\"\n", "cfg.toml", {});
    CHECK(from_file.origin("postgres.password_file") == "cfg.toml: postgres.password_file");
    CHECK_THAT(connection_error(from_file),
               match::StartsWith("cfg.toml: postgres.password_file: ") &&
                   match::Contains("/nonexistent/file-pw"));
}

TEST_CASE("a key before any [section] is reported as such, not as a section") {
    auto port = error_of("port = 5601\n[postgres]\nhost = \"db\"\n");
    CHECK_THAT(port, match::StartsWith("/etc/pgtier/test.toml:1: ") &&
                         match::Contains("key 'port' is outside any section") &&
                         match::Contains("belongs under [postgres]") &&
                         match::Contains("[storage]") && !match::Contains("unknown section"));
    // A key that no section has: still outside a section, with the sections listed.
    auto stray = error_of("\n\nfoo = true\n");
    CHECK_THAT(stray, match::StartsWith("/etc/pgtier/test.toml:3: ") &&
                          match::Contains("key 'foo' is outside any section") &&
                          match::Contains("[postgres], [storage], [schedule]") &&
                          !match::Contains("belongs under"));
    // A key several sections have names them all.
    CHECK_THAT(error_of("full_days = 3\n"), match::Contains("belongs under [retention]"));
    // An unknown [section] lists the known ones.
    CHECK_THAT(error_of("[stroage]\ndir = \"/x\"\n"),
               match::Contains("unknown section [stroage]") && match::Contains("[storage]"));
}

TEST_CASE("time zone: schedule.timezone, else TZ, else UTC") {
    Config c;
    CHECK(effective_timezone(c, {}) == "UTC");
    CHECK(effective_timezone(c, {{"TZ", ":Europe/Berlin"}}) == "Europe/Berlin");
    c.schedule.timezone = "America/New_York";
    CHECK(effective_timezone(c, {{"TZ", "Europe/Berlin"}}) == "America/New_York");
}

TEST_CASE("an offsite URL with user:password@ is refused without showing the password") {
    for (const std::string key : {"endpoint", "url"}) {
        const std::string value = key == "endpoint" ? "https://AKIA:s3cr3t-pw@rgw.example:7480"
                                                    : "s3://AKIA:s3cr3t-pw@bkt";
        const auto from_file = error_of("[offsite]\n" + key + " = \"" + value + "\"\n");
        CHECK_THAT(from_file, match::Contains("offsite." + key) &&
                                  match::Contains("must not hold a user or password") &&
                                  !match::Contains("s3cr3t-pw"));
        const std::string variable =
            key == "endpoint" ? "PGTIER_OFFSITE_ENDPOINT" : "PGTIER_OFFSITE_URL";
        const auto from_env = error_of("", {{variable, value}});
        CHECK_THAT(from_env, match::Contains(variable) && !match::Contains("s3cr3t-pw"));
    }
    // A bad scheme is not reported with the URL either when it carries a password.
    CHECK_THAT(error_of("[offsite]\nendpoint = \"ftp://u:s3cr3t-pw@h\"\n"),
               match::Contains("offsite.endpoint") && !match::Contains("s3cr3t-pw"));
    CHECK(error_of("[offsite]\nendpoint = \"https://rgw.example:7480/a@b\"\n").empty());
}

TEST_CASE("load_config: only a regular file of at most 1 MiB is a configuration file") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pgtier-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto load = [](const std::filesystem::path& path) -> std::string {
        try {
            load_config({path.string(), std::nullopt}, {});
        } catch (const ConfigError& err) {
            return err.what();
        }
        return "";
    };
    CHECK_THAT(load(dir), match::Contains(dir.string()) &&
                              match::Contains("not a regular file (a directory)"));
    const auto big = dir / "big.toml";
    std::ofstream(big).close();
    std::filesystem::resize_file(big, (std::size_t{1} << 20) + 1);  // sparse
    CHECK_THAT(load(big), match::Contains("big.toml") && match::Contains("larger than 1 MiB"));
    std::filesystem::resize_file(big, std::size_t{1} << 20);  // NULs: read, then not TOML
    CHECK_THAT(load(big), match::Contains("big.toml") && !match::Contains("larger than"));
    const auto good = dir / "good.toml";
    std::ofstream(good) << "[storage]\ndir = \"/x\"\n";
    const auto link = dir / "link.toml";
    std::filesystem::create_symlink(good, link);
    CHECK(load_config({link.string(), std::nullopt}, {}).storage.dir == "/x");
    std::filesystem::remove_all(dir);
}

TEST_CASE("storage.cluster_name: a name that cannot be taken for a system identifier") {
    CHECK(parse_config("", "defaults", {}).storage.cluster_name.empty());
    CHECK(parse_config("[storage]\ncluster_name = \"\"\n", "x.toml", {})  // "" = unset
              .storage.cluster_name.empty());
    CHECK(
        parse_config("[storage]\ncluster_name = \"prod-1\"\n", "x.toml", {}).storage.cluster_name ==
        "prod-1");
    CHECK(parse_config("", "x.toml", {{"PGTIER_STORAGE_CLUSTER_NAME", "phoenix"}})
              .storage.cluster_name == "phoenix");
    CHECK_THAT(error_of("[storage]\ncluster_name = \"7312\"\n"),
               match::Contains("storage.cluster_name") && match::Contains("start with a letter"));
    CHECK_THAT(error_of("[storage]\ncluster_name = \"a b\"\n"), match::Contains("only letters"));
}

TEST_CASE("[encryption]: recipients as a TOML array or a variable of words") {
    const Config c = parse_config(R"(
[encryption]
recipients = ["age1aaa", "age1bbb"]
identity_file = "/run/secrets/age_identity"
signing_key_file = "/run/secrets/signing_key"
verify_key = "ed25519:xyz"
)",
                                  "x.toml", {});
    CHECK(c.encryption.recipients == std::vector<std::string>{"age1aaa", "age1bbb"});
    CHECK(c.encryption.identity_file == "/run/secrets/age_identity");
    CHECK(c.encryption.signing_key_file == "/run/secrets/signing_key");
    CHECK(c.encryption.verify_key == "ed25519:xyz");
    const Config e =
        parse_config("", "x.toml", {{"PGTIER_ENCRYPTION_RECIPIENTS", "age1aaa, age1bbb age1ccc"}});
    CHECK(e.encryption.recipients == std::vector<std::string>{"age1aaa", "age1bbb", "age1ccc"});
    CHECK_THROWS_AS(parse_config("[encryption]\nrecipients = \"age1aaa\"\n", "x.toml", {}),
                    ConfigError);
    CHECK_THROWS_AS(parse_config("[encryption]\nrecipients = [1]\n", "x.toml", {}), ConfigError);
}
