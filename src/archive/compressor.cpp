#include "pgtier/archive/compressor.hpp"

#include <bzlib.h>
#include <unistd.h>

#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

namespace {

// libbz2 allocates about 7.6 MB of work memory per stream at level 9 (four allocations, the
// same sizes in the same order every time). Fresh memory per 900 kB block cost a page fault
// storm (measured: 124,000 faults and ~45% more CPU than bzip2 on a 220 MB dump), so each
// compressor thread keeps its allocations and hands them back to libbz2 for every block.
class ReusedBzipMemory {
  public:
    void rewind() { next_ = 0; }
    void* take(std::size_t size) {
        if (next_ == chunks_.size()) chunks_.push_back({});
        auto& chunk = chunks_[next_++];
        if (chunk.size < size) {
            chunk.memory = std::make_unique<char[]>(size);
            chunk.size = size;
        }
        return chunk.memory.get();
    }

  private:
    struct Chunk {
        std::unique_ptr<char[]> memory;
        std::size_t size = 0;
    };
    std::vector<Chunk> chunks_;
    std::size_t next_ = 0;
};

void* reuse_alloc(void* opaque, int count, int size) {
    return static_cast<ReusedBzipMemory*>(opaque)->take(static_cast<std::size_t>(count) *
                                                        static_cast<std::size_t>(size));
}
void reuse_free(void*, void*) {}  // kept for the next block

void compress_block(const std::vector<char>& input, std::vector<char>& output, int level,
                    ReusedBzipMemory& memory) {
    // bzip2's documented bound: 1% larger plus 600 bytes.
    output.resize(input.size() + input.size() / 100 + 600);
    memory.rewind();
    bz_stream stream{};
    stream.bzalloc = reuse_alloc;
    stream.bzfree = reuse_free;
    stream.opaque = &memory;
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

}  // namespace

ParallelBzip2Writer::ParallelBzip2Writer(int fd, int level, int threads, std::size_t block_size)
    : fd_(fd), level_(level), block_size_(block_size) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    max_in_flight_ = 2 * static_cast<std::size_t>(threads) + 1;
    for (int i = 0; i < threads; ++i) compressors_.emplace_back([this] { compressor_loop(); });
    writer_ = std::thread([this] { writer_loop(); });
}

ParallelBzip2Writer::~ParallelBzip2Writer() {
    shut_down();
}

void ParallelBzip2Writer::shut_down() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    block_done_.notify_all();
    space_free_.notify_all();
    if (writer_.joinable()) writer_.join();
    for (auto& t : compressors_) {
        if (t.joinable()) t.join();
    }
}

void ParallelBzip2Writer::begin_section() {
    if (in_section_) end_section();
    in_section_ = true;
}

void ParallelBzip2Writer::write(const char* data, std::size_t size) {
    bytes_in_ += size;
    while (size > 0) {
        if (!current_) current_ = take_free_block();
        const std::size_t room = block_size_ - current_->input.size();
        const std::size_t take = std::min(room, size);
        current_->input.insert(current_->input.end(), data, data + take);
        data += take;
        size -= take;
        if (current_->input.size() == block_size_) submit_current(false);
    }
}

// Blocks are recycled so their buffers keep their capacity: no allocation per block.
std::unique_ptr<ParallelBzip2Writer::Block> ParallelBzip2Writer::take_free_block() {
    std::unique_ptr<Block> block;
    {
        std::lock_guard lock(mutex_);
        if (!free_blocks_.empty()) {
            block = std::move(free_blocks_.back());
            free_blocks_.pop_back();
        }
    }
    if (!block) {
        block = std::make_unique<Block>();
        block->input.reserve(block_size_);
    }
    block->input.clear();
    block->output.clear();
    block->done = false;
    return block;
}

void ParallelBzip2Writer::end_section() {
    if (!in_section_) return;
    // Always close the section with a block (possibly empty): its stream ends here.
    if (!current_) current_ = take_free_block();
    submit_current(true);
    in_section_ = false;
    ++section_index_;
}

void ParallelBzip2Writer::submit_current(bool last_of_section) {
    auto block = std::move(current_);
    block->section = section_index_;
    block->last_of_section = last_of_section;
    block->input_size = block->input.size();
    std::unique_lock lock(mutex_);
    space_free_.wait(lock,
                     [&] { return in_flight_.size() < max_in_flight_ || failure_ || stopping_; });
    rethrow_if_failed();
    block->sequence = next_sequence_++;
    Block* raw = block.get();
    in_flight_.emplace(raw->sequence, std::move(block));
    to_compress_.push_back(raw);
    work_ready_.notify_one();
}

void ParallelBzip2Writer::rethrow_if_failed() {
    if (failure_) std::rethrow_exception(failure_);
}

void ParallelBzip2Writer::compressor_loop() {
    ReusedBzipMemory memory;
    for (;;) {
        Block* block = nullptr;
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait(lock, [&] { return stopping_ || !to_compress_.empty(); });
            if (stopping_) return;
            block = to_compress_.front();
            to_compress_.pop_front();
        }
        try {
            compress_block(block->input, block->output, level_, memory);
        } catch (...) {
            std::lock_guard lock(mutex_);
            if (!failure_) failure_ = std::current_exception();
        }
        {
            std::lock_guard lock(mutex_);
            block->done = true;
        }
        block_done_.notify_all();
        space_free_.notify_all();
    }
}

void ParallelBzip2Writer::writer_loop() {
    std::size_t open_section = static_cast<std::size_t>(-1);
    CompressedSection section;
    for (;;) {
        Block* block = nullptr;
        {
            std::unique_lock lock(mutex_);
            block_done_.wait(lock, [&] {
                if (stopping_ || failure_) return true;
                auto it = in_flight_.find(next_to_write_);
                return it != in_flight_.end() && it->second->done;
            });
            if (stopping_ || failure_) return;
            block = in_flight_.find(next_to_write_)->second.get();
        }
        try {
            if (block->section != open_section) {
                open_section = block->section;
                section = CompressedSection{};
                section.offset = file_offset_;
                section_hash_ = Sha256();
            }
            write_all(fd_, block->output.data(), block->output.size(), "the archive");
            file_hash_.update(block->output.data(), block->output.size());
            section_hash_.update(block->output.data(), block->output.size());
            file_offset_ += block->output.size();
            section.length += block->output.size();
            section.uncompressed_length += block->input_size;
            if (block->last_of_section) {
                section.sha256 = section_hash_.hex_digest();
                std::lock_guard lock(mutex_);
                sections_.push_back(section);
            }
        } catch (...) {
            std::lock_guard lock(mutex_);
            failure_ = std::current_exception();
            space_free_.notify_all();
            return;
        }
        {
            std::lock_guard lock(mutex_);
            auto it = in_flight_.find(next_to_write_);
            free_blocks_.push_back(std::move(it->second));
            in_flight_.erase(it);
            ++next_to_write_;
        }
        space_free_.notify_all();
    }
}

CompressedTotals ParallelBzip2Writer::finish() {
    if (in_section_) end_section();
    {
        std::unique_lock lock(mutex_);
        space_free_.wait(lock, [&] { return in_flight_.empty() || failure_; });
        rethrow_if_failed();
    }
    shut_down();
    CompressedTotals totals;
    totals.compressed_size = file_offset_;
    totals.uncompressed_size = bytes_in_;
    totals.sha256 = file_hash_.hex_digest();
    totals.sections = sections_;
    return totals;
}

}  // namespace pgtier
