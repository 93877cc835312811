#include "pgtier/verifier.hpp"

#include <bzlib.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "pgtier/dump.hpp"
#include "pgtier/errors.hpp"
#include "pgtier/files.hpp"
#include "pgtier/manifest.hpp"
#include "pgtier/naming.hpp"
#include "pgtier/sha256.hpp"

namespace pgtier {

namespace {

constexpr std::size_t chunk_size = 1 << 20;

// Decodes one section: a run of concatenated bzip2 streams that must end exactly at the
// section's last byte.
class SectionDecoder {
  public:
    explicit SectionDecoder(std::string label) : label_(std::move(label)), out_(chunk_size) {
        start();
    }
    ~SectionDecoder() { BZ2_bzDecompressEnd(&stream_); }
    SectionDecoder(const SectionDecoder&) = delete;
    SectionDecoder& operator=(const SectionDecoder&) = delete;

    // Returns an error text, or nothing.
    std::optional<std::string> feed(const char* data, std::size_t size) {
        hash_.update(data, size);
        while (size > 0) {
            if (stream_ended_) {
                BZ2_bzDecompressEnd(&stream_);
                start();
            }
            stream_.next_in = const_cast<char*>(data);
            stream_.avail_in = static_cast<unsigned int>(size);
            stream_.next_out = out_.data();
            stream_.avail_out = static_cast<unsigned int>(out_.size());
            const int rc = BZ2_bzDecompress(&stream_);
            const std::size_t consumed = size - stream_.avail_in;
            const std::size_t produced = out_.size() - stream_.avail_out;
            data += consumed;
            size -= consumed;
            decoded_ += produced;
            tail_.append(out_.data(), produced);
            if (tail_.size() > 4096) tail_.erase(0, tail_.size() - 2048);
            if (rc == BZ_STREAM_END) {
                stream_ended_ = true;
            } else if (rc != BZ_OK) {
                return label_ + ": bzip2 data is corrupt (code " + std::to_string(rc) + ") after " +
                       std::to_string(decoded_) + " decoded bytes";
            }
        }
        return std::nullopt;
    }

    std::uint64_t decoded() const { return decoded_; }
    bool ended_cleanly() const { return stream_ended_; }
    const std::string& tail() const { return tail_; }
    std::string sha256() { return hash_.hex_digest(); }
    const std::string& label() const { return label_; }

  private:
    void start() {
        stream_ = bz_stream{};
        BZ2_bzDecompressInit(&stream_, 0, 0);
        stream_ended_ = false;
    }
    std::string label_;
    bz_stream stream_{};
    bool stream_ended_ = false;
    std::uint64_t decoded_ = 0;
    std::string tail_;
    std::vector<char> out_;
    Sha256 hash_;
};

}  // namespace

VerifyResult verify_archive(const std::filesystem::path& archive) {
    VerifyResult result;
    auto problem = [&](std::string text) {
        result.ok = false;
        result.problems.push_back(std::move(text));
    };
    const std::string name = archive.filename().string();
    const auto dir = archive.parent_path();

    std::optional<std::string> sidecar_hash;
    const auto sidecar = dir / sidecar_name(name);
    if (!std::filesystem::exists(sidecar)) {
        problem("no sidecar " + sidecar_name(name));
    } else {
        const std::string text = read_file(sidecar).value_or("");
        const auto space = text.find("  ");
        std::string named = space == std::string::npos ? "" : text.substr(space + 2);
        while (!named.empty() && named.back() == '\n') named.pop_back();
        if (space != 64 || named != name) {
            problem("sidecar " + sidecar_name(name) + " is not a sha256sum line for " + name);
        } else {
            sidecar_hash = text.substr(0, 64);
        }
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
                    const std::string label = current->kind == SectionKind::globals
                                                  ? "section globals"
                                                  : "section database " + *current->database;
                    decoder = std::make_unique<SectionDecoder>(label);
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
