#include "pgtier/storage/run_status.hpp"

#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pgtier/core/errors.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"

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
        case RunResult::interrupted:
            return "interrupted";
    }
    return "?";
}

namespace {

constexpr std::string_view status_file = "status.json";

fs::path status_path(const Repository& repo) {
    return repo.state_dir() / status_file;
}

json read_document(const Repository& repo) {
    try {
        const auto text = repo.read_state_file(status_file);
        if (!text) return json::object();
        json doc = json::parse(*text);
        return doc.is_object() ? doc : json::object();
    } catch (const json::exception&) {
        return json::object();  // rewritten whole by the next run
    } catch (const Error& err) {
        spdlog::warn("{}", err.what());
        return json::object();
    }
}

json record_json(const RunRecord& r) {
    return {
        {"result", to_string(r.result)},
        {"started_at", format_utc_iso(r.started_at)},
        {"duration_seconds", r.duration_seconds},
        {"archive", r.archive},
        {"size", r.size},
        {"detail", r.detail},
        {"retry", r.retry},
    };
}

std::optional<RunRecord> record_from_json(BackupType tier, const json& item) {
    if (!item.is_object()) return std::nullopt;
    RunRecord r;
    r.requested = tier;
    const std::string result = item.value("result", "");
    r.result = result == "skipped"       ? RunResult::skipped
               : result == "failed"      ? RunResult::failed
               : result == "interrupted" ? RunResult::interrupted
                                         : RunResult::published;
    r.started_at = parse_utc_iso(item.value("started_at", "")).value_or(TimePoint{});
    r.duration_seconds = item.value("duration_seconds", 0.0);
    r.archive = item.value("archive", "");
    r.size = item.value("size", std::uint64_t{0});
    r.detail = item.value("detail", "");
    r.retry = item.value("retry", 0);
    return r;
}

}  // namespace

void record_run(const Repository& repo, const RunRecord& r) {
    try {
        json doc = read_document(repo);
        const std::string tier(to_string(r.requested));
        doc["format"] = 1;
        doc.erase("running");
        doc["last_run"][tier] = record_json(r);
        if (succeeded(r.result)) doc["last_success"][tier] = record_json(r);
        json& counts = doc["counters"][tier];
        if (!counts.is_object()) counts = json::object();
        auto bump = [&](const char* key) { counts[key] = counts.value(key, std::uint64_t{0}) + 1; };
        bump("runs");
        bump(std::string(to_string(r.result)).c_str());
        if (r.retry > 0) bump("retries");
        repo.write_state_file(status_file, doc.dump(2) + "\n");
    } catch (const std::exception& err) {
        spdlog::warn("cannot record the run in {}: {}", status_path(repo).string(), err.what());
    }
    refresh_metrics(repo);
}

void refresh_metrics(const Repository& repo) {
    // The daemon's uploader thread writes it too, through the same temporary name.
    static std::mutex writing;
    const std::lock_guard<std::mutex> guard(writing);
    try {
        repo.write_state_file("metrics.prom", current_metrics_text(repo));
    } catch (const std::exception& err) {
        spdlog::warn("cannot write {}: {}", (repo.state_dir() / "metrics.prom").string(),
                     err.what());
    }
}

std::string current_metrics_text(const Repository& repo) {
    return metrics_text(read_tier_status(repo)) + offsite_metrics_text(repo, now_utc());
}

void record_run_start(const Repository& repo, BackupType tier, TimePoint started) {
    try {
        json doc = read_document(repo);
        doc["running"] = {{"tier", to_string(tier)}, {"started_at", format_utc_iso(started)}};
        repo.write_state_file(status_file, doc.dump(2) + "\n");
    } catch (const std::exception& err) {
        spdlog::warn("cannot note the run in {}: {}", status_path(repo).string(), err.what());
    }
}

void clear_running(const Repository& repo) {
    try {
        json doc = read_document(repo);
        if (doc.erase("running") > 0) repo.write_state_file(status_file, doc.dump(2) + "\n");
    } catch (const std::exception& err) {
        spdlog::warn("cannot update {}: {}", status_path(repo).string(), err.what());
    }
}

