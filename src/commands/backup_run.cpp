// The backup service: one run under the repository lock, recorded, then retention. Shared by
// the backup command (backup.cpp) and the daemon; neither printing nor offsite sync is here.
#include <cstdio>
#include <thread>

#include "pgtier/archive/fingerprint_sha256.hpp"
#include "pgtier/archive/keys.hpp"
#include "pgtier/commands/backup_sections.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/core/cluster.hpp"
#include "pgtier/core/jobs.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/pg_version.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/pg/dump.hpp"
#include "pgtier/pg/queries.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/storage/run_status.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

namespace {

// The maintenance database pgtier queries, as pg_dumpall chooses it.
std::unique_ptr<Connection> connect_maintenance(const ConnectionSettings& settings) {
    try {
        return std::make_unique<Connection>(settings, "postgres");
    } catch (const Error& first) {
        try {
            return std::make_unique<Connection>(settings, "template1");
        } catch (const Error&) {
            throw first;
        }
    }
}

struct ServerState {
    std::string version;
    std::string system_identifier;
    Fingerprint fingerprint;
};

// The state fingerprint, taken before the dump starts (docs/design.md, Change detection).
// First, once connected, pg_dump's major against the server's: a pg_dump that would refuse the
// server is a VersionError (exit 2) before any work.
ServerState read_server_state(const ConnectionSettings& settings,
                              const std::string& pg_dump_version) {
    ServerState server;
    ClusterState state;
    {
        auto conn = connect_maintenance(settings);
        server.version = queries::server_version(*conn);
        if (const auto refusal = pg_dump_refusal(pg_dump_version, server.version))
            throw VersionError(*refusal);
        if (!queries::is_superuser(*conn)) {
            throw Error("role " + settings.user +
                        " is not a superuser: pg_dumpall --globals-only and pg_dump of every "
                        "database need one");
        }
        server.system_identifier = queries::system_identifier(*conn);
        state.databases = queries::cluster_databases(*conn);
        state.globals_digest = queries::globals_digest(*conn);
    }
    std::vector<DatabaseState> present;
    for (auto& db : state.databases) {
        try {
            Connection conn(settings, db.name);
            const auto content = queries::database_content(conn);
            db.content_digest = content.content_digest;
            db.sequence_digest = content.sequence_digest;
            present.push_back(std::move(db));
        } catch (const Error& err) {
            // Dropped between the two queries: it is simply not part of this state.
            auto conn = connect_maintenance(settings);
            bool still_there = false;
            for (const auto& other : queries::cluster_databases(*conn))
                still_there |= other.name == db.name;
            if (still_there) throw;
            spdlog::info("database {} was dropped while pgtier read the cluster state", db.name);
        }
    }
    state.databases = std::move(present);
    server.fingerprint = fingerprint_of(state);
    return server;
}

// What a parallel backup orders its dumps by (largest first); without them (a database dropped
// while the sizes were read) the dumps start in archive order.
std::map<std::string, std::uint64_t> database_sizes(const ConnectionSettings& settings) {
    try {
        auto conn = connect_maintenance(settings);
        return queries::database_sizes(*conn);
    } catch (const Error& err) {
        spdlog::debug("cannot read the database sizes ({}): dumps start in archive order",
                      err.what());
        return {};
    }
}

// pg_dump refuses a database whose name holds a newline or carriage return (its script could
// not carry the name safely): such a database cannot be backed up at all.
bool pg_dump_refuses(const std::string& database) {
    return database.find_first_of("\n\r") != std::string::npos;
}

// "\"a\", \"b\\nc\"": names as a log line or status file can show them.
std::string printable_names(const std::vector<std::string>& names) {
    std::vector<std::string> shown;
    for (const auto& name : names) shown.push_back(printable(name));
    return join_quoted(shown);
}

// One run under the lock; returns what happened, throws Error on failure.
BackupOutcome take_backup(const Config& config, const Repository& repo,
                          const ConnectionSettings& settings, BackupType requested, Force force,
                          TimePoint started) {
    BackupOutcome outcome;
    RunRecord& record = outcome.record;
    record.requested = requested;
    record.started_at = started;
    Dumper dumper(settings, stop_requested());
    const std::string pg_dump_version = dumper.pg_dump_version();
    const auto server = read_server_state(settings, pg_dump_version);
    // Only this cluster's archives are a base to build on (docs/design.md, Cluster identity): an
    // incremental over another cluster's full (or one whose manifest records no identity)
    // could not be restored as one chain.
    const std::string identity =
        cluster_identity(config.storage.cluster_name, server.system_identifier);
    const auto plan = plan_backup(requested, force, server.fingerprint,
                                  manifests_of_cluster(repo.published_manifests(), identity));
    if (plan.skip) {
        record.result = RunResult::skipped;
        record.detail = plan.reason;
        return outcome;
    }
    if (plan.type != requested)
        spdlog::info("taking a {} instead: {}", to_string(plan.type), plan.reason);

    Manifest manifest;
    manifest.type = plan.type;
    const ArchiveKeys keys = load_archive_keys(config);
    manifest.name = repo.new_archive_name(plan.type, local_time(started), config.compression.format,
                                          !keys.recipients.empty());
    manifest.tool_version = PGTIER_VERSION;
    manifest.server_version = server.version;
    manifest.system_identifier = server.system_identifier;
    manifest.cluster_name = config.storage.cluster_name;
    manifest.started_at = started;
    manifest.reason = plan.reason;
    manifest.fingerprint = server.fingerprint;
    spdlog::info("{} backup {} started: {}", to_string(plan.type), manifest.name, plan.reason);

    std::vector<DumpSection> sections;
    if (plan.globals) sections.push_back({SectionKind::globals, ""});
    for (const auto& db : plan.databases) {
        if (pg_dump_refuses(db)) {
            outcome.not_backed_up.push_back(db);
        } else {
            sections.push_back({SectionKind::database, db});
        }
    }
    std::string left_out;
    if (!outcome.not_backed_up.empty()) {
        left_out = "not backed up: " + printable_names(outcome.not_backed_up) +
                   " (pg_dump refuses a database name with a newline or carriage return: "
                   "rename the database)";
        record.result = RunResult::failed;
        if (sections.empty()) {
            record.detail = left_out;
            return outcome;
        }
    }
    const int jobs = backup_jobs(config.backup.jobs, std::thread::hardware_concurrency());

    PartialFile partial = repo.create_partial(plan.type, manifest.name);
    ArchiveOutput output(partial.fd(), keys.recipients);
    manifest.pg_dump_version = pg_dump_version;
    SectionsDumped dumped = dump_sections({
        .config = config,
        .repo = repo,
        .dumper = dumper,
        .type = plan.type,
        .archive = manifest.name,
        .output = output,
        .sections = sections,
        .sizes = jobs > 1 && sections.size() > 1 ? database_sizes(settings)
                                                 : std::map<std::string, std::uint64_t>{},
        .jobs = jobs,
    });
    const CompressedTotals& totals = dumped.totals;
    sections = std::move(dumped.sections);
    manifest.dropped = std::move(dumped.dropped);
    partial.sync_and_close();
    if (!manifest.dropped.empty() || !outcome.not_backed_up.empty()) {
        // The archive describes the cluster without them, as the next run will see it (which
        // then tries a database left out again, and fails again, until it is renamed).
        std::vector<std::string> absent = manifest.dropped;
        absent.insert(absent.end(), outcome.not_backed_up.begin(), outcome.not_backed_up.end());
        manifest.fingerprint = without_databases(server.fingerprint, absent);
        if (sections.empty()) {
            const std::string detail = "every database to back up was dropped meanwhile: " +
                                       printable_names(manifest.dropped);
            if (left_out.empty()) record.result = RunResult::skipped;
            record.detail = left_out.empty() ? detail : left_out + "; " + detail;
            return outcome;
        }
    }

    for (std::size_t i = 0; i < sections.size(); ++i) {
        const auto& written = totals.sections.at(i);
        SectionEntry entry;
        entry.kind = sections[i].kind;
        if (entry.kind == SectionKind::database) entry.database = sections[i].database;
        entry.offset = written.offset;
        entry.length = written.length;
        entry.uncompressed_length = written.uncompressed_length;
        entry.sha256 = written.sha256;
        entry.fingerprint = entry.kind == SectionKind::globals
                                ? server.fingerprint.globals
                                : server.fingerprint.database(sections[i].database).value_or("");
        manifest.sections.push_back(std::move(entry));
    }
    manifest.compressed_size = totals.compressed_size;
    manifest.uncompressed_size = totals.uncompressed_size;
    manifest.sha256 = totals.sha256;
    if (output.encrypted()) manifest.encrypted_stream_size = totals.stream_size;
    manifest.finished_at = now_utc();
    sign_manifest(manifest, keys);
    repo.publish(partial, manifest);
    outcome.manifest = manifest;

    if (left_out.empty()) record.result = RunResult::published;
    record.archive = std::string(to_string(plan.type)) + "/" + manifest.name;
    record.size = totals.compressed_size;
    record.detail = std::to_string(sections.size()) +
                    (sections.size() == 1 ? " section, " : " sections, ") +
                    std::to_string(totals.uncompressed_size) + " bytes of SQL; " + plan.reason;
    if (!manifest.dropped.empty())
        record.detail += "; dropped during the run: " + printable_names(manifest.dropped);
    // A failed run that still published the rest: what failed comes first.
    if (!left_out.empty())
        record.detail = left_out + "; published " + record.archive + ": " + record.detail;
    return outcome;
}

}  // namespace

