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
    // An age file (its name ends in .age): the size of its payload, the compressed stream that
    // sections' offsets count. compressed_size and sha256 are always the file's.
    std::optional<std::uint64_t> encrypted_stream_size;
    // "ed25519:BASE64" over manifest_signed_text(); "" when unsigned.
    std::string signature;

    // The compressed stream's size: the file's, or an age file's payload.
    std::uint64_t stream_size() const { return encrypted_stream_size.value_or(compressed_size); }

    const SectionEntry* find_database(const std::string& name) const;
    bool has_globals() const;
};

std::string manifest_to_json(const Manifest& manifest);
// What a signature covers: the manifest's JSON without its signature.
std::string manifest_signed_text(const Manifest& manifest);
// Throws Error naming `source` when the text is not a valid manifest.
Manifest manifest_from_json(const std::string& text, const std::string& source);

}  // namespace pgtier
