#include "pgtier/archive/compressor.hpp"

#include <bzlib.h>
#include <zstd.h>

#include <algorithm>

#include "bzip2_memory.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

namespace {

// Per pool thread, kept from block to block (see ReusedBzipMemory).
thread_local ReusedBzipMemory bzip_memory;

void compress_bzip2(const std::vector<char>& input, CompressedBytes& output, int level) {
    // bzip2's documented bound: 1% larger plus 600 bytes.
    output.resize(input.size() + input.size() / 100 + 600);
    bzip_memory.rewind();
    bz_stream stream{};
    stream.bzalloc = ReusedBzipMemory::alloc;
    stream.bzfree = ReusedBzipMemory::free;
    stream.opaque = &bzip_memory;
    int rc = BZ2_bzCompressInit(&stream, level, 0, 0);
    if (rc != BZ_OK)
        throw Error("bzip2 compression failed to start (code " + std::to_string(rc) + ")");
    static char empty_input = 0;  // libbz2 wants a non-null pointer even for zero bytes
    stream.next_in = input.empty() ? &empty_input : const_cast<char*>(input.data());
    stream.avail_in = static_cast<unsigned int>(input.size());
    stream.next_out = output.data();
    stream.avail_out = static_cast<unsigned int>(output.size());
    do {
        rc = BZ2_bzCompress(&stream, BZ_FINISH);
    } while (rc == BZ_FINISH_OK && stream.avail_out > 0);
    const std::size_t written = output.size() - stream.avail_out;
    BZ2_bzCompressEnd(&stream);
    if (rc != BZ_STREAM_END)
        throw Error("bzip2 compression failed (code " + std::to_string(rc) + ")");
    output.resize(written);
}

struct FreeCCtx {
    void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};
// Per pool thread: a context keeps its tables from frame to frame.
thread_local std::unique_ptr<ZSTD_CCtx, FreeCCtx> zstd_context;

void check_zstd(std::size_t rc, const char* what) {
    if (ZSTD_isError(rc))
        throw Error(std::string("zstd compression failed (") + what + ": " + ZSTD_getErrorName(rc) +
                    ")");
}

void compress_zstd(const std::vector<char>& input, CompressedBytes& output, int level) {
    if (!zstd_context) zstd_context.reset(ZSTD_createCCtx());
    if (!zstd_context) throw Error("zstd compression failed to start (out of memory)");
    ZSTD_CCtx* cctx = zstd_context.get();
    check_zstd(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters), "reset");
    check_zstd(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level), "level");
    // A checksum per frame: zstdcat and pgtier's decoder find corrupt text, as bzip2's CRCs do.
    check_zstd(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "checksum");
    output.resize(ZSTD_compressBound(input.size()));
    const std::size_t written =
        ZSTD_compress2(cctx, output.data(), output.size(), input.data(), input.size());
    check_zstd(written, "frame");
    output.resize(written);
}

}  // namespace

std::size_t ArchiveWriter::zstd_frame_size(int level) {
    // zstd's window for an input of unknown size (lib/compress/clevels.h, libzstd 1.4-1.5),
    // written here so that the byte format does not follow the library's version.
    const int window_log = level <= 1    ? 19
                           : level == 2  ? 20
                           : level <= 8  ? 21
                           : level <= 16 ? 22
                                         : 23;
    return std::clamp(std::size_t{1} << window_log, zstd_min_frame_size, zstd_max_frame_size);
}

std::size_t ArchiveWriter::default_block_size(CompressionFormat format, int level) {
    return format == CompressionFormat::zstd ? zstd_frame_size(level) : bzip2_block_size;
}

std::size_t ArchiveWriter::default_window(std::size_t block_size, std::size_t pool_threads,
                                          std::size_t writers) {
    constexpr std::size_t input_budget = std::size_t{64} << 20;
    const std::size_t by_memory = input_budget / std::max<std::size_t>(block_size, 1);
    const std::size_t all = std::min(2 * pool_threads + 1, by_memory);
    const std::size_t share = std::max<std::size_t>(writers, 1);
    return std::max<std::size_t>(2, (all + share - 1) / share);
}

ArchiveWriter::ArchiveWriter(int fd, const CompressionSettings& settings, WorkerPool& pool)
    : own_output_(std::make_unique<ArchiveOutput>(fd, std::vector<age::Recipient>{})),
      output_(*own_output_),
      settings_(settings),
      pool_(pool) {
    choose_window();
}

ArchiveWriter::ArchiveWriter(ArchiveOutput& output, const CompressionSettings& settings,
                             WorkerPool& pool)
    : output_(output), settings_(settings), pool_(pool) {
    choose_window();
}

