#include "pgtier/archive/verifier.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <optional>

#include "pgtier/archive/section_check.hpp"
#include "pgtier/archive/section_reader.hpp"
#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/sql_filter.hpp"

namespace pgtier {

namespace {

using ProblemSink = std::function<void(std::string)>;

std::string num(std::uint64_t n) {
    return std::to_string(n);
}

std::string short_hash(const std::string& hex) {
    return hex.substr(0, 12) + "…";
}

// One manifest section under check. Each gets its own verdict from its own bytes: a corrupt
// section must not taint the ones after it.
struct PlannedSection {
    SectionEntry entry;
    std::string label;      // "section database \"x\""
    std::uint64_t end = 0;  // offset + length
    bool readable = true;   // false when the manifest gives it no possible byte range
    bool in_stream = true;  // read by the sequential pass; false: overlaps, read on its own
    bool failed = false;
};

// Reports a section's problems (its verdict, or what was found before its bytes ran out).
void report(PlannedSection& planned, const std::vector<SectionProblem>& problems,
            const ProblemSink& problem) {
    for (const auto& p : problems) {
        planned.failed = true;
        problem(p.message);
    }
}

// A database section's header (CREATE DATABASE, \connect) against its manifest label, read
// from the text the section's decode passes on anyway: restore refuses a section whose header
// names another database (labels swapped in a forged manifest), so verify must not call it OK.
class HeaderCheck {
  public:
    explicit HeaderCheck(const SectionEntry& entry) : entry_(entry) {}
    TextSink sink() {
        if (entry_.kind != SectionKind::database) return nullptr;
        return [this](std::string_view text) { scanner_.feed(text); };
    }
    // After the section's verdict: a header that was read whole, or a section that decoded
    // whole without one, is judged (a section cut or corrupt before it is failed already).
    void report(PlannedSection& planned, const ProblemSink& problem) const {
        if (entry_.kind != SectionKind::database || (!scanner_.connected() && planned.failed))
            return;
        try {
            check_section_header(scanner_, *entry_.database,
                                 dump_creates_database(*entry_.database));
        } catch (const SectionHeaderMismatch& mismatch) {
            planned.failed = true;
            problem(planned.label + ": not the database its manifest says (restore refuses it): " +
                    mismatch.what());
        }
    }

  private:
    const SectionEntry& entry_;
    SectionHeaderScanner scanner_;
};

void report_file_end(PlannedSection& check, std::uint64_t file_size, const ProblemSink& problem) {
    check.failed = true;
    problem(check.label + ": the file ends at offset " + num(file_size) +
            (file_size > check.entry.offset ? ", inside it" : ", before it") +
            " (manifest: offset " + num(check.entry.offset) + ", " + num(check.entry.length) +
            " bytes)");
}

// Checks the manifest's layout (sections contiguous from offset 0 to its size) and returns the
// sections in file order. A section that overlaps an earlier one is read on its own later.
std::vector<PlannedSection> plan_sections(const Manifest& manifest, const ProblemSink& problem) {
    std::vector<SectionEntry> sorted = manifest.sections;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.offset < b.offset; });
    std::vector<PlannedSection> checks;
    std::uint64_t covered = 0;  // the end of the sections so far (all of them)
    std::string covered_by;     // the section that ends there, with its range
    const auto range = [](const PlannedSection& c) {
        return c.label + " (offset " + num(c.entry.offset) + ", " + num(c.entry.length) + " bytes)";
    };
    for (const auto& entry : sorted) {
        PlannedSection check{entry, "section " + section_label(entry)};
        if (entry.length == 0) {
            problem(check.label + ": the manifest gives it 0 bytes");
            check.readable = check.in_stream = false;
            check.failed = true;
        } else if (entry.length > std::numeric_limits<std::uint64_t>::max() - entry.offset) {
            problem(range(check) + ": offset plus length overflows 64 bits");
            check.readable = check.in_stream = false;
            check.failed = true;
        } else {
            check.end = entry.offset + entry.length;
            if (entry.offset < covered) {
                // Which of the two is wrong is not known: each is judged by its own bytes.
                problem(covered_by + " and " + range(check) + " overlap");
                check.in_stream = false;
            } else if (entry.offset > covered) {
                problem(num(entry.offset - covered) + " bytes at offset " + num(covered) +
                        " belong to no section of the manifest");
            }
            if (check.end > covered) {
                covered = check.end;
                covered_by = range(check);
            }
        }
        checks.push_back(std::move(check));
    }
    if (covered < manifest.stream_size()) {
        problem(num(manifest.stream_size() - covered) + " bytes at offset " + num(covered) +
                " belong to no section of the manifest");
    } else if (covered > manifest.stream_size()) {
        problem("the manifest's sections end at offset " + num(covered) + ", its size says " +
                num(manifest.stream_size()) + " bytes");
    }
    return checks;
}

}  // namespace

