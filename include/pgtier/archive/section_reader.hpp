#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <bzlib.h>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/manifest.hpp"

namespace pgtier {

using TextSink = std::function<void(std::string_view)>;

// Decodes one section: a run of concatenated bzip2 streams, hashing the compressed bytes it is
// fed and keeping the tail of the text (for the dump trailer).
class SectionDecoder {
  public:
    explicit SectionDecoder(std::string label);
    ~SectionDecoder();
    SectionDecoder(const SectionDecoder&) = delete;
    SectionDecoder& operator=(const SectionDecoder&) = delete;

    // Decodes `size` bytes, passing the text to `sink` when given. Returns an error text.
    std::optional<std::string> feed(const char* data, std::size_t size,
                                    const TextSink& sink = nullptr);

    std::uint64_t decoded() const { return decoded_; }
    bool ended_cleanly() const { return stream_ended_; }
    const std::string& tail() const { return tail_; }
    std::string sha256() { return hash_.hex_digest(); }
    const std::string& label() const { return label_; }

  private:
    void start();
    std::string label_;
    bz_stream stream_{};
    bool stream_ended_ = false;
    std::uint64_t decoded_ = 0;
    std::string tail_;
    std::vector<char> out_;
    Sha256 hash_;
};

std::string section_label(const SectionEntry& section);  // "globals" / "database \"x\""

// The SHA-256 a sidecar (NAME.sha256, sha256sum format) records for `archive`. Throws Error
// when it is missing or malformed.
std::string sidecar_sha256(const std::filesystem::path& archive);

// Checks the whole archive against its sidecar (one read, no decompression). Throws Error.
void check_sidecar(const std::filesystem::path& archive);

// Checks one section's compressed bytes against the manifest's SHA-256 (reads only that
// section, no decompression). Throws Error naming the archive and the section.
void check_section(const std::filesystem::path& archive, const SectionEntry& section);

// Streams one section's text into `sink` (reads only that section). Throws Error when the
// bytes are unreadable, do not decode, or differ from the manifest (hash, length, trailer).
void read_section(const std::filesystem::path& archive, const SectionEntry& section,
                  const TextSink& sink);

}  // namespace pgtier
