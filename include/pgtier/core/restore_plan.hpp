#pragma once
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