std::vector<std::string> section_table_problems(const Manifest& manifest,
                                                std::uint64_t object_size) {
    std::vector<std::string> problems;
    const ProblemSink problem = [&](std::string text) { problems.push_back(std::move(text)); };
    for (auto& check : plan_sections(manifest, problem)) {
        if (check.readable && check.end > object_size) report_file_end(check, object_size, problem);
    }
    return problems;
}

namespace {
// The file's SHA-256 against its sidecar and manifest.
void compare_hashes(const std::string& actual, const std::optional<std::string>& sidecar_hash,
                    const std::optional<Manifest>& manifest, const ProblemSink& problem) {
    if (sidecar_hash && *sidecar_hash != actual) {
        problem("SHA-256 does not match the sidecar (file " + short_hash(actual) + ", sidecar " +
                short_hash(*sidecar_hash) + ")");
    }
    if (manifest && manifest->sha256 != actual && (!sidecar_hash || *sidecar_hash == actual)) {
        problem("SHA-256 does not match the manifest (file " + short_hash(actual) + ", manifest " +
                short_hash(manifest->sha256) + ")");
    }
}
}  // namespace

VerifyResult verify_archive(const StoredArchive& archive, const ArchiveKeys& keys,
                            WorkerPool* pool) {
    VerifyResult result;
    const ProblemSink problem = [&](std::string text) {
        result.ok = false;
        result.problems.push_back(std::move(text));
    };
    const std::string& name = archive.name;
    const Decoding decoding{archive_format(name), pool};
    // `source` is the compressed stream, `file_size` its size: the file's, or an age file's
    // payload, decrypted (whose SHA-256 is then taken in a first pass over the file).
    std::shared_ptr<const ArchiveSource> source;
    std::uint64_t file_size = 0;
    std::uint64_t encrypted_size = 0;
    std::optional<std::string> encrypted_hash;
    try {
        source = archive.open();
        file_size = source->size();
        if (archive_encrypted(name)) {
            encrypted_size = file_size;
            Sha256 hash;
            source->read(0, file_size, "the archive",
                         [&](const char* data, std::size_t n) { hash.update(data, n); });
            encrypted_hash = hash.hex_digest();
            if (keys.identities.empty()) {
                result.note =
                    "an age file: its SHA-256 and size checked, its sections not decrypted (no "
                    "encryption.identity_file)";
                source.reset();
            } else {
                source = open_stream(source, keys);
                file_size = source->size();
            }
        }
    } catch (const Error& err) {
        problem(err.what());
        if (!encrypted_hash) return result;
        source.reset();  // the file was read: its hash is still compared below
    }

    std::optional<std::string> sidecar_hash;
    try {
        sidecar_hash = archive.sidecar_sha256();
    } catch (const Error& err) {
        problem(err.what());
    }

    std::optional<Manifest> manifest;
    try {
        manifest = archive.manifest();
    } catch (const Error& err) {
        problem(err.what());
    }
    if (manifest && manifest->name != name) {
        problem("its manifest describes \"" + manifest->name +
                "\", not this file: never acted on (checked as a plain " +
                std::string(to_string(decoding.format)) + " file)");
        manifest.reset();
    }
    if (manifest) {
        try {
            check_manifest_signature(*manifest, keys, "its manifest");
        } catch (const Error& err) {
            problem(err.what());
        }
    }
    if (!source) {  // an age file not decrypted
        if (manifest && encrypted_size != manifest->compressed_size) {
            problem("archive is " + num(encrypted_size) + " bytes, manifest says " +
                    num(manifest->compressed_size));
        }
        compare_hashes(*encrypted_hash, sidecar_hash, manifest, problem);
        return result;
    }

    // Sections in file order; without a manifest the whole file is decoded as one stream.
    std::vector<PlannedSection> checks;
    if (manifest) checks = plan_sections(*manifest, problem);

    // One sequential pass: the file's SHA-256 and every section that does not overlap another.
    Sha256 file_hash;
    std::uint64_t position = 0;
    std::size_t next = 0;  // index into `checks` of the section being read or next to read
    std::unique_ptr<HeaderCheck> run_header;  // the header of the section `run` reads
    std::unique_ptr<SectionCheck> run;
    std::unique_ptr<SectionDecoder> whole;  // without a manifest
    auto skip_unsequenced = [&] {
        while (next < checks.size() && !checks[next].in_stream) ++next;
    };
    const auto consume = [&](const char* data, std::size_t got) {
        file_hash.update(data, got);
        if (!manifest) {
            // Keep hashing after a decode error: the sidecar is compared with the whole file.
            if (!whole) whole = std::make_unique<SectionDecoder>("archive", decoding);
            if (!whole->corrupt()) {
                whole->feed(data, got);
                if (whole->corrupt()) problem(whole->corruption());
            }
            position += got;
            return;
        }
        while (got > 0) {
            skip_unsequenced();
            if (next >= checks.size()) {  // trailing bytes: reported by the layout or size check
                position += got;
                break;
            }
            auto& check = checks[next];
            std::size_t take = 0;
            if (position < check.entry.offset) {  // a gap: reported by the layout check
                take = static_cast<std::size_t>(
                    std::min<std::uint64_t>(got, check.entry.offset - position));
            } else {
                if (!run) {
                    run_header = std::make_unique<HeaderCheck>(check.entry);
                    run = std::make_unique<SectionCheck>(check.entry, decoding, run_header->sink());
                }
                take = static_cast<std::size_t>(std::min<std::uint64_t>(got, check.end - position));
                run->feed(data, take);
            }
            data += take;
            got -= take;
            position += take;
            if (run && position == check.end) {
                report(check, run->finish().problems, problem);
                run_header->report(check, problem);
                run.reset();
                run_header.reset();
                ++next;
            }
        }
    };
    try {
        source->read(0, file_size, encrypted_hash ? "the archive's payload" : "the archive",
                     consume);
    } catch (const Error& err) {
        problem("read error at offset " + num(position) + ": " + err.what());
        file_size = position;
    }

    if (!manifest) {
        if (whole && !whole->corrupt()) {
            whole->finish();
            if (whole->corrupt()) problem(whole->corruption());
        }
        if (file_size == 0) {
            problem("archive: the file is empty");
        } else if (whole && !whole->corrupt() && !whole->ended_cleanly()) {
            problem(std::string("archive: the file ends inside a ") + whole->unit());
        }
    } else {
        // The file ended inside or before these: a decode error found so far, then the end.
        if (run) report(checks[next], run->problems(), problem);
        run.reset();
        run_header.reset();
        for (skip_unsequenced(); next < checks.size(); ++next, skip_unsequenced()) {
            report_file_end(checks[next], file_size, problem);
        }
        // Sections that overlap an earlier one, each read on its own.
        for (auto& check : checks) {
            if (!check.readable || check.in_stream) continue;
            if (check.end > file_size) {
                report_file_end(check, file_size, problem);
                continue;
            }
            HeaderCheck header(check.entry);
            SectionCheck overlapped(check.entry, decoding, header.sink());
            try {
                source->read(check.entry.offset, check.entry.length, check.label,
                             [&](const char* data, std::size_t n) { overlapped.feed(data, n); });
            } catch (const Error& err) {
                report(check, overlapped.problems(), problem);
                check.failed = true;
                problem(check.label + ": " + err.what());
                continue;
            }
            report(check, overlapped.finish().problems, problem);
            header.report(check, problem);
        }
        for (const auto& check : checks) {
            if (!check.failed) result.intact_sections.push_back(section_label(check.entry));
        }
        const std::uint64_t stored_size = encrypted_hash ? encrypted_size : file_size;
        if (stored_size < manifest->compressed_size) {
            problem("archive is truncated: " + num(stored_size) + " bytes, manifest says " +
                    num(manifest->compressed_size));
        } else if (stored_size > manifest->compressed_size) {
            problem("archive is " + num(stored_size) + " bytes, manifest says " +
                    num(manifest->compressed_size));
        } else if (file_size != manifest->stream_size()) {
            problem("the age payload is " + num(file_size) + " bytes, manifest says " +
                    num(manifest->stream_size()));
        }
    }
    compare_hashes(encrypted_hash ? *encrypted_hash : file_hash.hex_digest(), sidecar_hash,
                   manifest, problem);
    return result;
}

}  // namespace pgtier
