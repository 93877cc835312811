#include "pgtier/archive/section_check.hpp"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>

#include "inflater.hpp"
#include "pgtier/archive/compressor.hpp"
#include "pgtier/core/sql_filter.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

constexpr std::size_t decode_buffer_size = 1 << 20;

// Bytes held while looking for the next stream (frame) start. pgtier's blocks compress to far
// less; a foreign archive of larger streams, or damage, is decoded on the calling thread from
// there on.
constexpr std::size_t max_pending = std::size_t{32} << 20;

constexpr unsigned char bzip2_block_magic[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
constexpr unsigned char bzip2_end_magic[6] = {0x17, 0x72, 0x45, 0x38, 0x50, 0x90};
constexpr std::size_t bzip2_start_size = 10;  // "BZh", the level, a 48-bit magic

std::string num(std::uint64_t n) {
    return std::to_string(n);
}

std::string short_hash(const std::string& hex) {
    return hex.substr(0, 12) + "…";
}

// The largest block pgtier writes in a format (zstd: archives of every version and level).
std::size_t largest_block(CompressionFormat format) {
    return format == CompressionFormat::zstd ? ArchiveWriter::zstd_max_frame_size
                                             : ArchiveWriter::bzip2_block_size;
}

// The text one chunk may hold: pgtier's blocks decode to the block size; a chunk that decodes
// to more (a foreign archive, a compression bomb) is streamed by the calling thread instead.
std::size_t max_chunk_text(CompressionFormat format) {
    return 4 * largest_block(format);
}

// Per pool thread, kept from chunk to chunk: libbz2's memory, zstd's context, a buffer.
thread_local std::unique_ptr<Inflater> task_inflaters[2];
thread_local std::vector<char> task_buffer;

// Decodes a chunk on its own: true when every byte decoded and the last stream (frame) ended
// with the last byte, as it does for a chunk cut at stream starts of sound data.
bool decode_alone(CompressionFormat format, const std::string& bytes, std::string& text) {
    auto& inflater = task_inflaters[format == CompressionFormat::zstd ? 1 : 0];
    if (!inflater) {
        inflater = Inflater::create(format);
    } else {
        inflater->reset();
    }
    task_buffer.resize(decode_buffer_size);
    text.reserve(largest_block(format));  // untouched pages cost no memory
    const std::size_t cap = max_chunk_text(format);
    std::size_t pos = 0;
    bool ended = false;
    bool more_output = false;
    while (pos < bytes.size() || more_output) {
        const auto step = inflater->step(bytes.data() + pos, bytes.size() - pos, task_buffer.data(),
                                         task_buffer.size());
        if (!step.error.empty()) return false;
        if (step.consumed == 0 && step.produced == 0 && !step.stream_end) return false;
        pos += step.consumed;
        if (text.size() + step.produced > cap) return false;
        text.append(task_buffer.data(), step.produced);
        ended = step.stream_end;
        more_output = step.produced == task_buffer.size() && !step.stream_end;
    }
    return ended;
}

}  // namespace

std::string section_label(const SectionEntry& section) {
    return section.kind == SectionKind::globals
               ? "globals"
               : "database \"" + printable(*section.database) + "\"";
}

struct SectionDecoder::Chunk {
    std::string bytes;
    std::string text;
    bool done = false;   // under mutex_
    bool clean = false;  // decoded alone (decode_alone)
};

std::size_t SectionDecoder::find_bzip2_stream(std::string_view data, std::size_t from) {
    for (std::size_t pos = data.find("BZh", from);
         pos != std::string_view::npos && pos + bzip2_start_size <= data.size();
         pos = data.find("BZh", pos + 1)) {
        const char level = data[pos + 3];
        if (level < '1' || level > '9') continue;
        const char* magic = data.data() + pos + 4;
        if (std::memcmp(magic, bzip2_block_magic, 6) == 0 ||
            std::memcmp(magic, bzip2_end_magic, 6) == 0)
            return pos;
    }
    return std::string_view::npos;
}

SectionDecoder::SectionDecoder(std::string label, Decoding decoding)
    : label_(std::move(label)),
      decoding_(decoding),
      inflater_(Inflater::create(decoding.format)),
      out_(decode_buffer_size) {
    if (decoding_.pool != nullptr && decoding_.pool->size() > 1) {
        // Chunks counted as blocks of the default level's size (bzip2: every level's). A zstd
        // archive of larger frames (a higher level, an older pgtier) holds more per chunk.
        window_ = ArchiveWriter::default_window(
            ArchiveWriter::default_block_size(decoding.format,
                                              compression_levels(decoding.format).default_level),
            decoding_.pool->size());
    } else {
        decoding_.pool = nullptr;  // one thread: decoded here, without copies
    }
}

SectionDecoder::~SectionDecoder() {
    stop_tasks();
}

const char* SectionDecoder::unit() const {
    return inflater_->unit();
}

void SectionDecoder::stop_tasks() {
    // The pool's threads hold pointers to this decoder's chunks until they report them done.
    std::unique_lock lock(mutex_);
    cancelled_ = true;
    chunk_done_.wait(lock, [&] { return running_ == 0; });
}

