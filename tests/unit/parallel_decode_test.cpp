// Parallel decoding of one section (SectionDecoder with a WorkerPool) against the decode on one
// thread: the same text, the same verdict, the same error.
#include <bzlib.h>
#include <unistd.h>
#include <zstd.h>

#include "catch_compat.hpp"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "pgtier/archive/compressor.hpp"
#include "pgtier/archive/section_check.hpp"
#include "pgtier/archive/sha256.hpp"

using namespace pgtier;

namespace {

const std::string trailer = "--\n-- PostgreSQL database dump complete\n--\n";

std::string dump_text(std::size_t size, unsigned seed) {
    std::mt19937 rng(seed);
    std::string text = "--\n-- PostgreSQL database dump\n--\n";
    while (text.size() < size) {
        text += "INSERT INTO t VALUES (" + std::to_string(rng() % 100000) + ", 'user_" +
                std::to_string(rng() % 1000) + "');\n";
    }
    text.resize(size);
    return text + trailer;
}

// One section as ArchiveWriter writes it, with blocks of `block_size` bytes of input.
std::string section_bytes(CompressionFormat format, const std::string& text,
                          std::size_t block_size) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    {
        WorkerPool pool(2);
        ArchiveWriter writer(fileno(file), {format, 1, block_size}, pool);
        writer.begin_section();
        writer.write(text.data(), text.size());
        writer.end_section();
        writer.finish();
    }
    std::string bytes;
    std::rewind(file);
    char buffer[65536];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;)
        bytes.append(buffer, n);
    std::fclose(file);
    return bytes;
}

SectionEntry entry_for(const std::string& bytes, const std::string& text) {
    SectionEntry entry;
    entry.kind = SectionKind::database;
    entry.database = "db";
    entry.length = bytes.size();
    entry.uncompressed_length = text.size();
    entry.sha256 = sha256_hex(bytes);
    return entry;
}

struct Outcome {
    std::string text;  // what reached the sink
    std::vector<std::string> problems;
    std::vector<std::string> while_feeding;  // the problems known before finish()
};

// `bytes` through a SectionCheck, fed in `piece`-sized parts, decoded by `pool` (or not).
Outcome check(const SectionEntry& entry, CompressionFormat format, const std::string& bytes,
              WorkerPool* pool, std::size_t piece = 4099) {
    Outcome outcome;
    SectionCheck check(entry, {format, pool},
                       [&](std::string_view chunk) { outcome.text.append(chunk); });
    for (std::size_t pos = 0; pos < bytes.size(); pos += piece)
        check.feed(bytes.data() + pos, std::min(piece, bytes.size() - pos));
    for (const auto& p : check.problems()) outcome.while_feeding.push_back(p.message);
    for (const auto& p : check.finish().problems) outcome.problems.push_back(p.message);
    return outcome;
}

void same(const Outcome& parallel, const Outcome& serial) {
    CHECK(parallel.problems == serial.problems);
    CHECK(parallel.text.size() == serial.text.size());
    CHECK(parallel.text == serial.text);
}

}  // namespace

