#include "pgtier/verifier.hpp"

#include <algorithm>
#include <fstream>
#include <optional>

#include "pgtier/dump.hpp"
#include "pgtier/errors.hpp"
#include "pgtier/files.hpp"
#include "pgtier/manifest.hpp"
#include "pgtier/naming.hpp"
#include "pgtier/section_reader.hpp"
#include "pgtier/sha256.hpp"

namespace pgtier {

constexpr std::size_t chunk_size = 1 << 20;

VerifyResult verify_archive(const std::filesystem::path& archive) {
    VerifyResult result;
    auto problem = [&](std::string text) {
        result.ok = false;
        result.problems.push_back(std::move(text));
    };
    const std::string name = archive.filename().string();
    const auto dir = archive.parent_path();

    std::optional<std::string> sidecar_hash;
    try {
        sidecar_hash = sidecar_sha256(archive);
    } catch (const Error& err) {
        problem(err.what());
    }

    std::optional<Manifest> manifest;
    try {
        manifest = read_manifest(dir / manifest_name(name));
    } catch (const Error& err) {
        problem(err.what());
    }

    // Sections in file order; without a manifest the whole file is decoded as one.
    std::vector<SectionEntry> sections;
    if (manifest) {
        sections = manifest->sections;
        std::sort(sections.begin(), sections.end(),
                  [](const auto& a, const auto& b) { return a.offset < b.offset; });
    }

    std::ifstream in(archive, std::ios::binary);
    if (!in) {
        problem("cannot open: " + errno_text(errno));
        return result;
    }
    Sha256 file_hash;
    std::uint64_t position = 0;
    std::size_t next_section = 0;
    std::unique_ptr<SectionDecoder> decoder;
    std::optional<SectionEntry> current;
    bool corrupt = false;
    auto close_section = [&] {
        if (!decoder) return;
        if (!corrupt && !decoder->ended_cleanly()) {
            problem(decoder->label() + ": bzip2 stream is truncated");
        }
        if (current) {
            if (decoder->sha256() != current->sha256)
                problem(decoder->label() + ": SHA-256 mismatch");
            if (!corrupt && decoder->decoded() != current->uncompressed_length) {
                problem(decoder->label() + ": decodes to " + std::to_string(decoder->decoded()) +
                        " bytes, manifest says " + std::to_string(current->uncompressed_length));
            }
            if (!corrupt && !has_dump_trailer(decoder->tail())) {
                problem(decoder->label() + ": no \"dump complete\" trailer");
            }
        }
        decoder.reset();
        current.reset();
    };

    std::vector<char> buffer(chunk_size);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        std::size_t got = static_cast<std::size_t>(in.gcount());
        if (got == 0) break;
        file_hash.update(buffer.data(), got);
        const char* data = buffer.data();
        while (got > 0) {
            if (!decoder) {
                if (manifest) {
                    if (next_section >= sections.size() ||
                        sections[next_section].offset != position) {
                        problem("bytes at offset " + std::to_string(position) +
                                " belong to no section of the manifest");
                        corrupt = true;
                        position += got;
                        break;
                    }
                    current = sections[next_section++];
                    decoder =
                        std::make_unique<SectionDecoder>("section " + section_label(*current));
                } else {
                    decoder = std::make_unique<SectionDecoder>("archive");
                }
            }
            std::size_t take = got;
            if (current)
                take = std::min<std::uint64_t>(got, current->offset + current->length - position);
            if (!corrupt) {
                if (auto err = decoder->feed(data, take)) {
                    problem(*err);
                    corrupt = true;
                }
            }
            data += take;
            got -= take;
            position += take;
            if (current && position == current->offset + current->length) close_section();
        }
        if (corrupt && !manifest) break;
    }
    if (decoder && !current) close_section();
    if (manifest) {
        if (decoder) close_section();
        if (next_section < sections.size()) {
            problem("archive is truncated: " + std::to_string(position) + " bytes, manifest says " +
                    std::to_string(manifest->compressed_size));
        }
        if (position != manifest->compressed_size && next_section >= sections.size()) {
            problem("size is " + std::to_string(position) + " bytes, manifest says " +
                    std::to_string(manifest->compressed_size));
        }
    }
    const std::string actual = file_hash.hex_digest();
    if (sidecar_hash && *sidecar_hash != actual) {
        problem("SHA-256 does not match the sidecar (file " + actual.substr(0, 12) + "…, sidecar " +
                sidecar_hash->substr(0, 12) + "…)");
    }
    if (manifest && manifest->sha256 != actual && (!sidecar_hash || *sidecar_hash == actual)) {
        problem("SHA-256 does not match the manifest");
    }
    return result;
}

}  // namespace pgtier
