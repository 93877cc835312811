// pgtier: tiered logical backups of one PostgreSQL cluster.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/jobs.hpp"
#include "pgtier/core/text.hpp"
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

// What the command chosen on the command line runs, once the configuration is loaded.
struct Context {
    const Config& config;
    const Environment& env;
    const ConfigOverrides& overrides;
};
struct Command {
    const CLI::App* app;  // parsed when this command was chosen
    std::function<ExitCode(const Context&)> run;
    // A command with --json: its name in the documents, and the flag. An error it ends with
    // is then also a document on stdout (json_error).
    std::string json_name = {};
    std::shared_ptr<const bool> json = nullptr;
};

// The --json flag of a command, for its options and for its Command.
std::shared_ptr<bool> add_json_flag(CLI::App* command) {
    auto json = std::make_shared<bool>(false);
    command->add_flag("--json", *json,
                      "one JSON document on stdout instead of the text (docs/json-output.md)");
    return json;
}

commands::OutputFormat output_format(bool json) {
    return json ? commands::OutputFormat::json : commands::OutputFormat::text;
}

void add_backup(CLI::App& app, std::vector<Command>& all) {
    struct Options {
        std::string type_text;
        bool force = false;
        std::optional<int> jobs;
    };
    auto o = std::make_shared<Options>();
    auto* backup = app.add_subcommand("backup", "take a full, differential or incremental backup");
    backup->add_option("type", o->type_text, "full | diff[erential] | incr[emental]")->required();
    backup->add_flag("--force", o->force, "take it even when nothing changed");
    backup
        ->add_option("--jobs", o->jobs,
                     "databases dumped at once (default: backup.jobs; 0 = a quarter of the "
                     "cores, 2 to 8; 1 = one after another)")
        ->check(CLI::Range(0, 64));
    const auto json = add_json_flag(backup);
    all.push_back(
        {backup,
         [o, json](const Context& c) {
             const auto type = parse_backup_type(o->type_text);
             if (!type) {
                 std::fprintf(stderr, "pgtier: unknown backup type '%s' (full, diff, incr)\n",
                              o->type_text.c_str());
                 return ExitCode::usage;
             }
             Config config = c.config;
             if (o->jobs) config.backup.jobs = *o->jobs;
             return commands::backup(config, c.env, *type, o->force ? Force::yes : Force::no,
                                     output_format(*json));
         },
         "backup", json});
}

void add_list(CLI::App& app, std::vector<Command>& all) {
    auto remote = std::make_shared<bool>(false);
    auto* list = app.add_subcommand("list", "list the archives, newest first (no database needed)");
    const auto json = add_json_flag(list);
    list->add_flag("--remote", *remote, "list the bucket of [offsite] instead");
    all.push_back({list,
                   [remote, json](const Context& c) {
                       return commands::list(c.config, c.env, output_format(*json), *remote);
                   },
                   "list", json});
}

void add_verify(CLI::App& app, std::vector<Command>& all) {
    struct Options {
        std::vector<std::string> archives;
        bool remote = false, deep = false;
        std::optional<int> threads;
    };
    auto o = std::make_shared<Options>();
    auto* verify = app.add_subcommand(
        "verify", "check archives against their sidecar and manifest and decode every section");
    verify->add_option("archive", o->archives,
                       "archive paths or names, or latest-full / latest-differential / "
                       "latest-incremental (default: all)");
    verify->add_flag("--remote", o->remote,
                     "check the bucket's archives: sizes and checksums against the manifests");
    verify->add_flag("--deep", o->deep, "with --remote: also download and decode every section");
    verify
        ->add_option("--threads", o->threads,
                     "threads that decode a section (default: compression.threads; 0 = one per "
                     "core)")
        ->check(CLI::Range(0, 256));
    const auto json = add_json_flag(verify);
    all.push_back({verify,
                   [o, json](const Context& c) {
                       return commands::verify(c.config, c.env, o->archives, o->remote, o->deep,
                                               o->threads.value_or(c.config.compression.threads),
                                               output_format(*json));
                   },
                   "verify", json});
}

