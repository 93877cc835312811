#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/fingerprint.hpp"
#include "pgtier/core/time.hpp"

namespace pgtier {

inline constexpr int manifest_format_version = 1;

struct SectionEntry {
    SectionKind kind = SectionKind::database;
    std::optional<std::string> database;  // empty for globals
    std::uint64_t offset = 0;             // compressed offset in the archive
    std::uint64_t length = 0;             // compressed length
    std::uint64_t uncompressed_length = 0;
    std::string sha256;       // of the compressed bytes
    std::string fingerprint;  // of the database (or globals) before the dump
};

struct Manifest {
    int format = manifest_format_version;
    BackupType type = BackupType::full;
    std::string name;  // archive file name
    std::string tool_version;
    std::string server_version;
    std::string pg_dump_version;
    TimePoint started_at{};
    TimePoint finished_at{};
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::string sha256;
    std::string reason;  // why it was taken
    Fingerprint fingerprint;
    std::vector<SectionEntry> sections;
    // Databases that were listed but dropped before their dump: not in this archive (nor in
    // its fingerprint). Absent from older manifests.
    std::vector<std::string> dropped;
    // The cluster the archive came from (docs/design.md, Cluster identity): pg_control_system()'s
    // system_identifier as decimal digits, and the configured [storage] cluster_name ("" when
    // none). Both absent from manifests written before pgtier recorded them.
    std::string system_identifier;
    std::string cluster_name;

    const SectionEntry* find_database(const std::string& name) const;
    bool has_globals() const;
};

std::string manifest_to_json(const Manifest& manifest);
// Throws Error naming `source` when the text is not a valid manifest.
Manifest manifest_from_json(const std::string& text, const std::string& source);

}  // namespace pgtier
