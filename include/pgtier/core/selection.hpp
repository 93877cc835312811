#pragma once
#include <string>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/fingerprint.hpp"
#include "pgtier/core/manifest.hpp"

namespace pgtier {

enum class Force { no, yes };

// What one backup run dumps. Pure: decided from the current fingerprint and the manifests of
// the published archives.
struct BackupPlan {
    BackupType type = BackupType::full;  // may differ from the request (no full yet)
    bool skip = false;
    std::string reason;
    bool globals = true;
    std::vector<std::string> databases;  // in dump order
};

BackupPlan plan_backup(BackupType requested, Force force, const Fingerprint& current,
                       const std::vector<Manifest>& published);

}  // namespace pgtier