void add_offsite(CLI::App& app, std::vector<Command>& all) {
    struct Options {
        bool dry_run = false;
        std::string archive;
    };
    auto o = std::make_shared<Options>();
    auto* offsite = app.add_subcommand("offsite", "copies in S3-compatible object storage");
    offsite->require_subcommand(1);
    auto* sync = offsite->add_subcommand(
        "sync",
        "upload the archives the bucket lacks, then apply remote retention (exit 1 when "
        "something stays pending)");
    sync->add_flag("--dry-run", o->dry_run, "print what would be uploaded and deleted");
    const auto json = add_json_flag(sync);
    all.push_back({sync,
                   [o, json](const Context& c) {
                       return commands::offsite_sync(c.config, c.env, o->dry_run,
                                                     output_format(*json));
                   },
                   "offsite sync", json});
    auto* fetch = app.add_subcommand(
        "fetch", "download an archive from the bucket into the backup directory and check it");
    fetch
        ->add_option("archive", o->archive,
                     "file name, or latest-full / latest-differential / latest-incremental")
        ->required();
    all.push_back(
        {fetch, [o](const Context& c) { return commands::fetch(c.config, c.env, o->archive); }});
}

void add_restore(CLI::App& app, std::vector<Command>& all) {
    auto* restore =
        app.add_subcommand("restore", "restore one database, a whole cluster, or the latest state");
    restore->require_subcommand(1);
    struct Options {
        std::string archive, database;
        std::optional<std::string> as, cluster, at;
        bool replace = false, if_empty = false, dry_run = false;
        bool force_version = false;
        int jobs = 0;
    };
    const std::string jobs_help =
        "databases loaded at once, each by its own psql (default: a quarter of the cores, 2 to "
        "8; " +
        std::to_string(default_jobs(std::thread::hardware_concurrency())) + " here)";
    const std::string force_version_help =
        "restore an archive dumped from a newer PostgreSQL major than the server's (refused "
        "otherwise)";
    auto o = std::make_shared<Options>();
    const std::string archive_help =
        "archive path or file name, or latest-full / latest-differential / latest-incremental";
    auto* list = restore->add_subcommand(
        "list-databases", "the databases in an archive with their sizes (no database needed)");
    list->add_option("archive", o->archive, archive_help)->required();
    const auto list_json = add_json_flag(list);
    all.push_back({list,
                   [o, list_json](const Context& c) {
                       return commands::restore_list_databases(c.config, c.env, o->archive,
                                                               output_format(*list_json));
                   },
                   "restore list-databases", list_json});
    const std::string at_help =
        "the newest state at or before this time: 2026-12-04T10:00:00Z, 2026-12-04 10:00 (UTC) or "
        "2026-12-04T11:00+01:00";
    auto* database = restore->add_subcommand(
        "database",
        "restore one database from any archive (reads only its section); DATABASE --at TIME "
        "takes its newest archive at or before TIME");
    // Two positionals, or one with --at (which chooses the archive): checked when run.
    database->add_option("archive", o->archive, archive_help + " (left out with --at)");
    database->add_option("database", o->database, "database name in the archive");
    database->add_option("--as", o->as, "restore under this name, beside the original");
    database->add_option("--at", o->at, at_help);
    database->add_flag("--replace", o->replace, "replace an existing database of that name");
    database->add_flag("--force-version", o->force_version, force_version_help);
    all.push_back({database, [o](const Context& c) {
                       // With one positional CLI11 fills `archive`: with --at it is the database.
                       if (o->at && !o->database.empty()) {
                           throw UsageError(
                               "restore database --at takes the database name alone (--at "
                               "chooses the archive): restore database DATABASE --at TIME");
                       }
                       if (!o->at && (o->archive.empty() || o->database.empty())) {
                           throw UsageError(
                               "restore database needs an archive and a database name "
                               "(restore database ARCHIVE DATABASE), or a database and a time "
                               "(restore database DATABASE --at TIME)");
                       }
                       const std::string db = o->at ? o->archive : o->database;
                       return commands::restore_database(c.config, c.env, o->archive, db, o->as,
                                                         o->replace, o->force_version, o->at);
                   }});
    auto* full = restore->add_subcommand(
        "full",
        "restore the whole cluster (globals and every database) from a full or differential");
    full->add_option("archive", o->archive, archive_help)->required();
    full->add_flag("--replace", o->replace, "replace databases that exist");
    full->add_flag("--force-version", o->force_version, force_version_help);
    full->add_option("--jobs", o->jobs, jobs_help)->check(CLI::Range(1, 256));
    all.push_back({full, [o](const Context& c) {
                       return commands::restore_full(c.config, c.env, o->archive, o->replace,
                                                     o->force_version, o->jobs);
                   }});
    auto* latest = restore->add_subcommand(
        "latest",
        "restore the newest state: the newest full/differential, then newer incrementals");
    latest->add_flag("--if-empty", o->if_empty,
                     "only when the cluster has no user databases and postgres no tables");
    latest->add_flag("--replace", o->replace, "replace databases that exist");
    latest->add_flag("--dry-run", o->dry_run, "print the plan and change nothing");
    latest->add_flag("--force-version", o->force_version, force_version_help);
    latest->add_option("--jobs", o->jobs, jobs_help)->check(CLI::Range(1, 256));
    const std::string cluster_help =
        "restore the archives of this cluster identity (a system identifier or cluster_name, as "
        "`list` shows it; - for archives without one); default: the newest full's";
    latest->add_option("--cluster", o->cluster, cluster_help);
    latest->add_option("--at", o->at, at_help);
    all.push_back({latest, [o](const Context& c) {
                       return commands::restore_latest(c.config, c.env, o->if_empty, o->replace,
                                                       o->dry_run, print_line, o->force_version,
                                                       o->jobs, o->cluster, o->at);
                   }});
    auto* plan =
        restore->add_subcommand("plan", "print what `restore latest` would restore from where");
    plan->add_option("--cluster", o->cluster, cluster_help);
    plan->add_option("--at", o->at, at_help);
    const auto plan_json = add_json_flag(plan);
    all.push_back({plan,
                   [o, plan_json](const Context& c) {
                       if (*plan_json)
                           return commands::restore_plan_json(c.config, c.env, o->cluster, o->at);
                       return commands::restore_latest(c.config, c.env, false, false, true,
                                                       print_line, false, 0, o->cluster, o->at);
                   },
                   "restore plan", plan_json});
}