void SectionDecoder::emit(std::string_view text, const TextSink& sink) {
    if (text.empty()) return;
    decoded_ += text.size();
    if (sink) sink(text);
    const std::size_t keep = std::min<std::size_t>(text.size(), 2048);
    tail_.append(text.data() + text.size() - keep, keep);
    if (tail_.size() > 4096) tail_.erase(0, tail_.size() - 2048);
}

// zstd frames are decoded whole, each from one buffer: ZSTD_decompressStream does not report the
// text it wrote in a call that then fails (a checksum, a bad block), so how much text comes
// before an error would otherwise depend on how the bytes were fed (read sizes, chunks). This way
// the text and the error are the same however the section is read and on however many threads.
// A frame larger than max_pending (not pgtier's) is streamed as it comes.
void SectionDecoder::feed_serial(const char* data, std::size_t size, const TextSink& sink) {
    if (decoding_.format != CompressionFormat::zstd || streaming_) {
        decode_serial(data, size, sink);
        return;
    }
    frame_buffer_.append(data, size);
    std::size_t used = 0;
    while (used < frame_buffer_.size() && !corrupt()) {
        const std::size_t frame =
            ZSTD_findFrameCompressedSize(frame_buffer_.data() + used, frame_buffer_.size() - used);
        if (!ZSTD_isError(frame)) {
            decode_serial(frame_buffer_.data() + used, frame, sink);
            used += frame;
        } else if (ZSTD_getErrorCode(frame) != ZSTD_error_srcSize_wrong ||
                   frame_buffer_.size() - used > max_pending) {
            // Not a frame (the decoder names the fault), or too large to hold.
            streaming_ = true;
            decode_serial(frame_buffer_.data() + used, frame_buffer_.size() - used, sink);
            used = frame_buffer_.size();
        } else {
            break;  // the rest of the frame is still to come
        }
    }
    frame_buffer_.erase(0, used);
}

void SectionDecoder::decode_serial(const char* data, std::size_t size, const TextSink& sink) {
    bool more_output = false;  // the buffer was filled: the decoder may hold more text
    while ((size > 0 || more_output) && !corrupt()) {
        const auto step = inflater_->step(data, size, out_.data(), out_.size());
        data += step.consumed;
        size -= step.consumed;
        emit(std::string_view(out_.data(), step.produced), sink);
        if (step.stream_end) {
            stream_ended_ = true;
        } else if (step.consumed > 0 || step.produced > 0) {
            stream_ended_ = false;
        }
        if (!step.error.empty()) {
            corruption_ = label_ + ": " + step.error + " after " + num(decoded_) + " decoded bytes";
        } else if (size > 0 && step.consumed == 0 && step.produced == 0 && !step.stream_end) {
            corruption_ = label_ + ": the " + unit() + " decoder made no progress after " +
                          num(decoded_) + " decoded bytes";
        }
        more_output = step.produced == out_.size() && !step.stream_end;
    }
}

void SectionDecoder::feed(const char* data, std::size_t size, const TextSink& sink) {
    if (corrupt()) return;
    if (decoding_.pool == nullptr || serial_) {
        feed_serial(data, size, sink);
        return;
    }
    pending_.append(data, size);
    cut_chunks(false, sink);
    // Pass on the text that is ready, without waiting.
    while (!serial_ && !chunks_.empty()) {
        {
            std::lock_guard lock(mutex_);
            if (!chunks_.front()->done) break;
        }
        emit_front(sink);
    }
}

void SectionDecoder::finish(const TextSink& sink) {
    if (corrupt()) return;
    if (decoding_.pool != nullptr && !serial_) {
        cut_chunks(true, sink);
        while (!serial_ && !chunks_.empty()) emit_front(sink);
    }
    // A frame cut short: decoded as far as it goes (it ends inside the frame).
    if (!corrupt() && !frame_buffer_.empty()) {
        const std::string rest = std::move(frame_buffer_);
        frame_buffer_.clear();
        decode_serial(rest.data(), rest.size(), sink);
    }
}

void SectionDecoder::cut_chunks(bool last, const TextSink& sink) {
    while (!serial_ && !pending_.empty()) {
        std::size_t size = 0;  // of the next chunk; 0: not known yet
        if (decoding_.format == CompressionFormat::zstd) {
            const std::size_t frame =
                ZSTD_findFrameCompressedSize(pending_.data(), pending_.size());
            if (!ZSTD_isError(frame)) {
                size = frame;
            } else if (last || ZSTD_getErrorCode(frame) != ZSTD_error_srcSize_wrong) {
                // Not a frame, or cut short: the calling thread's decoder names the fault.
                fall_back(sink);
                return;
            }
        } else {
            // pending_ starts at a stream start: the next one ends the chunk.
            const std::size_t from = std::max<std::size_t>(scanned_, 1);
            const std::size_t start = find_bzip2_stream(pending_, from);
            if (start != std::string::npos) {
                size = start;
            } else if (last) {
                size = pending_.size();
            } else if (pending_.size() >= from + bzip2_start_size) {
                scanned_ = pending_.size() - bzip2_start_size + 1;
            }
        }
        if (size == 0) break;
        while (!serial_ && chunks_.size() >= window_) emit_front(sink);
        if (serial_) return;  // pending_ went to the calling thread's decoder
        auto chunk = std::make_unique<Chunk>();
        chunk->bytes.assign(pending_, 0, size);
        pending_.erase(0, size);
        scanned_ = 0;
        Chunk* raw = chunk.get();
        {
            std::lock_guard lock(mutex_);
            ++running_;
        }
        chunks_.push_back(std::move(chunk));
        decoding_.pool->submit([this, raw] { decode_chunk(raw); });
    }
    if (!serial_ && pending_.size() > max_pending) fall_back(sink);
}

