// pgtier: tiered logical backups of one PostgreSQL cluster.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>

#include "pgtier/commands/commands.hpp"
#include "pgtier/sys/clock.hpp"
#include "pgtier/sys/log.hpp"

using namespace pgtier;

namespace {

// After a parse error: a message naming the first command word (or restore's) that is no
// command, with the valid ones; CLI11 would only say "A subcommand is required".
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
    const auto all = [](const CLI::App*) { return true; };
    const CLI::App* level = &app;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "--config" || word == "--dir") {  // the global options that take a value
            ++i;
            continue;
        }
        if (word.empty() || word[0] == '-') continue;
        const auto subcommands = level->get_subcommands(all);
        if (subcommands.empty()) return std::nullopt;  // an argument of a command
        const auto match = std::find_if(subcommands.begin(), subcommands.end(),
                                        [&](const CLI::App* s) { return s->get_name() == word; });
        if (match != subcommands.end()) {
            level = *match;
            continue;
        }
        const std::string prefix = level == &app ? "" : level->get_name() + " ";
        std::string names;
        for (const auto* s : subcommands) names += (names.empty() ? "" : ", ") + s->get_name();
        return "unknown " + prefix + "command '" + word + "'; the " + prefix + "commands are " +
               names + " (see pgtier " + prefix + "--help)";
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    // A child that exits early (psql stopping at an error) must not kill pgtier.
    std::signal(SIGPIPE, SIG_IGN);
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
    bool dry_run = false;
    auto* list = app.add_subcommand("list", "list the archives, newest first (no database needed)");
    list->add_flag("--json", json, "machine-readable output");

    std::vector<std::string> archives;
    auto* verify = app.add_subcommand(
        "verify", "check archives against their sidecar and manifest and decode every section");
    verify->add_option("archive", archives,
                       "archive paths or names, or latest-full / latest-differential / "
                       "latest-incremental (default: all)");

    auto* restore =
        app.add_subcommand("restore", "restore one database, a whole cluster, or the latest state");
    restore->require_subcommand(1);
    std::string restore_archive, restore_db;
    std::optional<std::string> restore_as;
    bool replace = false, if_empty = false;
    const std::string archive_help =
        "archive path or file name, or latest-full / latest-differential / latest-incremental";
    auto* restore_list = restore->add_subcommand(
        "list-databases", "the databases in an archive with their sizes (no database needed)");
    restore_list->add_option("archive", restore_archive, archive_help)->required();
    restore_list->add_flag("--json", json, "machine-readable output");
    auto* restore_db_cmd = restore->add_subcommand(
        "database", "restore one database from any archive (reads only its section)");
    restore_db_cmd->add_option("archive", restore_archive, archive_help)->required();
    restore_db_cmd->add_option("database", restore_db, "database name in the archive")->required();
    restore_db_cmd->add_option("--as", restore_as, "restore under this name, beside the original");
    restore_db_cmd->add_flag("--replace", replace, "replace an existing database of that name");
    auto* restore_full = restore->add_subcommand(
        "full",
        "restore the whole cluster (globals and every database) from a full or differential");
    restore_full->add_option("archive", restore_archive, archive_help)->required();
    restore_full->add_flag("--replace", replace, "replace databases that exist");
    auto* restore_latest = restore->add_subcommand(
        "latest",
        "restore the newest state: the newest full/differential, then newer incrementals");
    restore_latest->add_flag("--if-empty", if_empty,
                             "only when the cluster has no user databases and postgres no tables");
    restore_latest->add_flag("--replace", replace, "replace databases that exist");
    restore_latest->add_flag("--dry-run", dry_run, "print the plan and change nothing");
    auto* restore_plan =
        restore->add_subcommand("plan", "print what `restore latest` would restore from where");

    std::optional<std::string> prune_at;
    auto* prune = app.add_subcommand(
        "prune", "apply tiered retention: print every archive with keep/delete and the rule");
    prune->add_flag("--dry-run", dry_run, "decide and print, delete nothing (no database needed)");
    prune->add_option("--at", prune_at, "decide as of this ISO 8601 time (default: now)");

    auto* status =
        app.add_subcommand("status", "last result and next run of each tier (no database needed)");
    status->add_flag("--json", json, "machine-readable output");
    auto* health = app.add_subcommand(
        "health", "exit 1, saying why, when a tier's last run failed or is overdue");
    auto* daemon = app.add_subcommand(
        "daemon",
        "run the schedule: backups, retention, status; stops on SIGTERM, reloads on SIGHUP");

    std::string cron_expression;
    std::optional<std::string> schedule_zone, schedule_from;
    int schedule_count = 5;
    auto* schedule = app.add_subcommand(
        "schedule", "print the next times a cron expression fires (no database needed)");
    schedule
        ->add_option("expression", cron_expression,
                     "5 fields (minute hour day-of-month month day-of-week), 6 with leading "
                     "seconds, or @hourly/@daily/@weekly/@monthly")
        ->required();
    schedule->add_option("--timezone", schedule_zone,
                         "IANA time zone (default: schedule.timezone, else TZ, else UTC)");
    schedule->add_option(
        "--from", schedule_from,
        "start after this ISO 8601 time, e.g. 2026-12-01T03:00:00Z (default: now)");
    schedule->add_option("--count", schedule_count, "how many (default 5)")
        ->check(CLI::Range(1, 10000));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& err) {
        if (err.get_exit_code() != 0) {
            if (auto message = unknown_command(app, argc, argv)) {
                std::fprintf(stderr, "pgtier: %s\n", message->c_str());
                return static_cast<int>(ExitCode::usage);
            }
        }
        const int rc = app.exit(err);
        return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
    }

    try {
        const Environment env = current_environment();
        const Config config = load_config(overrides, env);
        init_logging(config.daemon.log_level, LogTarget::standard_error);
        apply_timezone(config, env);

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
        } else if (*status) {
            code = commands::status(
                config, json ? commands::OutputFormat::json : commands::OutputFormat::text);
        } else if (*health) {
            code = commands::health(config);
        } else if (*daemon) {
            code = commands::daemon(config, overrides, env);
        } else if (*prune) {
            code = commands::prune(config, dry_run, prune_at);
        } else if (*schedule) {
            code =
                commands::schedule(cron_expression, schedule_zone, schedule_from, schedule_count);
        } else if (*restore_list) {
            code = commands::restore_list_databases(
                config, restore_archive,
                json ? commands::OutputFormat::json : commands::OutputFormat::text);
        } else if (*restore_db_cmd) {
            code = commands::restore_database(config, env, restore_archive, restore_db, restore_as,
                                              replace);
        } else if (*restore_full) {
            code = commands::restore_full(config, env, restore_archive, replace);
        } else if (*restore_latest || *restore_plan) {
            code =
                commands::restore_latest(config, env, if_empty, replace, dry_run || *restore_plan);
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