void ArchiveWriter::choose_window() {
    if (settings_.block_size == 0)
        settings_.block_size = default_block_size(settings_.format, settings_.level);
    window_ = settings_.window != 0 ? settings_.window
                                    : default_window(settings_.block_size, pool_.size());
}

ArchiveWriter::~ArchiveWriter() {
    // The pool's threads hold pointers to this writer's blocks until they report them done.
    std::unique_lock lock(mutex_);
    cancelled_ = true;
    block_done_.wait(lock, [&] { return running_ == 0; });
}

void ArchiveWriter::begin_section() {
    if (in_section_) end_section();
    in_section_ = true;
}

void ArchiveWriter::write(const char* data, std::size_t size) {
    bytes_in_ += size;
    const std::size_t block_size = settings_.block_size;
    while (size > 0) {
        if (!current_) current_ = take_free_block();
        const std::size_t room = block_size - current_->input.size();
        const std::size_t take = std::min(room, size);
        current_->input.insert(current_->input.end(), data, data + take);
        data += take;
        size -= take;
        if (current_->input.size() == block_size) submit_current(false);
    }
}

// Blocks are recycled so their buffers keep their capacity: no allocation per block.
std::unique_ptr<ArchiveWriter::Block> ArchiveWriter::take_free_block() {
    std::unique_ptr<Block> block;
    if (!free_blocks_.empty()) {
        block = std::move(free_blocks_.back());
        free_blocks_.pop_back();
    } else {
        block = std::make_unique<Block>();
        block->input.reserve(settings_.block_size);
    }
    block->input.clear();
    block->output.clear();
    block->done = false;
    block->error = nullptr;
    return block;
}

void ArchiveWriter::end_section() {
    if (!in_section_) return;
    // Always close the section with a block (possibly empty): its stream ends here.
    if (!current_) current_ = take_free_block();
    submit_current(true);
    in_section_ = false;
    ++section_index_;
}

void ArchiveWriter::submit_current(bool last_of_section) {
    while (in_flight_.size() >= window_) write_front();
    auto block = std::move(current_);
    block->section = section_index_;
    block->last_of_section = last_of_section;
    Block* raw = block.get();
    {
        std::lock_guard lock(mutex_);
        ++running_;
    }
    in_flight_.push_back(std::move(block));
    pool_.submit([this, raw] { compress(raw); });
    write_ready();
}

void ArchiveWriter::compress(Block* block) {
    bool skip = false;
    {
        std::lock_guard lock(mutex_);
        skip = cancelled_;
    }
    std::exception_ptr error;
    if (!skip) {
        try {
            if (settings_.format == CompressionFormat::zstd) {
                compress_zstd(block->input, block->output, settings_.level);
            } else {
                compress_bzip2(block->input, block->output, settings_.level);
            }
        } catch (...) {
            error = std::current_exception();
        }
    }
    // Notified under the lock: once running_ reaches 0 the writer may be destroyed.
    std::lock_guard lock(mutex_);
    block->error = error;
    block->done = true;
    --running_;
    block_done_.notify_all();
}

void ArchiveWriter::write_ready() {
    for (;;) {
        if (in_flight_.empty()) return;
        {
            std::lock_guard lock(mutex_);
            if (!in_flight_.front()->done) return;
        }
        write_front();
    }
}

void ArchiveWriter::write_front() {
    if (failure_) std::rethrow_exception(failure_);  // the file is no longer whole
    Block& block = *in_flight_.front();
    {
        std::unique_lock lock(mutex_);
        block_done_.wait(lock, [&] { return block.done; });
    }
    try {
        if (block.error) std::rethrow_exception(block.error);
        append(block);
    } catch (...) {
        failure_ = std::current_exception();
        throw;
    }
    if (free_blocks_.size() < window_) free_blocks_.push_back(std::move(in_flight_.front()));
    in_flight_.pop_front();
}

void ArchiveWriter::append(const Block& block) {
    if (block.section != open_section_) {
        open_section_ = block.section;
        section_ = CompressedSection{};
        section_.offset = output_.stream_size();
        section_hash_ = Sha256();
    }
    output_.write(block.output.data(), block.output.size());
    section_hash_.update(block.output.data(), block.output.size());
    section_.length += block.output.size();
    section_.uncompressed_length += block.input.size();
    if (block.last_of_section) {
        section_.sha256 = section_hash_.hex_digest();
        sections_.push_back(section_);
    }
}

CompressedTotals ArchiveWriter::finish() {
    if (in_section_) end_section();
    while (!in_flight_.empty()) write_front();
    CompressedTotals totals;
    output_.finish();
    totals.compressed_size = output_.file_size();
    totals.stream_size = output_.stream_size();
    totals.uncompressed_size = bytes_in_;
    totals.sha256 = output_.file_sha256();
    totals.sections = sections_;
    return totals;
}

}  // namespace pgtier
