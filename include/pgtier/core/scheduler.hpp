#pragma once
#include <optional>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/cron.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/core/settings.hpp"

// Pure scheduling decisions of the daemon (docs/design.md, Daemon), tested with fixed times.
namespace pgtier {

struct TierSchedules {
    CronSchedule full, differential, incremental;
    const CronSchedule& of(BackupType tier) const;
};

// Parses the three schedule keys; throws ConfigError naming the key and the reason.
TierSchedules parse_schedules(const ScheduleConfig& schedule, const std::string& source);

struct DueRun {
    BackupType tier = BackupType::incremental;  // the biggest tier due at `at`
    TimePoint at{};
    std::vector<BackupType> covered;  // smaller tiers due at the same instant, dropped
};

// The next run strictly after `after`: the earliest fire time of the three tiers; tiers due at
// the same instant coalesce into the biggest (a full covers a differential and an
// incremental, a differential an incremental). nullopt when no schedule fires again.
std::optional<DueRun> next_run(const TierSchedules& schedules, TimePoint after);

// When each tier fires next (for status).
std::optional<TimePoint> next_fire_of(const TierSchedules& schedules, BackupType tier,
                                      TimePoint after);

// What the daemon runs at start, before its schedule: a full when there is none; else a full
// or differential whose fire time passed since its last attempt (the daemon was down). A full
// covers a missed differential. `last_*` are the newest attempt of that tier (archive or run
// record), if any.
std::optional<BackupType> startup_run(const TierSchedules& schedules, TimePoint now, bool have_full,
                                      std::optional<TimePoint> last_full,
                                      std::optional<TimePoint> last_differential);

// The newest attempt of `tier` (for startup_run): the newest start among its published
// archives and `last_run`, the start of its last recorded run (if any). nullopt when neither.
std::optional<TimePoint> last_attempt(const std::vector<Manifest>& published, BackupType tier,
                                      std::optional<TimePoint> last_run);

// When the daemon retries a tier after `failures` consecutive failed runs (1 = the first), the
// last of which ended at `failed_at`: `delays[failures - 1]` later (the last delay repeats;
// daemon.retry_delays, by default 1, 5, 15, 60 minutes), but only before the tier's next fire
// time. nullopt when not retried (the schedule runs it then, or `delays` is empty).
std::optional<TimePoint> retry_time(const TierSchedules& schedules, BackupType tier, int failures,
                                    TimePoint failed_at,
                                    const std::vector<std::chrono::seconds>& delays);

// The time between the next two fires after `now` (for health's grace).
std::chrono::seconds tier_interval(const CronSchedule& schedule, TimePoint now);

}  // namespace pgtier
