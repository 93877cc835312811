#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "pgtier/backup_type.hpp"
#include "pgtier/clock.hpp"

namespace pgtier {

class Repository;

enum class RunResult { published, skipped, failed };
std::string_view to_string(RunResult result);

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
};

// Replaces the tier's record; a failure to write is logged, never fatal.
void record_run(const Repository& repo, const RunRecord& record);
std::map<BackupType, RunRecord> read_run_status(const Repository& repo);

}  // namespace pgtier
