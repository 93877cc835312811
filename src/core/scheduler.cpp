#include "pgtier/core/scheduler.hpp"

#include <algorithm>

#include "pgtier/core/errors.hpp"

namespace pgtier {

const CronSchedule& TierSchedules::of(BackupType tier) const {
    switch (tier) {
        case BackupType::full:
            return full;
        case BackupType::differential:
            return differential;
        case BackupType::incremental:
            return incremental;
    }
    return full;
}

TierSchedules parse_schedules(const ScheduleConfig& schedule, const std::string& source) {
    auto parse = [&](const std::string& key, const std::string& text) {
        try {
            return parse_cron(text);
        } catch (const CronError& err) {
            throw ConfigError(source + ": schedule." + key + " = '" + text + "': " + err.what());
        }
    };
    return {parse("full", schedule.full), parse("differential", schedule.differential),
            parse("incremental", schedule.incremental)};
}

std::optional<TimePoint> next_fire_of(const TierSchedules& schedules, BackupType tier,
                                      TimePoint after) {
    return next_fire(schedules.of(tier), after);
}

std::optional<DueRun> next_run(const TierSchedules& schedules, TimePoint after) {
    std::optional<DueRun> run;
    // Biggest first, so that at equal times the biggest tier is the one kept.
    for (auto tier : {BackupType::full, BackupType::differential, BackupType::incremental}) {
        const auto at = next_fire(schedules.of(tier), after);
        if (!at) continue;
        if (!run || *at < run->at) {
            run = DueRun{tier, *at, {}};
        } else if (*at == run->at) {
            run->covered.push_back(tier);
        }
    }
    return run;
}

std::optional<BackupType> startup_run(const TierSchedules& schedules, TimePoint now, bool have_full,
                                      std::optional<TimePoint> last_full,
                                      std::optional<TimePoint> last_differential) {
    if (!have_full || !last_full) return BackupType::full;
    auto missed = [&](const CronSchedule& schedule, TimePoint since) {
        const auto due = next_fire(schedule, since);
        return due && *due <= now;
    };
    if (missed(schedules.full, *last_full)) return BackupType::full;
    // A full is as good as a differential: count from the newer of the two.
    const TimePoint diff_since =
        last_differential && *last_differential > *last_full ? *last_differential : *last_full;
    if (missed(schedules.differential, diff_since)) return BackupType::differential;
    return std::nullopt;
}

std::optional<TimePoint> last_attempt(const std::vector<Manifest>& published, BackupType tier,
                                      std::optional<TimePoint> last_run) {
    std::optional<TimePoint> newest;
    for (const auto& m : published) {
        if (m.type == tier && (!newest || m.started_at > *newest)) newest = m.started_at;
    }
    if (last_run && (!newest || *last_run > *newest)) newest = last_run;
    return newest;
}

std::optional<TimePoint> retry_time(const TierSchedules& schedules, BackupType tier, int failures,
                                    TimePoint failed_at,
                                    const std::vector<std::chrono::seconds>& delays) {
    if (delays.empty()) return std::nullopt;
    const auto step = std::min(static_cast<std::size_t>(std::max(failures, 1)), delays.size()) - 1;
    const TimePoint at = failed_at + delays[step];
    const auto next = next_fire(schedules.of(tier), failed_at);
    if (next && at >= *next) return std::nullopt;
    return at;
}

std::chrono::seconds tier_interval(const CronSchedule& schedule, TimePoint now) {
    const auto first = next_fire(schedule, now);
    if (!first) return std::chrono::seconds(0);
    const auto second = next_fire(schedule, *first);
    if (!second) return std::chrono::seconds(0);
    return std::chrono::duration_cast<std::chrono::seconds>(*second - *first);
}

}  // namespace pgtier
