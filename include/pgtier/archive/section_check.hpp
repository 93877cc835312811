#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/archive/worker_pool.hpp"
#include "pgtier/core/compression.hpp"
#include "pgtier/core/manifest.hpp"

namespace pgtier {

class Inflater;

using TextSink = std::function<void(std::string_view)>;

// "globals" / "database \"x\"", the name printable (it comes from a manifest).
std::string section_label(const SectionEntry& section);

// How a section's bytes are decoded: their format, and the pool that decodes them in parallel
// (none: on the calling thread).
struct Decoding {
    CompressionFormat format = CompressionFormat::bzip2;
    WorkerPool* pool = nullptr;
};

// Decodes a run of concatenated bzip2 streams (zstd frames), keeping the tail of the text (for
// the dump trailer). With a pool, the bytes are cut at stream (frame) starts into chunks that
// the pool's threads decode at once, the text passed on in order; memory stays bounded by a
// window of chunks in flight. A chunk that does not decode alone (corrupt data, a cut short
// stream, a false stream start) hands it and everything after it to the calling thread's
// decoder, so the text, the error and its wording are those of a decode on one thread.
class SectionDecoder {
  public:
    explicit SectionDecoder(std::string label, Decoding decoding = {});
    ~SectionDecoder();
    SectionDecoder(const SectionDecoder&) = delete;
    SectionDecoder& operator=(const SectionDecoder&) = delete;

    // Decodes `size` bytes, passing the text to `sink` when given. Corrupt data is a state of
    // the decoder, not a failure of the call: once corrupt() it decodes nothing more. Text may
    // come later (in a later feed, or in finish): with a pool, and for zstd, whose frames are
    // decoded whole.
    void feed(const char* data, std::size_t size, const TextSink& sink = nullptr);
    // The bytes are all fed: decodes what is held back and passes the rest of the text on.
    void finish(const TextSink& sink = nullptr);

    bool corrupt() const { return !corruption_.empty(); }
    // Why the data is corrupt: "<label>: bzip2 data is corrupt (code …) after … decoded bytes".
    const std::string& corruption() const { return corruption_; }

    std::uint64_t decoded() const { return decoded_; }
    bool ended_cleanly() const { return stream_ended_; }
    const std::string& tail() const { return tail_; }
    const std::string& label() const { return label_; }
    // "bzip2 stream" / "zstd frame".
    const char* unit() const;
    // Chunks whose text came from the pool's threads (the rest was decoded here).
    std::size_t pooled_chunks() const { return pooled_chunks_; }

    // Where a bzip2 stream may start in `data` (the "BZh" header, a level digit and the magic
    // of a first block or of an empty stream's end), from `from` on; npos when none is there.
    // Stream starts are byte-aligned; one found inside a stream is a false start (rare) that
    // the decode of its chunk finds.
    static std::size_t find_bzip2_stream(std::string_view data, std::size_t from);

  private:
    struct Chunk;
    void feed_serial(const char* data, std::size_t size, const TextSink& sink);
    void decode_serial(const char* data, std::size_t size, const TextSink& sink);
    void emit(std::string_view text, const TextSink& sink);
    void cut_chunks(bool last, const TextSink& sink);
    void dispatch(std::string bytes, const TextSink& sink);
    void decode_chunk(Chunk* chunk);
    void emit_front(const TextSink& sink);
    void fall_back(const TextSink& sink);
    void stop_tasks();

    std::string label_;
    Decoding decoding_;
    std::unique_ptr<Inflater> inflater_;  // the calling thread's
    bool stream_ended_ = false;
    std::uint64_t decoded_ = 0;
    std::string tail_;
    std::string corruption_;
    std::vector<char> out_;
    std::string frame_buffer_;  // zstd: bytes of a frame not yet whole (feed_serial)
    bool streaming_ = false;    // zstd: a frame too large to hold, decoded as it comes

    // With a pool: bytes not yet cut into chunks, chunks in order. Once `serial_` (a chunk
    // failed, or no stream start was found in a bounded span) all bytes are decoded here.
    bool serial_ = false;
    std::string pending_;
    std::size_t scanned_ = 0;  // pending_ holds no stream start before this
    std::size_t window_ = 0;
    std::size_t pooled_chunks_ = 0;
    std::deque<std::unique_ptr<Chunk>> chunks_;
    std::mutex mutex_;
    std::condition_variable chunk_done_;
    std::size_t running_ = 0;  // chunks queued in the pool or decoding
    bool cancelled_ = false;
};

// What is wrong with one section's bytes, against its manifest entry.
enum class SectionFault {
    corrupt,    // the compressed data does not decode (SectionDecoder's error)
    sha256,     // the bytes' SHA-256 is not the manifest's
    cut_short,  // the bytes end inside a bzip2 stream (zstd frame)
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

    SectionCheck(const SectionEntry& entry, Decoding decoding, TextSink sink = nullptr,
                 Mode mode = Mode::decode);

    void feed(const char* data, std::size_t size);

    // The problems found so far: while feeding, at most the decode error.
    const std::vector<SectionProblem>& problems() const { return problems_; }

    // All of the section's bytes were fed: the verdict. Call once.
    SectionVerdict finish();

    const std::string& label() const { return label_; }  // "section database \"x\""

  private:
    void fail(SectionFault fault, std::string text);
    void note_corruption();
    SectionEntry entry_;
    std::string label_;
    TextSink sink_;
    std::optional<SectionDecoder> decoder_;  // absent in hash_only mode
    Sha256 hash_;
    std::vector<SectionProblem> problems_;
};

}  // namespace pgtier
