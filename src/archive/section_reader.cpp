#include "pgtier/archive/section_reader.hpp"

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"

namespace pgtier {

void check_whole_archive(const ArchiveSource& archive, const std::string& sidecar_sha256) {
    Sha256 hash;
    archive.read(0, archive.size(), "the archive",
                 [&](const char* data, std::size_t n) { hash.update(data, n); });
    if (hash.hex_digest() != sidecar_sha256) {
        throw Error(archive.describe() + ": SHA-256 does not match its sidecar " +
                    sidecar_name(archive.name()) + " (corrupted or changed)");
    }
}

void check_section(const ArchiveSource& archive, const SectionEntry& section) {
    SectionCheck check(section, {archive_format(archive.name())}, nullptr,
                       SectionCheck::Mode::hash_only);
    archive.read(section.offset, section.length, check.label(),
                 [&](const char* data, std::size_t n) { check.feed(data, n); });
    if (check.finish().has(SectionFault::sha256)) {
        throw Error(archive.describe() + ": " + check.label() +
                    " does not match the SHA-256 in its manifest (corrupted or changed)");
    }
}

void read_section(const ArchiveSource& archive, const SectionEntry& section, const TextSink& sink,
                  WorkerPool* pool) {
    SectionCheck check(section, {archive_format(archive.name()), pool}, sink);
    const std::string& what = check.label();
    archive.read(section.offset, section.length, what, [&](const char* data, std::size_t n) {
        check.feed(data, n);
        // A decode error stops the restore at once, before more text reaches psql.
        if (!check.problems().empty()) {
            throw Error(archive.describe() + ": " + check.problems().front().message);
        }
    });
    // Restore names one problem, in this order (verify lists them all). A decode error can
    // also come last: text held back (a zstd frame, chunks decoded in parallel) is decoded then.
    const SectionVerdict verdict = check.finish();
    for (const auto& problem : verdict.problems) {
        if (problem.fault == SectionFault::corrupt)
            throw Error(archive.describe() + ": " + problem.message);
    }
    if (verdict.has(SectionFault::cut_short))
        throw Error(archive.describe() + ": " + what + " is truncated");
    if (verdict.has(SectionFault::sha256)) {
        throw Error(archive.describe() + ": " + what + " does not match its manifest's SHA-256");
    }
    if (verdict.has(SectionFault::length) || verdict.has(SectionFault::trailer)) {
        throw Error(archive.describe() + ": " + what + " is incomplete (" +
                    std::to_string(verdict.decoded) + " bytes decoded, manifest says " +
                    std::to_string(section.uncompressed_length) + ")");
    }
}

}  // namespace pgtier
