// pgtier status [--json]: the last result and the next run of each tier, the daemon, offsite.
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/cron.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/offsite_error.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/run_status.hpp"

namespace pgtier::commands {

namespace {

constexpr BackupType tiers[] = {BackupType::full, BackupType::differential,
                                BackupType::incremental};

Json record_json(const std::optional<RunRecord>& r) {
    if (!r) return nullptr;
    return {{"result", to_string(r->result)},
            {"started_at", format_utc_iso(r->started_at)},
            {"duration_seconds", r->duration_seconds},
            {"archive", r->archive},
            {"size", r->size},
            {"detail", r->detail},
            {"retry", r->retry}};
}

}  // namespace

ExitCode status(const Config& config, OutputFormat format) {
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto status = read_tier_status(repo);
    const auto schedules = parse_schedules(config.schedule, config.source);
    const TimePoint now = now_utc();
    const auto heartbeat = read_heartbeat(repo);
    const auto liveness_problem = judge_liveness(heartbeat, now, default_heartbeat_max_age);
    if (format == OutputFormat::json) {
        Json out = json_document("status", true);
        out["now"] = format_utc_iso(now);
        out["tiers"] = Json::object();
        for (auto tier : tiers) {
            const auto found = status.find(tier);
            const TierStatus s = found == status.end() ? TierStatus{} : found->second;
            const auto next = next_fire_of(schedules, tier, now);
            out["tiers"][std::string(to_string(tier))] = {
                {"schedule", schedules.of(tier).text},
                {"next_run", next ? Json(format_utc_seconds(*next)) : nullptr},
                {"last_run", record_json(s.last_run)},
                {"last_success", record_json(s.last_success)},
                {"runs", s.runs},
                {"published", s.published},
                {"skipped", s.skipped},
                {"failed", s.failed},
                {"interrupted", s.interrupted},
                {"retries", s.retries}};
        }
        if (heartbeat) {
            out["daemon"] = {{"pid", heartbeat->pid},
                             {"heartbeat_at", format_utc_iso(heartbeat->at)},
                             {"alive", !liveness_problem},
                             {"activity", heartbeat->activity},
                             {"activity_since", format_utc_iso(heartbeat->activity_since)}};
        } else {
            out["daemon"] = nullptr;
        }
        if (config.offsite.enabled()) {
            const auto offsite = read_offsite_view(repo);
            const auto& st = offsite.state;
            const auto when = [](const std::optional<TimePoint>& t) {
                return t ? Json(format_utc_iso(*t)) : Json(nullptr);
            };
            out["offsite"] = {
                {"url", config.offsite.url},
                {"pending", offsite.pending.size()},
                {"pending_bytes", offsite.pending_bytes},
                {"oldest_pending",
                 offsite.pending.empty() ? Json(nullptr) : Json(offsite.pending.front().name)},
                {"last_attempt_at", when(st.last_attempt_at)},
                {"last_success_at", when(st.last_success_at)},
                {"last_error", st.last_error},
                {"last_error_at", when(st.last_error_at)},
                {"last_error_class", st.last_error.empty()
                                         ? Json(nullptr)
                                         : Json(std::string(to_string(st.last_error_class)))},
                {"last_error_fix", st.last_error_fix}};
        }
        print_json(out);
        return ExitCode::ok;
    }
    std::printf("%-13s %-21s %-11s %-9s %-10s %-21s %s\n", "TIER", "LAST RUN", "RESULT", "DURATION",
                "SIZE", "NEXT RUN", "SCHEDULE");
    for (auto tier : tiers) {
        const auto found = status.find(tier);
        const auto next = next_fire_of(schedules, tier, now);
        const std::string next_text = next ? format_utc_seconds(*next) : "never";
        if (found == status.end() || !found->second.last_run) {
            std::printf("%-13s %-21s %-11s %-9s %-10s %-21s %s\n",
                        std::string(to_string(tier)).c_str(), "-", "never run", "-", "-",
                        next_text.c_str(), schedules.of(tier).text.c_str());
            continue;
        }
        const RunRecord& r = *found->second.last_run;
        std::printf("%-13s %-21s %-11s %-9s %-10s %-21s %s\n", std::string(to_string(tier)).c_str(),
                    format_utc_seconds(r.started_at).c_str(),
                    std::string(to_string(r.result)).c_str(),
                    duration_text(r.duration_seconds).c_str(),
                    r.result == RunResult::published ? human_size(r.size).c_str() : "-",
                    next_text.c_str(), schedules.of(tier).text.c_str());
        if (r.result != RunResult::published) std::printf("  %s\n", r.detail.c_str());
    }
    if (!heartbeat) {
        std::printf("\ndaemon: not running (no heartbeat)\n");
    } else if (liveness_problem) {
        std::printf("\ndaemon: not alive: %s\n", liveness_problem->c_str());
    } else {
        std::printf("\ndaemon: pid %ld, %s since %s\n", heartbeat->pid, heartbeat->activity.c_str(),
                    format_utc_seconds(heartbeat->activity_since).c_str());
    }
    if (config.offsite.enabled()) {
        const auto offsite = read_offsite_view(repo);
        const auto& st = offsite.state;
        std::printf("\noffsite %s: %zu pending (%s)", config.offsite.url.c_str(),
                    offsite.pending.size(), human_size(offsite.pending_bytes).c_str());
        if (!offsite.pending.empty())
            std::printf(", oldest %s", offsite.pending.front().name.c_str());
        std::printf("; last success %s%s\n",
                    st.last_success_at ? format_utc_seconds(*st.last_success_at).c_str() : "never",
                    st.last_attempt_at ? "" : " (no sync attempted yet)");
        if (!st.last_error.empty()) {
            std::printf("  last error (%s): %s\n",
                        st.last_error_at ? format_utc_seconds(*st.last_error_at).c_str() : "?",
                        st.last_error.c_str());
            if (st.last_error_class == OffsiteErrorClass::permanent) {
                std::printf("  it does not go away by itself: %s\n",
                            st.last_error_fix.empty() ? "correct the [offsite] settings"
                                                      : st.last_error_fix.c_str());
            }
        }
    }
    return ExitCode::ok;
}

}  // namespace pgtier::commands