void add_prune(CLI::App& app, std::vector<Command>& all) {
    struct Options {
        bool dry_run = false, remote = false;
        std::optional<std::string> at;
    };
    auto o = std::make_shared<Options>();
    auto* prune = app.add_subcommand(
        "prune", "apply tiered retention: print every archive with keep/delete and the rule");
    prune->add_flag("--dry-run", o->dry_run,
                    "decide and print, delete nothing (no database needed)");
    prune->add_option("--at", o->at, "decide as of this ISO 8601 time (default: now)");
    prune->add_flag("--remote", o->remote,
                    "apply the bucket's retention ([offsite] day counts) to the bucket");
    const auto json = add_json_flag(prune);
    all.push_back({prune,
                   [o, json](const Context& c) {
                       return commands::prune(c.config, c.env, o->dry_run, o->at, o->remote,
                                              output_format(*json));
                   },
                   "prune", json});
}

void add_status_health_daemon(CLI::App& app, std::vector<Command>& all) {
    auto* status =
        app.add_subcommand("status", "last result and next run of each tier (no database needed)");
    const auto json = add_json_flag(status);
    all.push_back(
        {status,
         [json](const Context& c) { return commands::status(c.config, output_format(*json)); },
         "status", json});
    struct HealthOptions {
        bool live = false;
        int max_age = static_cast<int>(default_heartbeat_max_age.count());
    };
    auto health_options = std::make_shared<HealthOptions>();
    auto* health = app.add_subcommand(
        "health", "exit 1, saying why, when a tier's last run failed or is overdue");
    health->add_flag("--live", health_options->live,
                     "instead: exit 1 unless the daemon's heartbeat is fresh (the container "
                     "health check: is the daemon alive and able to work)");
    health
        ->add_option("--max-age", health_options->max_age,
                     "with --live: the oldest heartbeat that counts, in seconds")
        ->check(CLI::Range(10, 86400));
    const auto health_json = add_json_flag(health);
    all.push_back({health,
                   [health_options, health_json](const Context& c) {
                       const auto format = output_format(*health_json);
                       return health_options->live
                                  ? commands::health_live(
                                        c.config, std::chrono::seconds(health_options->max_age),
                                        format)
                                  : commands::health(c.config, format);
                   },
                   "health", health_json});
    auto* daemon = app.add_subcommand(
        "daemon",
        "run the schedule: backups, retention, status; stops on SIGTERM, reloads on SIGHUP");
    all.push_back(
        {daemon, [](const Context& c) { return commands::daemon(c.config, c.overrides, c.env); }});
}

