#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/manifest.hpp"

namespace pgtier {

// Where one section of a restore comes from.
struct SectionSource {
    BackupType tier = BackupType::full;
    std::string archive;  // file name in the tier folder
    SectionEntry section;
};

struct DatabaseSource {
    std::string database;
    SectionSource source;
};

// What `restore latest` does: the newest full or differential as the base, then for each
// database the newest incremental section after it, and the newest globals.
struct RestorePlan {
    std::string base;  // archive name of the base
    BackupType base_tier = BackupType::full;
    TimePoint state_at{};  // when the newest archive considered was started
    SectionSource globals;
    std::vector<DatabaseSource> databases;  // in restore order (template1 first, then by name)
    std::vector<std::string> dropped;       // in the base, gone in the newest state
    std::optional<TimePoint> as_of;         // --at: archives started after it are left out
    std::size_t left_out_after = 0;         // how many were
};

// Pure: the archives of `published` started at or before `at` (an archive started exactly at
// `at` counts), in their order. Throws UsageError when there is none, naming the oldest.
std::vector<Manifest> archives_at_or_before(const std::vector<Manifest>& published, TimePoint at);

// Pure: decided from the manifests of the published archives (any order). The database list
// is the newest archive's fingerprint, so a database dropped after the base is not restored
// and one created after it comes from its incremental. Throws Error when there is no full or
// differential, or when no archive holds a database that the newest state has.
// With `at` (restore latest/plan --at): the same over the archives started at or before it, so
// the newest state then; UsageError when none is a full or differential.
RestorePlan plan_latest_restore(const std::vector<Manifest>& published,
                                std::optional<TimePoint> at = std::nullopt);

// Pure: what `restore database NAME --at TIME` restores: NAME's newest section among the
// archives started at or before `at` (a full's, a differential's or an incremental's, as
// plan_latest_restore would take it). NAME must be in the state then (the newest such
// archive's fingerprint): Error, naming its last copy, for a database dropped by then or
// created later.
SectionSource choose_database_at(const std::vector<Manifest>& published,
                                 const std::string& database, TimePoint at);

// "2026-12-04T10:00:00Z", with the microseconds when there are any (an --at taken from a
// manifest's started_at).
std::string describe_time(TimePoint t);

// The plan as the lines `restore plan` prints (with --at, first the cutoff).
std::vector<std::string> describe_plan(const RestorePlan& plan);

// One archive a plan reads: where from, and how many of its bytes `restore latest` reads.
struct PlanRead {
    BackupType tier = BackupType::full;
    std::string archive;
    bool in_bucket = false;          // read from the bucket (the directory lacks it)
    std::uint64_t archive_size = 0;  // compressed bytes of the whole archive
    // The base is read whole (checked against its sidecar), then each section replayed from
    // it; a section of another archive is read twice (checked, then replayed).
    std::uint64_t read_bytes = 0;
};
struct PlanReads {
    std::vector<PlanRead> archives;  // the base first, then by start time
    std::uint64_t bucket_bytes = 0;  // read_bytes of those in the bucket
};

// Pure: the archives `plan` reads, from `published` (the manifests it was planned from);
// `in_bucket` says which ones are read from the bucket.
PlanReads plan_reads(const RestorePlan& plan, const std::vector<Manifest>& published,
                     const std::function<bool(BackupType, const std::string&)>& in_bucket);

// The lines of plan_reads: "  full/NAME: local (DIR), 1.2 MiB", "  …: bucket (URL), …", and
// the total to download from the bucket.
std::vector<std::string> describe_reads(const PlanReads& reads, const std::string& local,
                                        const std::string& bucket);

// Where a single-database restore takes its role definitions from.
struct GlobalsChoice {
    bool own = false;  // the restored archive's own globals section (else `source` is another)
    SectionSource source;
};

// Pure: the globals section of `archive` itself (the last, if several); else the one of the
// newest archive in `published` that holds globals and did not start after `archive` (between
// equal start times, the later in `published`'s order; within one archive, the last section).
// nullopt when there is none. `published` is only looked at when `archive` has no globals.
std::optional<GlobalsChoice> choose_globals_source(const Manifest& archive,
                                                   const std::vector<Manifest>& published);

}  // namespace pgtier
