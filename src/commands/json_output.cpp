// The --json documents (docs/json-output.md), built from the structs the text output uses.
#include "pgtier/commands/json_output.hpp"

#include <cstdio>

#include "pgtier/core/cluster.hpp"
#include "pgtier/core/time.hpp"

namespace pgtier::commands {

namespace {

Json string_or_null(const std::string& text) {
    return text.empty() ? Json(nullptr) : Json(text);
}

std::vector<std::string> database_names(const Manifest& m) {
    std::vector<std::string> names;
    for (const auto& s : m.sections) {
        if (s.kind == SectionKind::database && s.database) names.push_back(*s.database);
    }
    return names;
}

}  // namespace

Json json_document(std::string_view command, bool ok) {
    Json out = Json::object();
    out["schema"] = json_schema;
    out["command"] = std::string(command);
    out["ok"] = ok;
    return out;
}

Json json_error(std::string_view command, const std::string& message) {
    Json out = json_document(command, false);
    out["error"] = message;
    return out;
}

void print_json(const Json& document) {
    const std::string text = document.dump(2, ' ', false, Json::error_handler_t::replace);
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
}

Json archive_json(const Manifest& manifest) {
    return {{"name", manifest.name},
            {"tier", std::string(to_string(manifest.type))},
            {"time", format_utc_iso(manifest.started_at)},
            {"size_bytes", manifest.compressed_size},
            {"databases", database_names(manifest)},
            {"globals", manifest.has_globals()}};
}

Json listed_archive_json(const ArchiveEntry& e) {
    Json item = {{"name", e.name}, {"tier", std::string(to_string(e.tier))}};
    if (e.manifest) {
        item["time"] = format_utc_iso(e.manifest->started_at);
    } else {
        item["time"] = nullptr;
    }
    item["size_bytes"] = e.file_size;
    item["databases"] = e.manifest ? Json(database_names(*e.manifest)) : Json(nullptr);
    item["path"] = e.location;
    item["state"] = std::string(to_string(e.state));
    item["size"] = e.file_size;  // the field list --json had before schema 1: kept
    if (e.manifest) {
        const Manifest& m = *e.manifest;
        item["type"] = std::string(to_string(m.type));
        item["started_at"] = format_utc_iso(m.started_at);
        item["finished_at"] = format_utc_iso(m.finished_at);
        item["uncompressed_size"] = m.uncompressed_size;
        item["globals"] = m.has_globals();
        item["sha256"] = m.sha256;
        item["reason"] = m.reason;
        item["cluster"] = string_or_null(cluster_identity(m));
        if (!m.system_identifier.empty()) item["system_identifier"] = m.system_identifier;
        if (!m.cluster_name.empty()) item["cluster_name"] = m.cluster_name;
    }
    if (!e.problem.empty()) item["problem"] = e.problem;
    return item;
}

Json verify_result_json(const std::string& archive, const VerifyResult& result) {
    std::string error;
    for (const auto& p : result.problems) error += (error.empty() ? "" : "; ") + p;
    return {{"archive", archive},
            {"ok", result.ok},
            {"error", result.ok ? Json(nullptr) : Json(error)},
            {"problems", result.problems},
            {"intact_sections", result.intact_sections},
            {"note", string_or_null(result.note)}};
}

Json verify_failure_json(const std::string& archive, const std::string& error) {
    return {{"archive", archive},
            {"ok", false},
            {"error", error},
            {"problems", std::vector<std::string>{error}},
            {"intact_sections", Json::array()},
            {"note", nullptr}};
}

Json retention_decision_json(const RetentionDecision& d) {
    return {{"name", d.name},
            {"tier", std::string(to_string(d.tier))},
            {"time", format_utc_iso(d.started_at)},
            {"size_bytes", d.size},
            {"reason", d.reason}};
}

Json prune_json(const std::vector<RetentionDecision>& decisions, TimePoint at, bool dry_run,
                bool remote, const std::string& policy) {
    Json out = json_document("prune", true);
    out["dry_run"] = dry_run;
    out["remote"] = remote;
    out["at"] = format_utc_iso(at);
    out["policy"] = string_or_null(policy);
    Json kept = Json::array(), deleted = Json::array();
    std::uint64_t deleted_bytes = 0;
    for (const auto& d : decisions) {
        (d.keep ? kept : deleted).push_back(retention_decision_json(d));
        if (!d.keep) deleted_bytes += d.size;
    }
    out["kept"] = kept;
    out["deleted"] = deleted;
    out["deleted_bytes"] = deleted_bytes;
    return out;
}

Json backup_json(BackupType requested, const BackupOutcome& outcome) {
    const RunRecord& r = outcome.record;
    Json out = json_document("backup", !outcome.retention_failed && outcome.not_backed_up.empty());
    out["requested"] = std::string(to_string(requested));
    out["result"] = std::string(to_string(r.result));
    out["archive"] = outcome.manifest ? archive_json(*outcome.manifest) : Json(nullptr);
    out["started_at"] = format_utc_iso(r.started_at);
    out["duration_seconds"] = r.duration_seconds;
    out["detail"] = r.detail;
    out["not_backed_up"] = outcome.not_backed_up;
    out["retention_failed"] = outcome.retention_failed;
    return out;
}

Json sync_json(const OffsiteSyncResult& result, bool dry_run, const std::string& bucket) {
    Json out =
        json_document("offsite sync", result.error.empty() && (dry_run || result.pending.empty()));
    out["dry_run"] = dry_run;
    out["bucket"] = bucket;
    Json uploaded = Json::array(), deleted = Json::array(), pending = Json::array();
    for (const auto& m : result.uploaded_archives) uploaded.push_back(archive_json(m));
    for (const auto& d : result.retention_deletions) deleted.push_back(retention_decision_json(d));
    for (const auto& m : result.pending) pending.push_back(archive_json(m));
    out["uploaded"] = uploaded;
    out["uploaded_bytes"] = result.uploaded_bytes;
    out["deleted"] = deleted;
    out["pending"] = pending;
    out["pending_bytes"] = result.pending_bytes;
    out["error"] = string_or_null(result.error);
    out["error_class"] =
        result.error.empty() ? Json(nullptr) : Json(std::string(to_string(result.error_class)));
    out["fix"] = string_or_null(result.fix);
    return out;
}

Json plan_json(const RestorePlan& plan, const PlanReads& reads,
               const std::vector<std::string>& notes) {
    Json out = json_document("restore plan", true);
    out["notes"] = notes;
    out["base"] = {{"name", plan.base}, {"tier", std::string(to_string(plan.base_tier))}};
    out["state_at"] = format_utc_iso(plan.state_at);
    const auto step = [](std::size_t n, const std::string& what, const SectionSource& from) {
        return Json{{"step", n},
                    {"restore", what},
                    {"tier", std::string(to_string(from.tier))},
                    {"archive", from.archive},
                    {"compressed_bytes", from.section.length}};
    };
    Json steps = Json::array();
    steps.push_back(step(1, "globals", plan.globals));
    for (const auto& db : plan.databases) {
        Json s = step(steps.size() + 1, "database", db.source);
        s["database"] = db.database;
        steps.push_back(s);
    }
    out["steps"] = steps;
    out["dropped"] = plan.dropped;
    Json read = Json::array();
    for (const auto& r : reads.archives) {
        read.push_back({{"tier", std::string(to_string(r.tier))},
                        {"archive", r.archive},
                        {"from", r.in_bucket ? "bucket" : "local"},
                        {"size_bytes", r.archive_size},
                        {"read_bytes", r.read_bytes}});
    }
    out["reads"] = read;
    out["bucket_bytes"] = reads.bucket_bytes;
    return out;
}

Json health_json(const std::vector<std::string>& problems) {
    Json out = json_document("health", problems.empty());
    out["verdict"] = problems.empty() ? "healthy" : "unhealthy";
    out["reasons"] = problems;
    return out;
}

Json health_live_json(const std::optional<Heartbeat>& heartbeat,
                      const std::optional<std::string>& problem) {
    Json out = json_document("health", !problem);
    out["live"] = true;
    out["verdict"] = problem ? "not alive" : "alive";
    out["reasons"] = problem ? std::vector<std::string>{*problem} : std::vector<std::string>{};
    if (heartbeat) {
        out["daemon"] = {{"pid", heartbeat->pid},
                         {"heartbeat_at", format_utc_iso(heartbeat->at)},
                         {"activity", heartbeat->activity},
                         {"activity_since", format_utc_iso(heartbeat->activity_since)}};
    } else {
        out["daemon"] = nullptr;
    }
    return out;
}

}  // namespace pgtier::commands
