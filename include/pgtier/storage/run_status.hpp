#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/sys/clock.hpp"

namespace pgtier {

class Repository;

// interrupted: the process ended during the run (killed, crashed, machine stopped); recorded by
// the next run or daemon start that finds the run's "running" note under the lock.
enum class RunResult { published, skipped, failed, interrupted };
std::string_view to_string(RunResult result);
inline bool succeeded(RunResult result) {
    return result == RunResult::published || result == RunResult::skipped;
}

// The outcome of the last run of one tier, kept in .pgtier/status.json for `list` (and for
// status/health). Change detection never reads it: that comes from the manifests.
struct RunRecord {
    BackupType requested = BackupType::full;
    RunResult result = RunResult::published;
    TimePoint started_at{};
    double duration_seconds = 0;
    std::string archive;  // "<tier>/<name>" when published
    std::uint64_t size = 0;
    std::string detail;  // why it was taken, skipped, or how it failed
    int retry = 0;       // 0: a scheduled or manual run; n: the daemon's n-th retry of the tier
};

struct TierStatus {
    std::optional<RunRecord> last_run;
    std::optional<RunRecord> last_success;  // published or skipped
    std::uint64_t runs = 0, published = 0, skipped = 0, failed = 0, interrupted = 0, retries = 0;
    std::optional<TimePoint> running_since;  // a run of this tier was started and not recorded
};

// Notes in status.json that a run of `tier` started (cleared by record_run or clear_running),
// so that health does not call a tier overdue while its long run is still going.
void record_run_start(const Repository& repo, BackupType tier, TimePoint started);
void clear_running(const Repository& repo);

// Under the lock: a "running" note left behind means that run's process ended during it; it
// is recorded (and logged) as the tier's last run, interrupted. Returns that record, if any.
std::optional<RunRecord> record_interrupted_run(const Repository& repo, TimePoint now);

// Replaces the tier's last run (and last success), counts it, and rewrites
// .pgtier/metrics.prom; a failure to write is logged, never fatal.
void record_run(const Repository& repo, const RunRecord& record);
std::map<BackupType, TierStatus> read_tier_status(const Repository& repo);
std::map<BackupType, RunRecord> read_run_status(const Repository& repo);  // last runs

// Rewrites .pgtier/metrics.prom: the tiers' gauges and counters, then the offsite gauges when
// offsite copies are in use. A failure to write is logged, never fatal.
void refresh_metrics(const Repository& repo);
// What refresh_metrics writes, as text: the daemon's GET /metrics serves it.
std::string current_metrics_text(const Repository& repo);

// .pgtier/heartbeat.json (the daemon writes it, health --live and status read it). A file that
// cannot be read or parsed reads as none.
void write_heartbeat(const Repository& repo, const Heartbeat& heartbeat);
std::optional<Heartbeat> read_heartbeat(const Repository& repo);
void remove_heartbeat(const Repository& repo);

// Prometheus text format of the tiers' status.
std::string metrics_text(const std::map<BackupType, TierStatus>& tiers);

}  // namespace pgtier
