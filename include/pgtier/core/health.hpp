#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/core/time.hpp"

// The judgement of `pgtier health`, pure and tested with fixed times.
namespace pgtier {

// What health reads of one tier's run record (storage/run_status's TierStatus, which core
// cannot include).
struct TierHealth {
    struct FailedRun {
        TimePoint started_at{};
        std::string detail;
    };
    std::optional<FailedRun> failed;         // the last run, when it failed
    std::optional<TimePoint> last_success;   // start of the last published or skipped run
    std::optional<TimePoint> running_since;  // a run was started and not recorded yet
};

// The problems of the backups at `now`, in tier order (full, differential, incremental),
// empty when healthy: a tier whose last run failed, one that never succeeded, and one whose
// fire time after its newest success passed by more than a grace (a tenth of the gap to the
// fire after it, at least an hour). A success of a bigger tier counts for the smaller ones (a
// full is also a differential and an incremental), published archives count as successes, and a
// run still going counts as on time (it is judged when it ends). `format_time` writes the due
// time (core/time's format_utc_seconds in the command, as every printed time).
std::vector<std::string> judge_health(const std::map<BackupType, TierHealth>& tiers,
                                      const std::vector<Manifest>& published,
                                      const TierSchedules& schedules, TimePoint now,
                                      const std::function<std::string(TimePoint)>& format_time);

// The daemon's heartbeat (.pgtier/heartbeat.json), rewritten every few seconds while it runs,
// whatever it is doing (waiting for the server or the next fire time, or in a long dump).
struct Heartbeat {
    long pid = 0;
    TimePoint at{};        // when it was written
    std::string activity;  // "waiting for the next run: …", "running the full backup", …
    TimePoint activity_since{};
};

// The daemon writes its heartbeat every 10 s; health --live allows this much by default.
constexpr std::chrono::seconds default_heartbeat_max_age{120};

// health --live: why the daemon does not count as alive at `now` (no heartbeat, or one older
// than `max_age`), or nullopt when it does.
std::optional<std::string> judge_liveness(const std::optional<Heartbeat>& heartbeat, TimePoint now,
                                          std::chrono::seconds max_age);

}  // namespace pgtier
