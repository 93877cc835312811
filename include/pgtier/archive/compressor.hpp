#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pgtier/archive/archive_output.hpp"
#include "pgtier/archive/sha256.hpp"
#include "pgtier/archive/worker_pool.hpp"
#include "pgtier/core/compression.hpp"

namespace pgtier {

struct CompressedSection {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t uncompressed_length = 0;
    std::string sha256;  // of its compressed bytes
};

struct CompressedTotals {
    std::uint64_t compressed_size = 0;  // the file's size
    std::uint64_t stream_size = 0;      // the compressed stream's (differs in an age file)
    std::uint64_t uncompressed_size = 0;
    std::string sha256;  // of the whole file
    std::vector<CompressedSection> sections;
};

struct CompressionSettings {
    CompressionFormat format = CompressionFormat::bzip2;
    int level = 9;
    // Input bytes per independent block (bzip2 stream, zstd frame); 0: the format's default.
    std::size_t block_size = 0;
    // Blocks this writer keeps in flight (queued, compressing or waiting to be written); 0:
    // default_window() for one writer. Writers sharing a pool each have their own: N writers
    // at once should each take default_window(block_size, pool threads, N).
    std::size_t window = 0;
};

// A vector whose resize() leaves new bytes uninitialized: a block's output is sized to the
// compressor's bound, of which it writes a fraction, and pages never written cost no memory.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = UninitializedAllocator<U>;
    };
    template <class U>
    void construct(U* place) noexcept {
        ::new (static_cast<void*>(place)) U;
    }
    template <class U, class... Args>
    void construct(U* place, Args&&... args) {
        ::new (static_cast<void*>(place)) U(std::forward<Args>(args)...);
    }
};
using CompressedBytes = std::vector<char, UninitializedAllocator<char>>;

// Streams data into a file as standard bzip2 or zstd: input is cut into blocks of at most
// `block_size` bytes, each compressed as an independent bzip2 stream or zstd frame by the
// threads of a WorkerPool and written in order, so `bzcat` / `zstdcat` read the concatenation.
// A section never shares a block with another and always ends with one (possibly empty), so
// each section decodes alone from its offset. Memory is bounded by the window: at most that many
// blocks (input and output) per writer, plus the pool threads' compression memory.
class ArchiveWriter {
  public:
    // bzip2 -9 holds 899,981 bytes per block (after its run-length step); a little less keeps
    // each stream to a single block for ordinary text. The byte format of bzip2 archives.
    static constexpr std::size_t bzip2_block_size = 899'000;
    // A zstd frame holds as much input as the level's window (zstd's own parameters for an
    // input of unknown size: 2 MiB at the default level 3, 8 MiB at 17-19), at least 2 MiB: a
    // longer frame would find no match further back, and every frame in flight, compressing or
    // decoding, is held whole. Archives written before this cut frames at 8 MiB whatever the
    // level; the largest frame pgtier writes is the decoders' bound.
    static constexpr std::size_t zstd_min_frame_size = std::size_t{2} << 20;
    static constexpr std::size_t zstd_max_frame_size = std::size_t{8} << 20;
    static std::size_t zstd_frame_size(int level);
    // The block size for a format at a level (bzip2: always bzip2_block_size).
    static std::size_t default_block_size(CompressionFormat format, int level);
    // 2 blocks per pool thread plus one (every thread busy while finished blocks wait to be
    // written), but no more than 64 MiB of input, shared by `writers` writers compressing at
    // once on one pool (so their memory together is that of one writer), and at least 2 blocks
    // per writer (one filling while one compresses).
    static std::size_t default_window(std::size_t block_size, std::size_t pool_threads,
                                      std::size_t writers = 1);

    // The writer must not outlive `pool`; several writers may share it, from different threads
    // (one thread per writer). It writes into `output`, which it finishes in finish(); or into
    // the plain file `fd`.
    ArchiveWriter(ArchiveOutput& output, const CompressionSettings& settings, WorkerPool& pool);
    ArchiveWriter(int fd, const CompressionSettings& settings, WorkerPool& pool);
    // Without finish() (an error path): stops its queued blocks and waits for those running.
    ~ArchiveWriter();
    ArchiveWriter(const ArchiveWriter&) = delete;
    ArchiveWriter& operator=(const ArchiveWriter&) = delete;

    void begin_section();
    // Throws Error when an earlier block failed to compress or be written.
    void write(const char* data, std::size_t size);
    void end_section();
    // Waits for every block to be written. Throws Error if writing failed (disk full, …).
    CompressedTotals finish();

    std::uint64_t bytes_in() const { return bytes_in_; }
    std::size_t window() const { return window_; }

  private:
    struct Block {
        std::size_t section = 0;
        bool last_of_section = false;
        std::vector<char> input;
        CompressedBytes output;
        bool done = false;  // under mutex_
        std::exception_ptr error;
    };

    void choose_window();
    std::unique_ptr<Block> take_free_block();
    void submit_current(bool last_of_section);
    void compress(Block* block);
    void write_front();               // waits for the oldest block, then writes it
    void write_ready();               // writes the oldest blocks that are done, without waiting
    void append(const Block& block);  // to the file, the hashes and the section records

    std::unique_ptr<ArchiveOutput> own_output_;  // the fd constructor's
    ArchiveOutput& output_;
    CompressionSettings settings_;
    WorkerPool& pool_;
    std::size_t window_;

    // The calling thread's: blocks in order, the one being filled, recycled ones.
    std::deque<std::unique_ptr<Block>> in_flight_;
    std::unique_ptr<Block> current_;
    std::vector<std::unique_ptr<Block>> free_blocks_;
    bool in_section_ = false;
    std::size_t section_index_ = 0;
    std::uint64_t bytes_in_ = 0;
    std::size_t open_section_ = static_cast<std::size_t>(-1);
    CompressedSection section_;
    Sha256 section_hash_;
    std::vector<CompressedSection> sections_;
    std::exception_ptr failure_;  // a block failed or the file could not be written

    // Shared with the pool's threads.
    std::mutex mutex_;
    std::condition_variable block_done_;
    std::size_t running_ = 0;  // blocks queued in the pool or compressing
    bool cancelled_ = false;
};

}  // namespace pgtier
