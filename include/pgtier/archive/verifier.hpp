#pragma once
#include <string>
#include <vector>

#include "pgtier/storage/archive_store.hpp"

namespace pgtier {

struct VerifyResult {
    bool ok = true;
    std::vector<std::string> problems;
    // Sections that decoded and matched the manifest ("globals", "database \"x\""), in file
    // order: what can still be restored from a damaged archive.
    std::vector<std::string> intact_sections;
};

// Checks one archive with no database connection: the sidecar's SHA-256 against the file, the
// manifest's size and SHA-256, and a full bzip2 decode of every section (length, per-section
// SHA-256, dump trailer). Each section is judged on its own bytes.
VerifyResult verify_archive(const StoredArchive& archive);

}  // namespace pgtier
