#include <bzlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "catch_compat.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

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
        ParallelBzip2Writer writer(file.fd, 9, 3, 100'000);
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
        ParallelBzip2Writer writer(file.fd, 9, 2);
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
        ParallelBzip2Writer writer(fd, 1, 2, 10'000);
        const auto data = text_like(1'000'000, 3);
        writer.begin_section();
        writer.write(data.data(), data.size());
        writer.end_section();
        writer.finish();
    };
    CHECK_THROWS_WITH(run(), match::Contains("No space left on device"));
    close(fd);
}
