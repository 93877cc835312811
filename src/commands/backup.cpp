#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "pgtier/commands.hpp"
#include "pgtier/dump.hpp"
#include "pgtier/log.hpp"
#include "pgtier/naming.hpp"
#include "pgtier/queries.hpp"
#include "pgtier/repository.hpp"

namespace pgtier::commands {

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) {
    stop_requested.store(true);
}

// SIGINT/SIGTERM stop a running dump; its partial file is removed on the way out.
void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

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
    Fingerprint fingerprint;
};

// The state fingerprint, taken before the dump starts (DESIGN §2).
ServerState read_server_state(const ConnectionSettings& settings) {
    ServerState server;
    ClusterState state;
    {
        auto conn = connect_maintenance(settings);
        server.version = queries::server_version(*conn);
        if (!queries::is_superuser(*conn)) {
            throw Error("role " + settings.user +
                        " is not a superuser: pg_dumpall --globals-only and pg_dump of every "
                        "database need one");
        }
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

std::string mib(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", bytes / 1048576.0);
    return text;
}

}  // namespace

ExitCode backup(const Config& config, const Environment& env, BackupType requested, Force force) {
    Repository repo(config.storage.dir);
    repo.ensure_layout();
    const auto lock = repo.lock();
    install_stop_handlers();
    for (const auto& path : repo.sweep()) {
        spdlog::warn("removed {} left by an interrupted run", path.string());
    }

    const auto settings = resolve_connection(config, env);
    const TimePoint started = now_utc();
    const auto server = read_server_state(settings);
    const auto plan = plan_backup(requested, force, server.fingerprint, repo.published_manifests());
    if (plan.skip) {
        spdlog::info("{} skipped: {}", to_string(requested), plan.reason);
        std::printf("%s: skipped: %s\n", std::string(to_string(requested)).c_str(),
                    plan.reason.c_str());
        return ExitCode::ok;
    }
    if (plan.type != requested)
        spdlog::info("taking a {} instead: {}", to_string(plan.type), plan.reason);

    Manifest manifest;
    manifest.type = plan.type;
    manifest.name = repo.new_archive_name(plan.type, local_time(started));
    manifest.tool_version = PGTIER_VERSION;
    manifest.server_version = server.version;
    manifest.started_at = started;
    manifest.reason = plan.reason;
    manifest.fingerprint = server.fingerprint;
    spdlog::info("{} backup {} started: {}", to_string(plan.type), manifest.name, plan.reason);

    std::vector<DumpSection> sections;
    if (plan.globals) sections.push_back({SectionKind::globals, ""});
    for (const auto& db : plan.databases) sections.push_back({SectionKind::database, db});

    PartialFile partial(repo.tier_dir(plan.type) / partial_name(manifest.name));
    Dumper dumper(settings, stop_requested);
    manifest.pg_dump_version = dumper.pg_dump_version();
    CompressedTotals totals;
    {
        ParallelBzip2Writer writer(partial.fd(), config.compression.level,
                                   config.compression.threads);
        for (const auto& section : sections) dumper.dump(section, writer);
        totals = writer.finish();
    }
    partial.sync_and_close();

    for (std::size_t i = 0; i < sections.size(); ++i) {
        SectionEntry entry;
        entry.kind = sections[i].kind;
        if (entry.kind == SectionKind::database) entry.database = sections[i].database;
        entry.offset = totals.sections.at(i).offset;
        entry.length = totals.sections.at(i).length;
        entry.uncompressed_length = totals.sections.at(i).uncompressed_length;
        entry.sha256 = totals.sections.at(i).sha256;
        entry.fingerprint = entry.kind == SectionKind::globals
                                ? server.fingerprint.globals
                                : server.fingerprint.database(sections[i].database).value_or("");
        manifest.sections.push_back(std::move(entry));
    }
    manifest.compressed_size = totals.compressed_size;
    manifest.uncompressed_size = totals.uncompressed_size;
    manifest.sha256 = totals.sha256;
    manifest.finished_at = now_utc();
    repo.publish(partial.path(), manifest);
    partial.release();

    const double seconds =
        std::chrono::duration<double>(manifest.finished_at - manifest.started_at).count();
    spdlog::info("{} backup {} published: {} sections, {} ({} uncompressed) in {:.1f} s",
                 to_string(plan.type), manifest.name, sections.size(), mib(totals.compressed_size),
                 mib(totals.uncompressed_size), seconds);
    std::printf("%s: wrote %s/%s (%zu sections, %llu bytes, %.1f s)\n",
                std::string(to_string(plan.type)).c_str(),
                std::string(to_string(plan.type)).c_str(), manifest.name.c_str(), sections.size(),
                static_cast<unsigned long long>(totals.compressed_size), seconds);
    return ExitCode::ok;
}

}  // namespace pgtier::commands