std::optional<std::string> check_pg_dump_version(const ConnectionSettings& settings) {
    const Dumper dumper(settings, stop_requested());
    const std::string pg_dump_version = dumper.pg_dump_version();
    const auto conn = connect_maintenance(settings);
    return pg_dump_refusal(pg_dump_version, queries::server_version(*conn));
}

BackupOutcome run_backup(const Config& config, const Environment& env, const Repository& repo,
                         BackupType requested, Force force, int retry) {
    const auto lock = repo.lock(&stop_requested());
    // As the daemon does, and --force does not override it.
    if (const auto interrupted = interrupted_restore(repo))
        throw Error(interrupted->refusal("taking a backup"));
    repo.sweep_and_log();
    record_interrupted_run(repo, now_utc());

    const TimePoint started = now_utc();
    record_run_start(repo, requested, started);
    BackupOutcome outcome;
    RunRecord& record = outcome.record;
    try {
        const auto settings = resolve_connection(config, env);
        outcome = take_backup(config, repo, settings, requested, force, started);
        record.retry = retry;
    } catch (const Error& err) {
        // A run stopped by SIGTERM/SIGINT did not fail: nothing is recorded against the tier.
        if (stop_requested().load()) {
            clear_running(repo);
            throw;
        }
        record.requested = requested;
        record.started_at = started;
        record.result = RunResult::failed;
        record.detail = err.what();
        record.retry = retry;
        record.duration_seconds = std::chrono::duration<double>(now_utc() - started).count();
        record_run(repo, record);
        throw;
    }
    record.duration_seconds = std::chrono::duration<double>(now_utc() - started).count();
    record_run(repo, record);

    // The caller logs or prints the result (backup_result_line): once.
    if (record.result == RunResult::skipped) return outcome;
    // Databases were left out; the rest may be published. Retention waits for a run that backs
    // up everything: older archives may hold those databases (under older names).
    if (record.result == RunResult::failed) return outcome;
    spdlog::info("{} published in {:.1f} s: {}", record.archive, record.duration_seconds,
                 record.detail);
    // Retention runs after every successful backup (docs/design.md, Retention). A failure here
    // does not undo the backup: it is logged and the outcome says so.
    try {
        apply_retention(repo, config.retention, now_utc(), false);
    } catch (const Error& err) {
        spdlog::error("retention after the backup failed: {}", err.what());
        outcome.retention_failed = true;
    }
    return outcome;
}

std::string backup_result_line(BackupType requested, const BackupOutcome& outcome) {
    const RunRecord& record = outcome.record;
    const std::string type(to_string(requested));
    if (record.result == RunResult::skipped) return type + ": skipped: " + record.detail;
    if (record.archive.empty()) return type + ": failed: " + record.detail;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", record.duration_seconds);
    std::string line = type + ": wrote " + record.archive + " (" + std::to_string(record.size) +
                       " bytes, " + seconds + " s)";
    if (!outcome.not_backed_up.empty())
        line += "; failed: not backed up: " + printable_names(outcome.not_backed_up);
    return line;
}

}  // namespace pgtier::commands
