#pragma once
#include <string>

#include "pgtier/archive/section_check.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/storage/archive_store.hpp"

namespace pgtier {

// Checks the whole archive against the SHA-256 its sidecar records (one read, no
// decompression). Throws Error.
void check_whole_archive(const ArchiveSource& archive, const std::string& sidecar_sha256);

// Checks one section's compressed bytes against the manifest's SHA-256 (reads only that
// section, no decompression). Throws Error naming the archive and the section.
void check_section(const ArchiveSource& archive, const SectionEntry& section);

// Streams one section's text into `sink` (reads only that section), through SectionCheck; the
// format is the archive name's, and `pool` (when given) decodes it in parallel. Throws Error
// when the bytes are unreadable, do not decode (at once, as the text is streamed), or differ
// from the manifest (hash, length, trailer).
void read_section(const ArchiveSource& archive, const SectionEntry& section, const TextSink& sink,
                  WorkerPool* pool = nullptr);

}  // namespace pgtier
