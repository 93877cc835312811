#include <algorithm>
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/cluster.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/storage/run_status.hpp"

namespace pgtier::commands {

namespace {

std::vector<std::string> database_names(const Manifest& m) {
    std::vector<std::string> names;
    for (const auto& s : m.sections) {
        if (s.kind == SectionKind::database) names.push_back(*s.database);
    }
    return names;
}

// Newest first by manifest time; archives without a readable manifest last, by name.
void sort_newest_first(std::vector<ArchiveEntry>& entries) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const ArchiveEntry& a, const ArchiveEntry& b) {
                         if (a.manifest.has_value() != b.manifest.has_value())
                             return a.manifest.has_value();
                         if (a.manifest) return a.manifest->started_at > b.manifest->started_at;
                         return a.name > b.name;
                     });
}

// Skipped runs leave no file: after the table, the last run of each tier says whether it was
// skipped (and why) or failed.
void print_last_runs(const Repository& repo) {
    const auto runs = read_run_status(repo);
    if (runs.empty()) return;
    std::printf("\nlast run of each tier:\n");
    for (const auto& [tier, run] : runs) {
        const std::string when = format_utc_seconds(run.started_at);
        std::printf("  %-13s %-20s %-9s %s\n", std::string(to_string(tier)).c_str(), when.c_str(),
                    std::string(to_string(run.result)).c_str(),
                    run.result == RunResult::published ? run.archive.c_str() : run.detail.c_str());
    }
}

}  // namespace

ExitCode list(const Config& config, const Environment& env, OutputFormat format, bool remote) {
    Repository repo(config.storage.dir);
    std::vector<ArchiveEntry> entries;
    std::string where = config.storage.dir.string();
    if (remote) {
        const auto store = open_offsite_store(config, env);
        where = store->describe();
        entries = scan_store(*store);
    } else {
        repo.require_exists();
        entries = repo.scan();
    }
    sort_newest_first(entries);

    if (format == OutputFormat::json) {
        Json out = json_document("list", true);
        out["remote"] = remote;
        out["where"] = where;
        out["archives"] = Json::array();
        for (const auto& e : entries) out["archives"].push_back(listed_archive_json(e));
        print_json(out);
        return ExitCode::ok;
    }

    if (entries.empty()) {
        std::printf("no archives in %s\n", where.c_str());
        if (!remote) print_last_runs(repo);
        return ExitCode::ok;
    }
    std::printf("%-13s %-20s %10s  %-30s %-20s %-9s %s\n", "TYPE", "STARTED", "SIZE", "CONTENTS",
                "CLUSTER", "STATE", "ARCHIVE");
    for (const auto& e : entries) {
        std::string started = "-", contents = "-", cluster = "-";
        if (e.manifest) {
            started = format_utc_seconds(e.manifest->started_at);
            const auto names = database_names(*e.manifest);
            contents =
                std::to_string(names.size()) + (names.size() == 1 ? " database" : " databases");
            if (e.manifest->has_globals()) contents += " + globals";
            cluster = short_identity(cluster_identity(*e.manifest));
        }
        const std::string state = e.state == ArchiveState::complete ? "complete" : "INCOMPLETE";
        std::printf("%-13s %-20s %10s  %-30s %-20s %-9s %s/%s\n",
                    std::string(to_string(e.tier)).c_str(), started.c_str(),
                    human_size(e.file_size).c_str(), contents.c_str(), cluster.c_str(),
                    state.c_str(), std::string(to_string(e.tier)).c_str(), e.name.c_str());
        if (e.state != ArchiveState::complete) {
            const std::string problem =
                e.problem.empty() ? std::string(to_string(e.state)) : printable(e.problem);
            std::printf("%13s %s\n", "", problem.c_str());
        }
    }
    if (!remote) print_last_runs(repo);
    return ExitCode::ok;
}

}  // namespace pgtier::commands
