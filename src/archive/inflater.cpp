#include "inflater.hpp"

#include <bzlib.h>
#include <zstd.h>

#include <algorithm>

#include "bzip2_memory.hpp"
#include "pgtier/core/errors.hpp"

namespace pgtier {

namespace {

class Bzip2Inflater : public Inflater {
  public:
    ~Bzip2Inflater() override { end(); }

    Step step(const char* in, std::size_t in_size, char* out, std::size_t out_size) override {
        if (!open_) begin();
        stream_.next_in = const_cast<char*>(in);
        stream_.avail_in = static_cast<unsigned int>(std::min<std::size_t>(in_size, 1u << 30));
        stream_.next_out = out;
        stream_.avail_out = static_cast<unsigned int>(std::min<std::size_t>(out_size, 1u << 30));
        const unsigned int in_given = stream_.avail_in;
        const unsigned int out_given = stream_.avail_out;
        const int rc = BZ2_bzDecompress(&stream_);
        Step step;
        step.consumed = in_given - stream_.avail_in;
        step.produced = out_given - stream_.avail_out;
        if (rc == BZ_STREAM_END) {
            step.stream_end = true;
            end();
        } else if (rc != BZ_OK) {
            step.error = "bzip2 data is corrupt (code " + std::to_string(rc) + ")";
        }
        return step;
    }

    void reset() override { end(); }
    const char* unit() const override { return "bzip2 stream"; }

  private:
    void begin() {
        memory_.rewind();
        stream_ = bz_stream{};
        stream_.bzalloc = ReusedBzipMemory::alloc;
        stream_.bzfree = ReusedBzipMemory::free;
        stream_.opaque = &memory_;
        const int rc = BZ2_bzDecompressInit(&stream_, 0, 0);
        if (rc != BZ_OK)
            throw Error("bzip2 decompression failed to start (code " + std::to_string(rc) + ")");
        open_ = true;
    }
    void end() {
        if (open_) BZ2_bzDecompressEnd(&stream_);
        open_ = false;
    }

    bz_stream stream_{};
    bool open_ = false;
    ReusedBzipMemory memory_;  // kept from stream to stream (a section has many)
};

class ZstdInflater : public Inflater {
  public:
    ZstdInflater() : context_(ZSTD_createDCtx()) {
        if (context_ == nullptr) throw Error("zstd decompression failed to start (out of memory)");
    }
    ~ZstdInflater() override { ZSTD_freeDCtx(context_); }

    Step step(const char* in, std::size_t in_size, char* out, std::size_t out_size) override {
        ZSTD_inBuffer input{in, in_size, 0};
        ZSTD_outBuffer output{out, out_size, 0};
        const std::size_t rc = ZSTD_decompressStream(context_, &output, &input);
        Step step;
        step.consumed = input.pos;
        step.produced = output.pos;
        if (ZSTD_isError(rc)) {
            step.error = std::string("zstd data is corrupt (") + ZSTD_getErrorName(rc) + ")";
        } else {
            step.stream_end = rc == 0;  // a frame decoded and flushed
        }
        return step;
    }

    void reset() override { ZSTD_DCtx_reset(context_, ZSTD_reset_session_only); }
    const char* unit() const override { return "zstd frame"; }

  private:
    ZSTD_DCtx* context_;
};

}  // namespace

std::unique_ptr<Inflater> Inflater::create(CompressionFormat format) {
    if (format == CompressionFormat::zstd) return std::make_unique<ZstdInflater>();
    return std::make_unique<Bzip2Inflater>();
}

}  // namespace pgtier
