#pragma once
#include <filesystem>
#include <string>

#include "pgtier/archive/section_check.hpp"
#include "pgtier/core/manifest.hpp"

namespace pgtier {

// The SHA-256 a sidecar (NAME.sha256, sha256sum format) records for `archive`. Throws Error
// when it is missing or malformed.
std::string sidecar_sha256(const std::filesystem::path& archive);

// Checks the whole archive against its sidecar (one read, no decompression). Throws Error.
void check_sidecar(const std::filesystem::path& archive);

// Checks one section's compressed bytes against the manifest's SHA-256 (reads only that
// section, no decompression). Throws Error naming the archive and the section.
void check_section(const std::filesystem::path& archive, const SectionEntry& section);

// Streams one section's text into `sink` (reads only that section), through SectionCheck.
// Throws Error when the bytes are unreadable, do not decode (at once, as the text is
// streamed), or differ from the manifest (hash, length, trailer).
void read_section(const std::filesystem::path& archive, const SectionEntry& section,
                  const TextSink& sink);

}  // namespace pgtier