void add_keygen(CLI::App& app, std::vector<Command>& all) {
    auto dir = std::make_shared<std::string>();
    auto* keygen = app.add_subcommand(
        "keygen",
        "write a new age identity and manifest signing key into DIR, print the [encryption] "
        "lines that use them (no database needed)");
    keygen->add_option("dir", *dir, "an existing directory; files there are never replaced")
        ->required();
    all.push_back({keygen, [dir](const Context&) { return commands::keygen(*dir); }});
}

void add_schedule(CLI::App& app, std::vector<Command>& all) {
    struct Options {
        std::string expression;
        std::optional<std::string> zone, from;
        int count = 5;
    };
    auto o = std::make_shared<Options>();
    auto* schedule = app.add_subcommand(
        "schedule", "print the next times a cron expression fires (no database needed)");
    schedule
        ->add_option("expression", o->expression,
                     "5 fields (minute hour day-of-month month day-of-week), 6 with leading "
                     "seconds, or @hourly/@daily/@weekly/@monthly")
        ->required();
    schedule->add_option("--timezone", o->zone,
                         "IANA time zone (default: schedule.timezone, else TZ, else UTC)");
    schedule->add_option(
        "--from", o->from,
        "start after this ISO 8601 time, e.g. 2026-12-01T03:00:00Z (default: now)");
    schedule->add_option("--count", o->count, "how many (default 5)")->check(CLI::Range(1, 10000));
    const auto json = add_json_flag(schedule);
    all.push_back({schedule,
                   [o, json](const Context& c) {
                       return commands::schedule(o->expression, o->zone, o->from, o->count,
                                                 output_format(*json),
                                                 effective_timezone(c.config, c.env));
                   },
                   "schedule", json});
}

// With --json, an error the chosen command ends with is also a document on stdout:
// {"schema": 1, "command": …, "ok": false, "error": MESSAGE}. The message is stderr's, which
// keeps its "pgtier: …" line.
void print_json_error(const std::vector<Command>& all, const std::string& message) {
    for (const auto& command : all) {
        if (!*command.app) continue;
        if (command.json && *command.json) {
            try {
                commands::print_json(commands::json_error(command.json_name, message));
            } catch (const std::exception&) {  // stdout gone: stderr said it
            }
        }
        return;
    }
}

}  // namespace

// Only building the CLI11 parser is outside the try blocks below, and it throws only on a
// programming error (a duplicate option name): let that end the process.
// NOLINTNEXTLINE(bugprone-exception-escape)
int main(int argc, char** argv) {
    // A child that exits early (psql stopping at an error) must not kill pgtier.
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"pgtier " PGTIER_VERSION
                 " — tiered logical backups of a PostgreSQL cluster: full, differential and "
                 "incremental dumps as checked bzip2 (or zstd) archives."};
    app.set_version_flag("--version", "pgtier " PGTIER_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    ConfigOverrides overrides;
    app.add_option(
        "--config", overrides.config_file,
        "TOML configuration file (default: $PGTIER_CONFIG, else /etc/pgtier/pgtier.toml)");
    app.add_option("--dir", overrides.storage_dir, "backup directory (overrides storage.dir)");

    std::vector<Command> all;
    add_backup(app, all);
    add_list(app, all);
    add_verify(app, all);
    add_restore(app, all);
    add_prune(app, all);
    add_offsite(app, all);
    add_status_health_daemon(app, all);
    add_schedule(app, all);
    add_keygen(app, all);

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

        for (const auto& command : all) {
            if (*command.app) return static_cast<int>(command.run({config, env, overrides}));
        }
        return static_cast<int>(ExitCode::ok);
    } catch (const VersionError& err) {
        std::fprintf(stderr, "pgtier: version mismatch: %s\n", printable_lines(err.what()).c_str());
        print_json_error(all, "version mismatch: " + std::string(err.what()));
        return static_cast<int>(ExitCode::usage);
    } catch (const UsageError& err) {
        std::fprintf(stderr, "pgtier: error: %s\n", printable_lines(err.what()).c_str());
        return static_cast<int>(ExitCode::usage);
    } catch (const ConfigError& err) {
        std::fprintf(stderr, "pgtier: configuration error: %s\n",
                     printable_lines(err.what()).c_str());
        print_json_error(all, "configuration error: " + std::string(err.what()));
        return static_cast<int>(ExitCode::usage);
    } catch (const std::exception& err) {
        // Messages quote what archives and servers hold: no terminal escapes reach the screen.
        std::fprintf(stderr, "pgtier: error: %s\n", printable_lines(err.what()).c_str());
        print_json_error(all, err.what());
        return static_cast<int>(ExitCode::failure);
    }
}
