#include <bzlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include "catch_compat.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "pgtier/archive/compressor.hpp"
#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/errors.hpp"

using namespace pgtier;

namespace {

std::string decompress_all(const std::string& compressed) {
    std::string out;
    std::size_t pos = 0;
    std::vector<char> buffer(1 << 16);
    while (pos < compressed.size()) {
        bz_stream stream{};
        REQUIRE(BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK);
        stream.next_in = const_cast<char*>(compressed.data() + pos);
        stream.avail_in = static_cast<unsigned>(compressed.size() - pos);
        int rc = BZ_OK;
        while (rc == BZ_OK) {
            stream.next_out = buffer.data();
            stream.avail_out = static_cast<unsigned>(buffer.size());
            rc = BZ2_bzDecompress(&stream);
            out.append(buffer.data(), buffer.size() - stream.avail_out);
        }
        REQUIRE(rc == BZ_STREAM_END);
        pos = compressed.size() - stream.avail_in;
        BZ2_bzDecompressEnd(&stream);
    }
    return out;
}

std::string zstd_decompress_all(const std::string& compressed) {
    std::string out;
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    std::vector<char> buffer(1 << 16);
    ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
    std::size_t rc = 0;
    do {
        ZSTD_outBuffer out_buffer{buffer.data(), buffer.size(), 0};
        rc = ZSTD_decompressStream(dctx.get(), &out_buffer, &in);
        REQUIRE_FALSE(ZSTD_isError(rc));
        out.append(buffer.data(), out_buffer.pos);
    } while (in.pos < in.size || rc != 0);
    return out;
}

// The frames of `compressed`, which must be whole: their sizes.
std::vector<std::size_t> zstd_frames(const std::string& compressed) {
    std::vector<std::size_t> sizes;
    for (std::size_t pos = 0; pos < compressed.size();) {
        const std::size_t n =
            ZSTD_findFrameCompressedSize(compressed.data() + pos, compressed.size() - pos);
        REQUIRE_FALSE(ZSTD_isError(n));
        sizes.push_back(n);
        pos += n;
    }
    return sizes;
}

std::string text_like(std::size_t size, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < size)
        s += std::to_string(rng()) + "\tuser_" + std::to_string(rng() % 1000) + "\n";
    s.resize(size);
    return s;
}

struct TempFile {
    std::string path;
    int fd;
    TempFile() {
        path = (std::filesystem::temp_directory_path() / "pgtier-compressor-XXXXXX").string();
        fd = mkstemp(path.data());
    }
    ~TempFile() {
        if (fd >= 0) close(fd);
        unlink(path.c_str());
    }
    std::string contents() const {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }
};

}  // namespace

