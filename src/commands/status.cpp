// pgtier status [--json] and pgtier health: the last result and the next run of each tier.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "pgtier/commands/commands.hpp"
#include "pgtier/core/cron.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/run_status.hpp"

namespace pgtier::commands {

namespace {

constexpr BackupType tiers[] = {BackupType::full, BackupType::differential,
                                BackupType::incremental};

std::string utc_seconds(TimePoint t) {
    return format_utc_iso(t).substr(0, 19) + "Z";
}

std::string duration_text(double seconds) {
    char text[32];
    if (seconds < 120) {
        std::snprintf(text, sizeof text, "%.1f s", seconds);
    } else if (seconds < 7200) {
        std::snprintf(text, sizeof text, "%.0f min", seconds / 60);
    } else if (seconds < 172800) {
        std::snprintf(text, sizeof text, "%.1f h", seconds / 3600);
    } else {
        std::snprintf(text, sizeof text, "%.1f days", seconds / 86400);
    }
    return text;
}

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
                    utc_seconds(r.started_at).c_str(), std::string(to_string(r.result)).c_str(),
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

    // The newest success of a tier or of a bigger one that covers it (a full is also a
    // differential and an incremental); published archives count too.
    std::map<BackupType, TimePoint> newest_success;
    auto note = [&](BackupType tier, TimePoint at) {
        for (auto covered : tiers) {
            if (static_cast<int>(covered) < static_cast<int>(tier)) continue;
            auto& slot = newest_success[covered];
            slot = std::max(slot, at);
        }
    };
    for (const auto& [tier, s] : status) {
        if (s.last_success) note(tier, s.last_success->started_at);
        // A run still going (a long full) is on time; it is judged when it ends.
        if (s.running_since) note(tier, *s.running_since);
    }
    for (const auto& m : repo.published_manifests()) note(m.type, m.started_at);

    std::vector<std::string> problems;
    for (auto tier : tiers) {
        const std::string name(to_string(tier));
        const auto found = status.find(tier);
        if (found != status.end() && found->second.last_run &&
            found->second.last_run->result == RunResult::failed) {
            const auto& r = *found->second.last_run;
            problems.push_back("the last " + name + " run (" + utc_seconds(r.started_at) +
                               ") failed: " + r.detail);
            continue;
        }
        const auto success = newest_success.find(tier);
        if (success == newest_success.end()) {
            problems.push_back("no successful " + name + " run yet");
            continue;
        }
        // Overdue: a fire time came after the newest success and passed by more than a grace
        // (a tenth of the gap to the fire after it, at least an hour) without a success since.
        const auto due = next_fire(schedules.of(tier), success->second);
        if (!due) continue;
        const auto grace = std::max<std::chrono::seconds>(
            tier_interval(schedules.of(tier), *due - std::chrono::seconds(1)) / 10,
            std::chrono::hours(1));
        if (now > *due + grace) {
            const double age = std::chrono::duration<double>(now - success->second).count();
            problems.push_back("the " + name + " run due at " + format_local_iso(*due) +
                               " has not succeeded (the newest success started " +
                               duration_text(age) + " ago; grace " +
                               duration_text(static_cast<double>(grace.count())) + ")");
        }
    }
    if (problems.empty()) {
        std::printf("healthy: the last run of each tier succeeded and none is overdue\n");
        return ExitCode::ok;
    }
    for (const auto& p : problems) std::printf("unhealthy: %s\n", p.c_str());
    return ExitCode::failure;
}

}  // namespace pgtier::commands
