#pragma once
#include <string>
#include <vector>

#include "pgtier/archive/keys.hpp"
#include "pgtier/archive/worker_pool.hpp"
#include "pgtier/storage/archive_store.hpp"

namespace pgtier {

struct VerifyResult {
    bool ok = true;
    std::vector<std::string> problems;
    // Sections that decoded and matched the manifest ("globals", "database \"x\""), in file
    // order: what can still be restored from a damaged archive.
    std::vector<std::string> intact_sections;
    std::string note;  // what was not checked, and why
};

// Checks one archive with no database connection: the sidecar's SHA-256 against the file, the
// manifest's size and SHA-256, and a full decode of every section (bzip2 or zstd, by the
// archive's name; length, per-section SHA-256, dump trailer), by `pool`'s threads when given.
// Each section is judged on its own bytes. An age file is decrypted with `keys`' identities
// (without one: a problem), and with a verify key its manifest's signature is checked.
VerifyResult verify_archive(const StoredArchive& archive, const ArchiveKeys& keys,
                            WorkerPool* pool = nullptr);

// The manifest's section table against an archive of `object_size` bytes, without reading it:
// sections contiguous from offset 0 to the manifest's size, none empty, none overlapping, and
// each within the object (the layout verify_archive checks). Empty when it fits.
std::vector<std::string> section_table_problems(const Manifest& manifest,
                                                std::uint64_t object_size);

}  // namespace pgtier