void SectionDecoder::decode_chunk(Chunk* chunk) {
    bool skip = false;
    {
        std::lock_guard lock(mutex_);
        skip = cancelled_;
    }
    bool clean = false;
    if (!skip) {
        try {
            clean = decode_alone(decoding_.format, chunk->bytes, chunk->text);
        } catch (...) {
            clean = false;  // out of memory: the calling thread decodes it
        }
    }
    // Notified under the lock: once running_ reaches 0 the decoder may be destroyed.
    std::lock_guard lock(mutex_);
    chunk->clean = clean;
    chunk->done = true;
    --running_;
    chunk_done_.notify_all();
}

void SectionDecoder::emit_front(const TextSink& sink) {
    Chunk& chunk = *chunks_.front();
    {
        std::unique_lock lock(mutex_);
        chunk_done_.wait(lock, [&] { return chunk.done; });
    }
    if (!chunk.clean) {
        fall_back(sink);
        return;
    }
    // Each chunk is whole streams, so a decode on one thread would be at a stream's end here.
    emit(chunk.text, sink);
    stream_ended_ = true;
    ++pooled_chunks_;
    chunks_.pop_front();
}

// The first chunk in flight that did not decode alone, the chunks after it and the bytes not
// yet cut are decoded on this thread, from a stream start, as a decode on one thread would.
void SectionDecoder::fall_back(const TextSink& sink) {
    // The chunks before it are passed on first (they decoded alone).
    while (!chunks_.empty()) {
        Chunk& front = *chunks_.front();
        {
            std::unique_lock lock(mutex_);
            chunk_done_.wait(lock, [&] { return front.done; });
        }
        if (!front.clean) break;
        emit(front.text, sink);
        stream_ended_ = true;
        ++pooled_chunks_;
        chunks_.pop_front();
    }
    stop_tasks();
    serial_ = true;
    auto chunks = std::move(chunks_);
    chunks_.clear();
    std::string rest = std::move(pending_);
    pending_.clear();
    for (const auto& chunk : chunks) feed_serial(chunk->bytes.data(), chunk->bytes.size(), sink);
    feed_serial(rest.data(), rest.size(), sink);
}

bool SectionVerdict::has(SectionFault fault) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const SectionProblem& p) { return p.fault == fault; });
}

SectionCheck::SectionCheck(const SectionEntry& entry, Decoding decoding, TextSink sink, Mode mode)
    : entry_(entry), label_("section " + section_label(entry)), sink_(std::move(sink)) {
    if (mode == Mode::decode) decoder_.emplace(label_, decoding);
}

// Called after each use of a decoder that was not corrupt before it.
void SectionCheck::note_corruption() {
    if (decoder_->corrupt()) problems_.push_back({SectionFault::corrupt, decoder_->corruption()});
}

void SectionCheck::feed(const char* data, std::size_t size) {
    hash_.update(data, size);  // every byte, also those after a decode error
    if (!decoder_ || decoder_->corrupt()) return;
    decoder_->feed(data, size, sink_);
    note_corruption();
}

void SectionCheck::fail(SectionFault fault, std::string text) {
    problems_.push_back({fault, label_ + ": " + std::move(text)});
}

SectionVerdict SectionCheck::finish() {
    if (decoder_ && !decoder_->corrupt()) {
        decoder_->finish(sink_);
        note_corruption();
    }
    SectionVerdict verdict;
    verdict.sha256 = hash_.hex_digest();
    if (verdict.sha256 != entry_.sha256) {
        fail(SectionFault::sha256, "SHA-256 is " + short_hash(verdict.sha256) + ", manifest says " +
                                       short_hash(entry_.sha256));
    }
    if (decoder_) {
        verdict.decoded = decoder_->decoded();
        if (!decoder_->corrupt()) {
            if (!decoder_->ended_cleanly()) {
                fail(SectionFault::cut_short,
                     "its " + num(entry_.length) + " bytes end inside a " + decoder_->unit());
            } else {
                if (decoder_->decoded() != entry_.uncompressed_length) {
                    fail(SectionFault::length, "decodes to " + num(decoder_->decoded()) +
                                                   " bytes, manifest says " +
                                                   num(entry_.uncompressed_length));
                }
                if (!has_dump_trailer(decoder_->tail())) {
                    fail(SectionFault::trailer, "no \"dump complete\" trailer");
                }
            }
        }
    }
    verdict.problems = problems_;
    return verdict;
}

}  // namespace pgtier
