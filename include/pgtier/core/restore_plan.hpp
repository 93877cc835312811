#pragma once
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
};

// Pure: decided from the manifests of the published archives (any order). The database list
// is the newest archive's fingerprint, so a database dropped after the base is not restored
// and one created after it comes from its incremental. Throws Error when there is no full or
// differential, or when no archive holds a database that the newest state has.
RestorePlan plan_latest_restore(const std::vector<Manifest>& published);

// The plan as the lines `restore plan` prints.
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