TEST_CASE("sections are independent bzip2 streams at the recorded offsets") {
    TempFile file;
    const std::vector<std::string> inputs = {text_like(10, 1), text_like(2'500'000, 2), "",
                                             text_like(300'000, 3)};
    CompressedTotals totals;
    {
        WorkerPool pool(3);
        ArchiveWriter writer(file.fd, {CompressionFormat::bzip2, 9, 100'000}, pool);
        for (const auto& input : inputs) {
            writer.begin_section();
            // Odd write sizes cross block boundaries.
            for (std::size_t pos = 0; pos < input.size(); pos += 77'777) {
                writer.write(input.data() + pos, std::min<std::size_t>(77'777, input.size() - pos));
            }
            writer.end_section();
        }
        totals = writer.finish();
    }
    const std::string archive = file.contents();
    REQUIRE(totals.compressed_size == archive.size());
    CHECK(totals.sha256 == sha256_hex(archive));
    REQUIRE(totals.sections.size() == inputs.size());

    std::string all;
    std::uint64_t expected_offset = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& s = totals.sections[i];
        CHECK(s.offset == expected_offset);
        expected_offset += s.length;
        const std::string bytes = archive.substr(s.offset, s.length);
        CHECK(s.sha256 == sha256_hex(bytes));
        CHECK(s.uncompressed_length == inputs[i].size());
        CHECK(decompress_all(bytes) == inputs[i]);
        all += inputs[i];
    }
    CHECK(totals.uncompressed_size == all.size());
    CHECK(decompress_all(archive) == all);  // what bzcat sees
}

TEST_CASE("the output is accepted by the bzip2 command line tool") {
    TempFile file;
    {
        WorkerPool pool(2);
        ArchiveWriter writer(file.fd, {CompressionFormat::bzip2, 9}, pool);
        writer.begin_section();
        const auto data = text_like(2'000'000, 7);
        writer.write(data.data(), data.size());
        writer.end_section();
        writer.finish();
    }
    const std::string cmd = "bzip2 -t < " + file.path;
    CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("a write error surfaces as an Error, not a crash or a hang") {
    const int fd = open("/dev/full", O_WRONLY);
    REQUIRE(fd >= 0);
    auto run = [&] {
        WorkerPool pool(2);
        ArchiveWriter writer(fd, {CompressionFormat::bzip2, 1, 10'000}, pool);
        const auto data = text_like(1'000'000, 3);
        writer.begin_section();
        writer.write(data.data(), data.size());
        writer.end_section();
        writer.finish();
    };
    CHECK_THROWS_WITH(run(), match::Contains("No space left on device"));
    close(fd);
}

namespace {

// One archive of `sections` written through `writer` in odd-sized writes; its bytes.
CompressedTotals write_sections(ArchiveWriter& writer, const std::vector<std::string>& sections) {
    for (const auto& input : sections) {
        writer.begin_section();
        for (std::size_t pos = 0; pos < input.size(); pos += 65'537)
            writer.write(input.data() + pos, std::min<std::size_t>(65'537, input.size() - pos));
        writer.end_section();
    }
    return writer.finish();
}

}  // namespace

TEST_CASE("bzip2 archives keep their byte format: 899,000-byte streams, one ending each section") {
    // The format of every bzip2 archive so far: the same input gives the same bytes as one
    // BZ2_bzBuffToBuffCompress per 899,000 bytes, a section's last (possibly empty) stream
    // ending it.
    const std::vector<std::string> inputs = {text_like(2 * 899'000, 11), text_like(1000, 12)};
    TempFile file;
    {
        WorkerPool pool(2);
        ArchiveWriter writer(file.fd, {CompressionFormat::bzip2, 9}, pool);
        write_sections(writer, inputs);
    }
    const auto stream = [](const std::string& text) {
        std::vector<char> out(text.size() + text.size() / 100 + 600);
        auto size = static_cast<unsigned int>(out.size());
        REQUIRE(BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(text.data()),
                                         static_cast<unsigned int>(text.size()), 9, 0, 0) == BZ_OK);
        return std::string(out.data(), size);
    };
    const std::string expected = stream(inputs[0].substr(0, 899'000)) +
                                 stream(inputs[0].substr(899'000)) + stream("") + stream(inputs[1]);
    CHECK(file.contents() == expected);
}

TEST_CASE("writers sharing one pool write the same bytes as a writer alone") {
    std::vector<std::vector<std::string>> archives;
    for (unsigned i = 0; i < 4; ++i)
        archives.push_back({text_like(300'000 + i * 70'000, 20 + i), text_like(50'000, 30 + i)});
    for (auto format : all_compression_formats) {
        CAPTURE(to_string(format));
        const CompressionSettings settings{format, 3, 40'000, 3};
        std::vector<std::string> alone;
        for (const auto& sections : archives) {
            TempFile file;
            WorkerPool pool(1);
            ArchiveWriter writer(file.fd, settings, pool);
            write_sections(writer, sections);
            alone.push_back(file.contents());
        }
        // Four writers on four threads, one pool of two threads.
        std::vector<TempFile> files(archives.size());
        std::vector<CompressedTotals> totals(archives.size());
        WorkerPool pool(2);
        {
            std::vector<std::thread> threads;
            for (std::size_t i = 0; i < archives.size(); ++i) {
                threads.emplace_back([&, i] {
                    ArchiveWriter writer(files[i].fd, settings, pool);
                    totals[i] = write_sections(writer, archives[i]);
                });
            }
            for (auto& t : threads) t.join();
        }
        for (std::size_t i = 0; i < archives.size(); ++i) {
            CHECK(files[i].contents() == alone[i]);
            CHECK(totals[i].sha256 == sha256_hex(alone[i]));
            CHECK(totals[i].sections.size() == 2);
        }
    }
}

TEST_CASE("zstd sections are independent frames of the block size at the recorded offsets") {
    TempFile file;
    const std::vector<std::string> inputs = {text_like(10, 1), text_like(250'000, 2), "",
                                             text_like(100'000, 3)};
    CompressedTotals totals;
    {
        WorkerPool pool(3);
        ArchiveWriter writer(file.fd, {CompressionFormat::zstd, 3, 100'000}, pool);
        totals = write_sections(writer, inputs);
    }
    const std::string archive = file.contents();
    REQUIRE(totals.compressed_size == archive.size());
    CHECK(totals.sha256 == sha256_hex(archive));
    REQUIRE(totals.sections.size() == inputs.size());
    std::string all;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& s = totals.sections[i];
        const std::string bytes = archive.substr(s.offset, s.length);
        CHECK(s.sha256 == sha256_hex(bytes));
        CHECK(s.uncompressed_length == inputs[i].size());
        CHECK(zstd_decompress_all(bytes) == inputs[i]);
        // 100,000-byte frames, then the rest (or an empty frame) ending the section.
        CHECK(zstd_frames(bytes).size() == inputs[i].size() / 100'000 + 1);
        all += inputs[i];
    }
    CHECK(zstd_decompress_all(archive) == all);
    const std::string cmd = "zstd -t -q < " + file.path;
    CHECK(std::system(cmd.c_str()) == 0);  // what zstdcat reads
}

TEST_CASE("a writer's window bounds its blocks in flight") {
    CHECK(ArchiveWriter::default_window(ArchiveWriter::bzip2_block_size, 16) == 33);
    CHECK(ArchiveWriter::default_window(ArchiveWriter::zstd_max_frame_size, 16) == 8);
    CHECK(ArchiveWriter::default_window(ArchiveWriter::zstd_max_frame_size, 1) == 3);
    CHECK(ArchiveWriter::default_window(std::size_t{1} << 30, 4) == 2);
    // Shared by writers compressing at once: together about what one writer has.
    CHECK(ArchiveWriter::default_window(ArchiveWriter::bzip2_block_size, 16, 4) == 9);
    CHECK(ArchiveWriter::default_window(ArchiveWriter::zstd_max_frame_size, 16, 4) == 2);
    CHECK(ArchiveWriter::default_window(ArchiveWriter::bzip2_block_size, 2, 8) == 2);
    WorkerPool pool(4);
    TempFile file;
    ArchiveWriter writer(file.fd, {CompressionFormat::zstd, 19}, pool);
    CHECK(writer.window() == 8);  // 8 MiB frames
    ArchiveWriter level3(file.fd, {CompressionFormat::zstd, 3}, pool);
    CHECK(level3.window() == 9);  // 2 MiB frames: 2 per thread and one
}

TEST_CASE("a zstd frame holds its level's window, 2 to 8 MiB") {
    constexpr std::size_t mib = 1 << 20;
    CHECK(ArchiveWriter::zstd_frame_size(1) == 2 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(3) == 2 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(8) == 2 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(9) == 4 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(16) == 4 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(17) == 8 * mib);
    CHECK(ArchiveWriter::zstd_frame_size(19) == 8 * mib);
    CHECK(ArchiveWriter::default_block_size(CompressionFormat::bzip2, 1) ==
          ArchiveWriter::bzip2_block_size);
}
