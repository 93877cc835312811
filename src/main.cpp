// pgtier: tiered logical backups of one PostgreSQL cluster.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "pgtier/clock.hpp"
#include "pgtier/commands.hpp"
#include "pgtier/log.hpp"

using namespace pgtier;

int main(int argc, char** argv) {
    CLI::App app{"pgtier " PGTIER_VERSION
                 " — tiered logical backups of a PostgreSQL cluster: full, differential and "
                 "incremental dumps as checked bzip2 archives."};
    app.set_version_flag("--version", "pgtier " PGTIER_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    ConfigOverrides overrides;
    app.add_option(
        "--config", overrides.config_file,
        "TOML configuration file (default: $PGTIER_CONFIG, else /etc/pgtier/pgtier.toml)");
    app.add_option("--dir", overrides.storage_dir, "backup directory (overrides storage.dir)");

    std::string type_text;
    bool force = false;
    auto* backup = app.add_subcommand("backup", "take a full, differential or incremental backup");
    backup->add_option("type", type_text, "full | diff[erential] | incr[emental]")->required();
    backup->add_flag("--force", force, "take it even when nothing changed");

    bool json = false;
    auto* list = app.add_subcommand("list", "list the archives, newest first (no database needed)");
    list->add_flag("--json", json, "machine-readable output");

    std::vector<std::string> archives;
    auto* verify = app.add_subcommand(
        "verify", "check archives against their sidecar and manifest and decode every section");
    verify->add_option("archive", archives,
                       "archive paths or names, or latest-full / latest-differential / "
                       "latest-incremental (default: all)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& err) {
        const int rc = app.exit(err);
        return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
    }

    try {
        const Environment env = current_environment();
        const Config config = load_config(overrides, env);
        init_logging(config.daemon.log_level, LogTarget::standard_error);
        try {
            set_process_timezone(effective_timezone(config, env));
        } catch (const ConfigError& err) {
            const std::string where = config.schedule.timezone.empty()
                                          ? "environment variable TZ"
                                          : config.source + ": schedule.timezone";
            throw ConfigError(where + ": " + err.what());
        }

        ExitCode code = ExitCode::ok;
        if (*backup) {
            const auto type = parse_backup_type(type_text);
            if (!type) {
                std::fprintf(stderr, "pgtier: unknown backup type '%s' (full, diff, incr)\n",
                             type_text.c_str());
                return static_cast<int>(ExitCode::usage);
            }
            code = commands::backup(config, env, *type, force ? Force::yes : Force::no);
        } else if (*list) {
            code = commands::list(
                config, json ? commands::OutputFormat::json : commands::OutputFormat::text);
        } else if (*verify) {
            code = commands::verify(config, archives);
        }
        return static_cast<int>(code);
    } catch (const ConfigError& err) {
        std::fprintf(stderr, "pgtier: configuration error: %s\n", err.what());
        return static_cast<int>(ExitCode::usage);
    } catch (const std::exception& err) {
        std::fprintf(stderr, "pgtier: error: %s\n", err.what());
        return static_cast<int>(ExitCode::failure);
    }
}
