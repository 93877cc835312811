#pragma once
#include <cstdint>
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

std::string section_label(const SectionEntry& section);  // "globals" / "database \"x\""

// Decodes a run of concatenated bzip2 streams, keeping the tail of the text (for the dump
// trailer).
class SectionDecoder {
  public:
    explicit SectionDecoder(std::string label);
    ~SectionDecoder();
    SectionDecoder(const SectionDecoder&) = delete;
    SectionDecoder& operator=(const SectionDecoder&) = delete;

    // Decodes `size` bytes, passing the text to `sink` when given. Corrupt data is a state of
    // the decoder, not a failure of the call: once corrupt() it decodes nothing more.
    void feed(const char* data, std::size_t size, const TextSink& sink = nullptr);

    bool corrupt() const { return !corruption_.empty(); }
    // Why the data is corrupt: "<label>: bzip2 data is corrupt (code …) after … decoded bytes".
    const std::string& corruption() const { return corruption_; }

    std::uint64_t decoded() const { return decoded_; }
    bool ended_cleanly() const { return stream_ended_; }
    const std::string& tail() const { return tail_; }
    const std::string& label() const { return label_; }

  private:
    void start();
    std::string label_;
    bz_stream stream_{};
    bool stream_ended_ = false;
    std::uint64_t decoded_ = 0;
    std::string tail_;
    std::string corruption_;
    std::vector<char> out_;
};

// What is wrong with one section's bytes, against its manifest entry.
enum class SectionFault {
    corrupt,    // the bzip2 data does not decode (SectionDecoder's error)
    sha256,     // the bytes' SHA-256 is not the manifest's
    cut_short,  // the bytes end inside a bzip2 stream
    length,     // the decoded length is not the manifest's
    trailer,    // the text lacks the "dump complete" trailer
};

struct SectionProblem {
    SectionFault fault;
    std::string message;  // as verify prints it: "section database \"x\": …"
};

struct SectionVerdict {
    std::string sha256;                    // of the bytes fed
    std::uint64_t decoded = 0;             // bytes of text decoded
    std::vector<SectionProblem> problems;  // in the order verify reports them; empty: intact

    bool intact() const { return problems.empty(); }
    bool has(SectionFault fault) const;
};

// The one pipeline for a section's compressed bytes, fed in order in chunks: hashes every
// byte, decodes them (text to the optional sink) until a decode error, and judges the result
// against the manifest entry. Used by read_section (restore) and verify_archive.
class SectionCheck {
  public:
    enum class Mode {
        decode,     // hash, decode, length and trailer
        hash_only,  // the SHA-256 alone (no decompression)
    };

    explicit SectionCheck(const SectionEntry& entry, TextSink sink = nullptr,
                          Mode mode = Mode::decode);

    void feed(const char* data, std::size_t size);

    // The problems found so far: while feeding, at most the decode error.
    const std::vector<SectionProblem>& problems() const { return problems_; }

    // All of the section's bytes were fed: the verdict. Call once.
    SectionVerdict finish();

    const std::string& label() const { return label_; }  // "section database \"x\""

  private:
    void fail(SectionFault fault, std::string text);
    SectionEntry entry_;
    std::string label_;
    TextSink sink_;
    std::optional<SectionDecoder> decoder_;  // absent in hash_only mode
    Sha256 hash_;
    std::vector<SectionProblem> problems_;
};

}  // namespace pgtier
