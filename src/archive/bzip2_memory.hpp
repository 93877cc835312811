#pragma once
// Internal to src/archive: libbz2 work memory kept by a thread from stream to stream.
#include <cstddef>
#include <memory>
#include <vector>

namespace pgtier {

// libbz2 allocates about 7.6 MB of work memory per stream at level 9 to compress (about 3.6 MB
// to decompress; the same sizes in the same order every time). Fresh memory per 900 kB block
// cost a page fault storm (measured: 124,000 faults and ~45% more CPU than bzip2 on a 220 MB
// dump), so each thread keeps its allocations and hands them back to libbz2 for every stream.
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

    // For bz_stream's bzalloc / bzfree, with the ReusedBzipMemory as opaque.
    static void* alloc(void* opaque, int count, int size) {
        return static_cast<ReusedBzipMemory*>(opaque)->take(static_cast<std::size_t>(count) *
                                                            static_cast<std::size_t>(size));
    }
    static void free(void*, void*) {}  // kept for the next stream

  private:
    struct Chunk {
        std::unique_ptr<char[]> memory;
        std::size_t size = 0;
    };
    std::vector<Chunk> chunks_;
    std::size_t next_ = 0;
};

}  // namespace pgtier