TEST_CASE("parallel decode: the same text as one thread, for many blocks and the empty last one") {
    WorkerPool pool(4);
    for (auto format : all_compression_formats) {
        CAPTURE(to_string(format));
        // 37 blocks of 20,000 bytes, then a section that is an exact multiple of the block
        // size (its last block is empty), then one that is nothing but the empty block.
        for (const std::size_t size : {740'000 - trailer.size() + 123, 600'000 - trailer.size()}) {
            const std::string text = dump_text(size, 7);
            const std::string bytes = section_bytes(format, text, 20'000);
            const auto entry = entry_for(bytes, text);
            const auto serial = check(entry, format, bytes, nullptr);
            CHECK(serial.problems.empty());
            CHECK(serial.text == text);
            same(check(entry, format, bytes, &pool), serial);
            same(check(entry, format, bytes, &pool, 1'000'000), serial);  // whole streams at once
            same(check(entry, format, bytes, &pool, 7), serial);
        }
        const std::string bytes = section_bytes(format, "", 20'000);
        const auto outcome = check(entry_for(bytes, ""), format, bytes, &pool);
        CHECK(outcome.text.empty());
        CHECK(outcome.problems ==
              std::vector<std::string>{"section database \"db\": no \"dump complete\" trailer"});
    }
}

TEST_CASE("parallel decode: a corrupt middle block is the same error, with the same text before") {
    WorkerPool pool(3);
    // Small blocks, and blocks of 1 MB (a zstd frame of several zstd blocks, whose checksum
    // fails after most of its text).
    for (const auto& [format, block_size] : std::vector<std::pair<CompressionFormat, std::size_t>>{
             {CompressionFormat::bzip2, 20'000},
             {CompressionFormat::zstd, 20'000},
             {CompressionFormat::bzip2, 1'000'000},
             {CompressionFormat::zstd, 1'000'000}}) {
        CAPTURE(to_string(format), block_size);
        const std::string text = dump_text(block_size == 20'000 ? 500'000 : 2'500'000, 9);
        std::string bytes = section_bytes(format, text, block_size);
        const auto entry = entry_for(bytes, text);
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
        const auto serial = check(entry, format, bytes, nullptr);
        REQUIRE(serial.problems.size() == 2);
        CHECK_THAT(serial.problems[0],
                   match::StartsWith("section database \"db\": " + std::string(to_string(format)) +
                                     " data is corrupt ("));
        CHECK_THAT(serial.problems[0], match::Contains(" decoded bytes"));
        CHECK_THAT(serial.problems[1], match::Contains("SHA-256 is"));
        CHECK(serial.text.size() < text.size() / 2 + block_size);
        same(check(entry, format, bytes, &pool), serial);
        same(check(entry, format, bytes, &pool, 1 << 20), serial);
        // However the bytes are read, on one thread too.
        same(check(entry, format, bytes, nullptr, 1 << 20), serial);
        same(check(entry, format, bytes, nullptr, 3), serial);
    }
}

TEST_CASE("parallel decode: a section cut short, or cut at a false stream start, as one thread") {
    WorkerPool pool(3);
    for (auto format : all_compression_formats) {
        CAPTURE(to_string(format));
        const std::string text = dump_text(300'000, 11);
        const std::string bytes = section_bytes(format, text, 20'000);
        // Cut inside a block: "end inside a bzip2 stream / zstd frame".
        const std::string cut = bytes.substr(0, bytes.size() * 2 / 3);
        auto entry = entry_for(bytes, text);
        entry.length = cut.size();
        const auto serial = check(entry, format, cut, nullptr);
        CHECK_THAT(serial.problems.back(),
                   match::EndsWith(" bytes end inside a " + std::string(to_string(format)) +
                                   (format == CompressionFormat::zstd ? " frame" : " stream")));
        same(check(entry, format, cut, &pool), serial);

        // Half a block, then whole ones: the chunk before the next start does not decode
        // alone, and neither does the data from there on one thread.
        const std::string joined = bytes.substr(0, 40) + bytes;
        const auto joined_entry = entry_for(joined, text);
        const auto serial_joined = check(joined_entry, format, joined, nullptr);
        REQUIRE_FALSE(serial_joined.problems.empty());
        same(check(joined_entry, format, joined, &pool), serial_joined);
    }
}

TEST_CASE("parallel decode: a block too large to hold is decoded on the calling thread") {
    // A foreign stream (frame) decoding to far more than pgtier's blocks: no chunk holds it,
    // the text is streamed as on one thread.
    const std::string text = std::string(40u << 20, 'x') + "\n" + trailer;
    WorkerPool pool(2);
    for (auto format : all_compression_formats) {
        CAPTURE(to_string(format));
        const std::string bytes = section_bytes(format, text, text.size());
        const auto entry = entry_for(bytes, text);
        const auto parallel = check(entry, format, bytes, &pool, 1 << 16);
        CHECK(parallel.problems.empty());
        CHECK(parallel.text == text);
    }
}

TEST_CASE("parallel decode: sound blocks are decoded by the pool, a bad one and the rest here") {
    WorkerPool pool(3);
    for (auto format : all_compression_formats) {
        CAPTURE(to_string(format));
        const std::string text = dump_text(400'000 - trailer.size(), 5);  // 20 blocks + empty
        std::string bytes = section_bytes(format, text, 20'000);
        std::string seen;
        const TextSink sink = [&](std::string_view chunk) { seen.append(chunk); };
        {
            SectionDecoder decoder("d", {format, &pool});
            decoder.feed(bytes.data(), bytes.size(), sink);
            decoder.finish(sink);
            CHECK(decoder.pooled_chunks() == 21);
            CHECK(decoder.ended_cleanly());
            CHECK(seen == text);
        }
        // The 11th block damaged: the 10 before it come from the pool.
        std::size_t tenth = 0;
        for (int i = 0; i < 10; ++i) {
            tenth += format == CompressionFormat::zstd
                         ? ZSTD_findFrameCompressedSize(bytes.data() + tenth, bytes.size() - tenth)
                         : SectionDecoder::find_bzip2_stream(bytes, tenth + 1) - tenth;
        }
        bytes[tenth + 30] = static_cast<char>(bytes[tenth + 30] ^ 0x01);
        seen.clear();
        SectionDecoder decoder("d", {format, &pool});
        decoder.feed(bytes.data(), bytes.size(), sink);
        decoder.finish(sink);
        CHECK(decoder.pooled_chunks() == 10);
        CHECK(decoder.corrupt());
        CHECK(seen.substr(0, 200'000) == text.substr(0, 200'000));
        // One thread: no pool.
        WorkerPool one(1);
        SectionDecoder serial("d", {format, &one});
        serial.feed(bytes.data(), bytes.size());
        CHECK(serial.pooled_chunks() == 0);
        CHECK(serial.corruption() == decoder.corruption());
    }
}

TEST_CASE("bzip2 stream starts are found byte-aligned, with the block or end-of-stream magic") {
    const std::string start = "BZh91AY&SY";                                      // a first block
    const std::string empty = std::string("BZh9") + "\x17\x72\x45\x38\x50\x90";  // an empty stream
    CHECK(SectionDecoder::find_bzip2_stream(start, 0) == 0);
    CHECK(SectionDecoder::find_bzip2_stream(empty, 0) == 0);
    CHECK(SectionDecoder::find_bzip2_stream("xxBZh" + start, 1) == 5);
    CHECK(SectionDecoder::find_bzip2_stream(start + start, 1) == 10);
    CHECK(SectionDecoder::find_bzip2_stream("BZh01AY&SY", 0) == std::string::npos);
    CHECK(SectionDecoder::find_bzip2_stream("BZh91AY&SZ", 0) == std::string::npos);
    CHECK(SectionDecoder::find_bzip2_stream("BZh91AY&S", 0) == std::string::npos);  // too short
}
