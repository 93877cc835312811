// pgtier status [--json] and pgtier health: the last result and the next run of each tier.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "pgtier/commands/commands.hpp"
#include "pgtier/core/cron.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/run_status.hpp"

namespace pgtier::commands {

namespace {

constexpr BackupType tiers[] = {BackupType::full, BackupType::differential,
                                BackupType::incremental};

nlohmann::json record_json(const std::optional<RunRecord>& r) {
    if (!r) return nullptr;
    return {{"result", to_string(r->result)},
            {"started_at", format_utc_iso(r->started_at)},
            {"duration_seconds", r->duration_seconds},
            {"archive", r->archive},
            {"size", r->size},
            {"detail", r->detail}};
}

}  // namespace

ExitCode status(const Config& config, OutputFormat format) {
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto status = read_tier_status(repo);
    const auto schedules = parse_schedules(config.schedule, config.source);
    const TimePoint now = now_utc();
    if (format == OutputFormat::json) {
        nlohmann::json out = {{"now", format_utc_iso(now)}, {"tiers", nlohmann::json::object()}};
        for (auto tier : tiers) {
            const auto found = status.find(tier);
            const TierStatus s = found == status.end() ? TierStatus{} : found->second;
            const auto next = next_fire_of(schedules, tier, now);
            out["tiers"][std::string(to_string(tier))] = {
                {"schedule", schedules.of(tier).text},
                {"next_run", next ? nlohmann::json(format_local_iso(*next)) : nullptr},
                {"last_run", record_json(s.last_run)},
                {"last_success", record_json(s.last_success)},
                {"runs", s.runs},
                {"published", s.published},
                {"skipped", s.skipped},
                {"failed", s.failed}};
        }
        std::printf("%s\n", out.dump(2).c_str());
        return ExitCode::ok;
    }
    std::printf("%-13s %-21s %-10s %-9s %-10s %-26s %s\n", "TIER", "LAST RUN (UTC)", "RESULT",
                "DURATION", "SIZE", "NEXT RUN", "SCHEDULE");
    for (auto tier : tiers) {
        const auto found = status.find(tier);
        const auto next = next_fire_of(schedules, tier, now);
        const std::string next_text = next ? format_local_iso(*next) : "never";
        if (found == status.end() || !found->second.last_run) {
            std::printf("%-13s %-21s %-10s %-9s %-10s %-26s %s\n",
                        std::string(to_string(tier)).c_str(), "-", "never run", "-", "-",
                        next_text.c_str(), schedules.of(tier).text.c_str());
            continue;
        }
        const RunRecord& r = *found->second.last_run;
        std::printf("%-13s %-21s %-10s %-9s %-10s %-26s %s\n", std::string(to_string(tier)).c_str(),
                    format_utc_seconds(r.started_at).c_str(),
                    std::string(to_string(r.result)).c_str(),
                    duration_text(r.duration_seconds).c_str(),
                    r.result == RunResult::published ? human_size(r.size).c_str() : "-",
                    next_text.c_str(), schedules.of(tier).text.c_str());
        if (r.result != RunResult::published) std::printf("  %s\n", r.detail.c_str());
    }
    return ExitCode::ok;
}

ExitCode health(const Config& config) {
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto status = read_tier_status(repo);
    const auto schedules = parse_schedules(config.schedule, config.source);
    const TimePoint now = now_utc();

    std::map<BackupType, TierHealth> tiers_health;
    for (const auto& [tier, s] : status) {
        TierHealth& h = tiers_health[tier];
        if (s.last_run && s.last_run->result == RunResult::failed)
            h.failed = TierHealth::FailedRun{s.last_run->started_at, s.last_run->detail};
        if (s.last_success) h.last_success = s.last_success->started_at;
        h.running_since = s.running_since;
    }
    const auto problems =
        judge_health(tiers_health, repo.published_manifests(), schedules, now, format_local_iso);
    if (problems.empty()) {
        std::printf("healthy: the last run of each tier succeeded and none is overdue\n");
        return ExitCode::ok;
    }
    for (const auto& p : problems) std::printf("unhealthy: %s\n", p.c_str());
    return ExitCode::failure;
}

}  // namespace pgtier::commands