std::optional<RunRecord> record_interrupted_run(const Repository& repo, TimePoint now) {
    const json doc = read_document(repo);
    if (!doc.contains("running") || !doc["running"].is_object()) return std::nullopt;
    const auto tier = parse_backup_type(doc["running"].value("tier", ""));
    const auto started = parse_utc_iso(doc["running"].value("started_at", ""));
    if (!tier || !started) {
        clear_running(repo);  // not pgtier's: nothing to record
        return std::nullopt;
    }
    RunRecord record;
    record.requested = *tier;
    record.result = RunResult::interrupted;
    record.started_at = *started;
    record.detail =
        "its process ended during the run (killed, crashed or the machine stopped; "
        "found at " +
        format_utc_seconds(now) + "); the partial archive was removed";
    spdlog::warn(
        "the {} run started at {} was interrupted (its process ended during the run): "
        "recorded as its last run",
        to_string(*tier), format_utc_seconds(*started));
    record_run(repo, record);
    return record;
}

std::map<BackupType, TierStatus> read_tier_status(const Repository& repo) {
    std::map<BackupType, TierStatus> tiers;
    const json doc = read_document(repo);
    for (auto tier : {BackupType::full, BackupType::differential, BackupType::incremental}) {
        const std::string name(to_string(tier));
        TierStatus status;
        if (doc.contains("last_run") && doc["last_run"].is_object() &&
            doc["last_run"].contains(name))
            status.last_run = record_from_json(tier, doc["last_run"][name]);
        if (doc.contains("last_success") && doc["last_success"].is_object() &&
            doc["last_success"].contains(name))
            status.last_success = record_from_json(tier, doc["last_success"][name]);
        if (doc.contains("counters") && doc["counters"].is_object() &&
            doc["counters"].contains(name) && doc["counters"][name].is_object()) {
            const json& c = doc["counters"][name];
            status.runs = c.value("runs", std::uint64_t{0});
            status.published = c.value("published", std::uint64_t{0});
            status.skipped = c.value("skipped", std::uint64_t{0});
            status.failed = c.value("failed", std::uint64_t{0});
            status.interrupted = c.value("interrupted", std::uint64_t{0});
            status.retries = c.value("retries", std::uint64_t{0});
        }
        // While the lock is held, the run is going; otherwise its process ended during it
        // (shown as interrupted at once; the next run or daemon start records it).
        if (doc.contains("running") && doc["running"].is_object() &&
            doc["running"].value("tier", "") == name) {
            const auto started = parse_utc_iso(doc["running"].value("started_at", ""));
            if (repo.lock_held()) {
                status.running_since = started;
            } else if (started) {
                status.last_run = RunRecord{tier,
                                            RunResult::interrupted,
                                            *started,
                                            0,
                                            "",
                                            0,
                                            "its process ended during the run (killed, crashed "
                                            "or the machine stopped); the next run records it",
                                            0};
            }
        }
        if (status.last_run || status.runs > 0 || status.running_since) tiers[tier] = status;
    }
    return tiers;
}

std::map<BackupType, RunRecord> read_run_status(const Repository& repo) {
    std::map<BackupType, RunRecord> records;
    for (const auto& [tier, status] : read_tier_status(repo)) {
        if (status.last_run) records[tier] = *status.last_run;
    }
    return records;
}

namespace {
constexpr std::string_view heartbeat_file = "heartbeat.json";
}  // namespace

void write_heartbeat(const Repository& repo, const Heartbeat& heartbeat) {
    const json doc = {{"pid", heartbeat.pid},
                      {"at", format_utc_iso(heartbeat.at)},
                      {"activity", heartbeat.activity},
                      {"activity_since", format_utc_iso(heartbeat.activity_since)}};
    repo.write_state_file(heartbeat_file, doc.dump(2) + "\n");
}

