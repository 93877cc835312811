#pragma once
// Internal to src/archive: one decompression state for concatenated bzip2 streams or zstd
// frames, behind one interface (SectionDecoder and its pool tasks use it).
#include <cstddef>
#include <memory>
#include <string>

#include "pgtier/core/compression.hpp"

namespace pgtier {

class Inflater {
  public:
    static std::unique_ptr<Inflater> create(CompressionFormat format);
    virtual ~Inflater() = default;

    struct Step {
        std::size_t consumed = 0;
        std::size_t produced = 0;
        bool stream_end = false;  // a stream (frame) ended with this step, its text all out
        std::string error;        // "bzip2 data is corrupt (code -4)"; then nothing more
    };
    // Decodes from `in` into `out`. After a stream's end the next step begins a new one.
    virtual Step step(const char* in, std::size_t in_size, char* out, std::size_t out_size) = 0;
    // Forgets any stream in progress: the next step begins a new one.
    virtual void reset() = 0;
    // "bzip2 stream", "zstd frame": what a section is cut into, for messages.
    virtual const char* unit() const = 0;
};

}  // namespace pgtier
