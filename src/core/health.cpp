#include "pgtier/core/health.hpp"

#include <algorithm>

#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

constexpr BackupType tiers_in_order[] = {BackupType::full, BackupType::differential,
                                         BackupType::incremental};

}  // namespace

std::vector<std::string> judge_health(const std::map<BackupType, TierHealth>& tiers,
                                      const std::vector<Manifest>& published,
                                      const TierSchedules& schedules, TimePoint now,
                                      const std::function<std::string(TimePoint)>& format_time) {
    // The newest success of a tier or of a bigger one that covers it (a full is also a
    // differential and an incremental); published archives count too.
    std::map<BackupType, TimePoint> newest_success;
    auto note = [&](BackupType tier, TimePoint at) {
        for (auto covered : tiers_in_order) {
            if (static_cast<int>(covered) < static_cast<int>(tier)) continue;
            auto& slot = newest_success[covered];
            slot = std::max(slot, at);
        }
    };
    for (const auto& [tier, s] : tiers) {
        if (s.last_success) note(tier, *s.last_success);
        // A run still going (a long full) is on time; it is judged when it ends.
        if (s.running_since) note(tier, *s.running_since);
    }
    for (const auto& m : published) note(m.type, m.started_at);

    std::vector<std::string> problems;
    for (auto tier : tiers_in_order) {
        const std::string name(to_string(tier));
        const auto found = tiers.find(tier);
        if (found != tiers.end() && found->second.failed) {
            const auto& r = *found->second.failed;
            problems.push_back("the last " + name + " run (" + format_utc_seconds(r.started_at) +
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
            problems.push_back("the " + name + " run due at " + format_time(*due) +
                               " has not succeeded (the newest success started " +
                               duration_text(age) + " ago; grace " +
                               duration_text(static_cast<double>(grace.count())) + ")");
        }
    }
    return problems;
}

std::optional<std::string> judge_liveness(const std::optional<Heartbeat>& heartbeat, TimePoint now,
                                          std::chrono::seconds max_age) {
    if (!heartbeat) return "no daemon heartbeat: the daemon is not running (or not yet started)";
    if (heartbeat->at + max_age < now) {
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - heartbeat->at);
        return "the daemon's last heartbeat (pid " + std::to_string(heartbeat->pid) + ", " +
               heartbeat->activity + ") is " + std::to_string(age.count()) + " s old, more than " +
               std::to_string(max_age.count()) +
               " s: the daemon is stopped, hung, or cannot write its backup directory";
    }
    return std::nullopt;
}

}  // namespace pgtier