std::optional<Heartbeat> read_heartbeat(const Repository& repo) {
    try {
        const auto text = repo.read_state_file(heartbeat_file);
        if (!text) return std::nullopt;
        const json doc = json::parse(*text);
        const auto at = parse_utc_iso(doc.value("at", ""));
        if (!at) return std::nullopt;
        return Heartbeat{doc.value("pid", 0L), *at, doc.value("activity", ""),
                         parse_utc_iso(doc.value("activity_since", "")).value_or(*at)};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void remove_heartbeat(const Repository& repo) {
    try {
        repo.remove_state_file(heartbeat_file);
    } catch (const std::exception& err) {
        spdlog::warn("cannot remove the heartbeat file: {}", err.what());
    }
}

std::string metrics_text(const std::map<BackupType, TierStatus>& tiers) {
    std::string out;
    auto seconds = [](TimePoint t) {
        return std::chrono::duration<double>(t.time_since_epoch()).count();
    };
    auto metric = [&](const char* name, const char* type, const char* help, auto value_of) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (const auto& [tier, status] : tiers) {
            if (auto value = value_of(status)) {
                char number[64];
                std::snprintf(number, sizeof number, "%.6f", *value);
                std::string text = number;
                while (text.back() == '0') text.pop_back();
                if (text.back() == '.') text.pop_back();
                out += std::string(name) + "{tier=\"" + std::string(to_string(tier)) + "\"} " +
                       text + "\n";
            }
        }
    };
    using Value = std::optional<double>;
    metric("pgtier_last_success_timestamp_seconds", "gauge",
           "Start of the last successful run (published or skipped), Unix time.",
           [&](const TierStatus& s) -> Value {
               return s.last_success ? Value(seconds(s.last_success->started_at)) : std::nullopt;
           });
    metric("pgtier_last_run_timestamp_seconds", "gauge", "Start of the last run, Unix time.",
           [&](const TierStatus& s) -> Value {
               return s.last_run ? Value(seconds(s.last_run->started_at)) : std::nullopt;
           });
    metric("pgtier_last_run_success", "gauge", "1 when the last run succeeded, else 0.",
           [](const TierStatus& s) -> Value {
               return s.last_run ? Value(succeeded(s.last_run->result) ? 1 : 0) : std::nullopt;
           });
    metric("pgtier_last_duration_seconds", "gauge", "Duration of the last successful run.",
           [](const TierStatus& s) -> Value {
               return s.last_success ? Value(s.last_success->duration_seconds) : std::nullopt;
           });
    metric("pgtier_last_archive_bytes", "gauge",
           "Compressed size of the last published archive of the last successful run (0 when "
           "skipped).",
           [](const TierStatus& s) -> Value {
               return s.last_success ? Value(static_cast<double>(s.last_success->size))
                                     : std::nullopt;
           });
    metric("pgtier_last_run_duration_seconds", "gauge",
           "Duration of the last run, whatever its result (0 when interrupted).",
           [](const TierStatus& s) -> Value {
               return s.last_run ? Value(s.last_run->duration_seconds) : std::nullopt;
           });
    metric("pgtier_last_run_archive_bytes", "gauge",
           "Compressed size of the archive the last run published (0 when it published none).",
           [](const TierStatus& s) -> Value {
               return s.last_run ? Value(static_cast<double>(s.last_run->size)) : std::nullopt;
           });
    metric("pgtier_runs_total", "counter", "Runs started.",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.runs); });
    metric("pgtier_published_total", "counter", "Runs that published an archive.",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.published); });
    metric("pgtier_skips_total", "counter", "Runs skipped because nothing changed.",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.skipped); });
    metric("pgtier_failures_total", "counter", "Runs that failed.",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.failed); });
    metric("pgtier_interrupted_total", "counter",
           "Runs whose process ended during the run (found at the next start).",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.interrupted); });
    metric("pgtier_retries_total", "counter", "Runs that were the daemon's retry of a failed run.",
           [](const TierStatus& s) -> Value { return static_cast<double>(s.retries); });
    return out;
}

}  // namespace pgtier
