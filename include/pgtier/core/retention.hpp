#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pgtier/core/manifest.hpp"
#include "pgtier/core/settings.hpp"

namespace pgtier {

struct RetentionDecision {
    BackupType tier = BackupType::full;
    std::string name;
    TimePoint started_at{};
    std::uint64_t size = 0;  // compressed bytes
    bool keep = true;
    std::string reason;  // the rule that decided
};

// Pure (docs/design.md, Retention): decides every published archive once, newest first, from the
// manifests' UTC start times and `now` only. Kept whatever their age: archives dated after `now`,
// the newest of each tier, every archive the newest restore chain reads (its base, and the
// incrementals that hold a database's newest section after it: deleting one would silently
// restore that database to an older state), the newest `min_full` fulls and, with
// keep_monthly_full = N, the newest full of each of the last N calendar months (UTC). The
// rest is deleted when older than its tier's days.
std::vector<RetentionDecision> plan_retention(const std::vector<Manifest>& published,
                                              const RetentionConfig& policy, TimePoint now);

}  // namespace pgtier
