#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgtier/archive/sha256.hpp"

namespace pgtier {

struct CompressedSection {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t uncompressed_length = 0;
    std::string sha256;  // of its compressed bytes
};

struct CompressedTotals {
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::string sha256;  // of the whole file
    std::vector<CompressedSection> sections;
};

// Streams data into a file as standard bzip2: input is cut into blocks of at most
// `block_size` bytes, each compressed as an independent bzip2 stream by a pool of threads and
// written in order, so `bzcat` reads the concatenation. A section never shares a stream with
// another, so each section can be decompressed alone from its offset. Memory is bounded: at
// most 2 * threads + 1 blocks are in flight.
class ParallelBzip2Writer {
  public:
    // bzip2 -9 holds 899,981 bytes per block (after its run-length step); a little less keeps
    // each stream to a single block for ordinary text.
    static constexpr std::size_t default_block_size = 899'000;

    ParallelBzip2Writer(int fd, int level, int threads,
                        std::size_t block_size = default_block_size);
    ~ParallelBzip2Writer();
    ParallelBzip2Writer(const ParallelBzip2Writer&) = delete;
    ParallelBzip2Writer& operator=(const ParallelBzip2Writer&) = delete;

    void begin_section();
    void write(const char* data, std::size_t size);
    void end_section();
    // Waits for every block to be written. Throws Error if writing failed (disk full, …).
    CompressedTotals finish();

    std::uint64_t bytes_in() const { return bytes_in_; }

  private:
    struct Block {
        std::uint64_t sequence = 0;
        std::size_t section = 0;
        bool last_of_section = false;
        std::size_t input_size = 0;
        std::vector<char> input;
        std::vector<char> output;
        bool done = false;
    };

    std::unique_ptr<Block> take_free_block();
    void submit_current(bool last_of_section);
    void compressor_loop();
    void writer_loop();
    void rethrow_if_failed();
    void shut_down();

    int fd_;
    int level_;
    std::size_t block_size_;
    std::size_t max_in_flight_;

    std::unique_ptr<Block> current_;
    bool in_section_ = false;
    std::size_t section_index_ = 0;
    std::uint64_t next_sequence_ = 0;
    std::uint64_t bytes_in_ = 0;

    std::mutex mutex_;
    std::condition_variable work_ready_;  // compressors wait for input
    std::condition_variable block_done_;  // writer waits for the next block in order
    std::condition_variable space_free_;  // producer waits for room
    std::deque<Block*> to_compress_;
    std::map<std::uint64_t, std::unique_ptr<Block>> in_flight_;
    std::vector<std::unique_ptr<Block>> free_blocks_;
    std::uint64_t next_to_write_ = 0;
    bool stopping_ = false;
    std::exception_ptr failure_;

    // Owned by the writer thread until finish() joins it.
    std::uint64_t file_offset_ = 0;
    Sha256 file_hash_;
    Sha256 section_hash_;
    std::vector<CompressedSection> sections_;

    std::vector<std::thread> compressors_;
    std::thread writer_;
};

}  // namespace pgtier
