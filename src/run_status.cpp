#include "pgtier/run_status.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pgtier/log.hpp"
#include "pgtier/repository.hpp"

namespace pgtier {

using nlohmann::json;

std::string_view to_string(RunResult result) {
    switch (result) {
        case RunResult::published:
            return "published";
        case RunResult::skipped:
            return "skipped";
        case RunResult::failed:
            return "failed";
    }
    return "?";
}

namespace {

fs::path status_path(const Repository& repo) {
    return repo.state_dir() / "status.json";
}

json read_document(const Repository& repo) {
    std::ifstream in(status_path(repo));
    if (!in) return json::object();
    try {
        json doc = json::parse(in);
        return doc.is_object() ? doc : json::object();
    } catch (const json::exception&) {
        return json::object();  // rewritten whole by the next run
    }
}

}  // namespace

void record_run(const Repository& repo, const RunRecord& r) {
    try {
        json doc = read_document(repo);
        doc["format"] = 1;
        doc["last_run"][std::string(to_string(r.requested))] = {
            {"result", to_string(r.result)},
            {"started_at", format_utc_iso(r.started_at)},
            {"duration_seconds", r.duration_seconds},
            {"archive", r.archive},
            {"size", r.size},
            {"detail", r.detail},
        };
        write_file_atomically(status_path(repo), doc.dump(2) + "\n");
    } catch (const std::exception& err) {
        spdlog::warn("cannot record the run in {}: {}", status_path(repo).string(), err.what());
    }
}

std::map<BackupType, RunRecord> read_run_status(const Repository& repo) {
    std::map<BackupType, RunRecord> records;
    const json doc = read_document(repo);
    if (!doc.contains("last_run") || !doc["last_run"].is_object()) return records;
    for (const auto& [tier, item] : doc["last_run"].items()) {
        const auto type = parse_backup_type(tier);
        if (!type || !item.is_object()) continue;
        RunRecord r;
        r.requested = *type;
        const std::string result = item.value("result", "");
        r.result = result == "skipped"  ? RunResult::skipped
                   : result == "failed" ? RunResult::failed
                                        : RunResult::published;
        r.started_at = parse_utc_iso(item.value("started_at", "")).value_or(TimePoint{});
        r.duration_seconds = item.value("duration_seconds", 0.0);
        r.archive = item.value("archive", "");
        r.size = item.value("size", std::uint64_t{0});
        r.detail = item.value("detail", "");
        records[*type] = r;
    }
    return records;
}

}  // namespace pgtier
