#include <bzlib.h>

#include "catch_compat.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "pgtier/archive/section_check.hpp"
#include "pgtier/archive/section_reader.hpp"
#include "pgtier/archive/sha256.hpp"
#include "pgtier/archive/verifier.hpp"
#include "pgtier/storage/local_store.hpp"

using namespace pgtier;

namespace {

const std::string trailer = "--\n-- PostgreSQL database dump complete\n--\n";

std::string bzip2(const std::string& text) {
    std::vector<char> out(text.size() + text.size() / 100 + 600);
    auto size = static_cast<unsigned int>(out.size());
    REQUIRE(BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(text.data()),
                                     static_cast<unsigned int>(text.size()), 9, 0, 0) == BZ_OK);
    return std::string(out.data(), size);
}

std::string dump_text() {
    std::string text = "--\n-- PostgreSQL database dump\n--\n";
    for (int i = 0; i < 2000; ++i) text += "INSERT INTO t VALUES (" + std::to_string(i) + ");\n";
    return text;
}

SectionEntry entry_for(const std::string& compressed, const std::string& text) {
    SectionEntry entry;
    entry.kind = SectionKind::database;
    entry.database = "db";
    entry.length = compressed.size();
    entry.uncompressed_length = text.size();
    entry.sha256 = sha256_hex(compressed);
    return entry;
}

// Feeds `bytes` in small chunks, so streams and blocks straddle feed calls.
SectionVerdict run(SectionCheck& check, const std::string& bytes) {
    for (std::size_t pos = 0; pos < bytes.size(); pos += 97) {
        check.feed(bytes.data() + pos, std::min<std::size_t>(97, bytes.size() - pos));
    }
    return check.finish();
}

std::vector<std::string> messages(const SectionVerdict& verdict) {
    std::vector<std::string> out;
    for (const auto& p : verdict.problems) out.push_back(p.message);
    return out;
}

std::string short_hash(const std::string& hex) {
    return hex.substr(0, 12) + "…";
}

}  // namespace

TEST_CASE("section check: an intact section (two streams) passes and streams its text") {
    const std::string text = dump_text() + trailer;
    const std::string compressed = bzip2(text.substr(0, 1000)) + bzip2(text.substr(1000));
    const auto entry = entry_for(compressed, text);
    std::string seen;
    SectionCheck check(entry, {}, [&](std::string_view chunk) { seen.append(chunk); });
    CHECK(check.label() == "section database \"db\"");
    const auto verdict = run(check, compressed);
    CHECK(verdict.intact());
    CHECK(messages(verdict).empty());
    CHECK(verdict.sha256 == entry.sha256);
    CHECK(verdict.decoded == text.size());
    CHECK(seen == text);
}

TEST_CASE("section check: globals are labelled as such") {
    SectionEntry entry;
    entry.kind = SectionKind::globals;
    CHECK(SectionCheck(entry, {}).label() == "section globals");
}

TEST_CASE("section check: one flipped byte is a decode error and a SHA-256 mismatch") {
    const std::string text = dump_text() + trailer;
    std::string compressed = bzip2(text);
    const auto entry = entry_for(compressed, text);
    compressed[compressed.size() / 2] = static_cast<char>(compressed[compressed.size() / 2] ^ 0x10);
    SectionCheck check(entry, {});
    const auto verdict = run(check, compressed);
    REQUIRE(verdict.problems.size() == 2);
    CHECK(verdict.problems[0].fault == SectionFault::corrupt);
    CHECK(verdict.problems[0].message.rfind("section database \"db\": bzip2 data is corrupt (code ",
                                            0) == 0);
    CHECK(verdict.problems[1].fault == SectionFault::sha256);
    CHECK(verdict.problems[1].message == "section database \"db\": SHA-256 is " +
                                             short_hash(sha256_hex(compressed)) +
                                             ", manifest says " + short_hash(entry.sha256));
    CHECK(verdict.sha256 == sha256_hex(compressed));
}

TEST_CASE("section check: a decode error is known while feeding, and stops the text") {
    const std::string text = dump_text() + trailer;
    std::string compressed = bzip2(text);
    const auto entry = entry_for(compressed, text);
    compressed[10] = static_cast<char>(compressed[10] ^ 0x01);
    std::string seen;
    SectionCheck check(entry, {}, [&](std::string_view chunk) { seen.append(chunk); });
    check.feed(compressed.data(), compressed.size());
    REQUIRE(check.problems().size() == 1);
    CHECK(check.problems()[0].fault == SectionFault::corrupt);
    const std::size_t seen_then = seen.size();
    check.feed("BZh9", 4);  // after the error: hashed, not decoded
    CHECK(seen.size() == seen_then);
    CHECK(check.problems().size() == 1);
}

TEST_CASE("section check: bytes cut short end inside a bzip2 stream") {
    const std::string text = dump_text() + trailer;
    const std::string compressed = bzip2(text);
    auto entry = entry_for(compressed, text);
    const std::string cut = compressed.substr(0, compressed.size() - 10);
    entry.length = cut.size();  // the manifest's range is shorter than the stream
    SectionCheck check(entry, {});
    const auto verdict = run(check, cut);
    CHECK(messages(verdict) ==
          std::vector<std::string>{"section database \"db\": SHA-256 is " +
                                       short_hash(sha256_hex(cut)) + ", manifest says " +
                                       short_hash(entry.sha256),
                                   "section database \"db\": its " + std::to_string(cut.size()) +
                                       " bytes end inside a bzip2 stream"});
    CHECK(verdict.has(SectionFault::cut_short));
    CHECK_FALSE(verdict.has(SectionFault::length));
}

TEST_CASE("section check: a decoded length other than the manifest's") {
    const std::string text = dump_text() + trailer;
    const std::string compressed = bzip2(text);
    auto entry = entry_for(compressed, text);
    entry.uncompressed_length = text.size() + 1;
    SectionCheck check(entry, {});
    const auto verdict = run(check, compressed);
    CHECK(messages(verdict) ==
          std::vector<std::string>{"section database \"db\": decodes to " +
                                   std::to_string(text.size()) + " bytes, manifest says " +
                                   std::to_string(text.size() + 1)});
    CHECK(verdict.problems[0].fault == SectionFault::length);
}

TEST_CASE("section check: text without the dump trailer") {
    const std::string text = dump_text();
    const std::string compressed = bzip2(text);
    SectionCheck check(entry_for(compressed, text), {});
    const auto verdict = run(check, compressed);
    CHECK(messages(verdict) ==
          std::vector<std::string>{"section database \"db\": no \"dump complete\" trailer"});
    CHECK(verdict.problems[0].fault == SectionFault::trailer);
}

TEST_CASE("section check: hash_only judges the SHA-256 alone") {
    const std::string text = dump_text();  // no trailer: not looked at
    const std::string compressed = bzip2(text);
    auto entry = entry_for(compressed, text);
    SectionCheck intact(entry, {}, nullptr, SectionCheck::Mode::hash_only);
    CHECK(run(intact, compressed).intact());
    entry.sha256 = sha256_hex("other");
    SectionCheck changed(entry, {}, nullptr, SectionCheck::Mode::hash_only);
    const auto verdict = run(changed, compressed);
    REQUIRE(verdict.problems.size() == 1);
    CHECK(verdict.problems[0].fault == SectionFault::sha256);
}

TEST_CASE("read_section: restore's wording for each verdict") {
    char pattern[] = "/tmp/pgtier-section-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    const std::filesystem::path dir = pattern;
    const auto path = dir / "a.sql.bz2";
    const auto write = [&](const std::string& bytes) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    };
    const std::string text = dump_text() + trailer;
    const std::string compressed = bzip2(text);
    const auto entry = entry_for(compressed, text);
    const std::string prefix = path.string() + ": section database \"db\"";
    std::string seen;
    const TextSink sink = [&](std::string_view chunk) { seen.append(chunk); };
    const auto file = [&] { return FileSource::open_path(path); };

    write(compressed);
    read_section(*file(), entry, sink);
    CHECK(seen == text);

    auto longer = entry;
    longer.uncompressed_length = text.size() + 1;
    CHECK_THROWS_WITH(read_section(*file(), longer, sink),
                      prefix + " is incomplete (" + std::to_string(text.size()) +
                          " bytes decoded, manifest says " + std::to_string(text.size() + 1) + ")");

    auto other = entry;
    other.sha256 = sha256_hex("other");
    CHECK_THROWS_WITH(read_section(*file(), other, sink),
                      prefix + " does not match its manifest's SHA-256");

    auto cut = entry;
    cut.length = compressed.size() - 10;
    CHECK_THROWS_WITH(read_section(*file(), cut, sink), prefix + " is truncated");

    std::string flipped = compressed;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
    write(flipped);
    CHECK_THROWS_WITH(read_section(*file(), entry, sink),
                      match::StartsWith(prefix + ": bzip2 data is corrupt (code "));
    // Decoded in parallel, the one stream is cut (and found corrupt) only once it has all been
    // read: the error still stops the restore.
    WorkerPool pool(2);
    CHECK_THROWS_WITH(read_section(*file(), entry, sink, &pool),
                      match::StartsWith(prefix + ": bzip2 data is corrupt (code "));
    CHECK_THROWS_WITH(
        check_section(*file(), entry),
        prefix + " does not match the SHA-256 in its manifest (corrupted or changed)");

    const std::string bare = dump_text();
    write(bzip2(bare));
    CHECK_THROWS_WITH(read_section(*file(), entry_for(bzip2(bare), bare), sink),
                      prefix + " is incomplete (" + std::to_string(bare.size()) +
                          " bytes decoded, manifest says " + std::to_string(bare.size()) + ")");
    std::filesystem::remove_all(dir);
}

namespace {

// A database section as pg_dump --create writes it: CREATE DATABASE, \connect, the data.
std::string created_section(const std::string& database) {
    return "--\n-- PostgreSQL database dump\n--\n\nCREATE DATABASE " + database +
           " WITH TEMPLATE = template0;\n\n\\connect " + database + "\n\n" + dump_text() + trailer;
}

}  // namespace

TEST_CASE("verify: a database section whose header names another database fails, by name") {
    char pattern[] = "/tmp/pgtier-verify-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    const std::filesystem::path dir = pattern;
    const std::string name = "20261123_090000_full.sql.bz2";
    const auto path = dir / name;

    Manifest m;
    m.name = name;
    m.started_at = m.finished_at = *parse_utc_iso("2026-11-23T09:00:00Z");
    std::string archive;
    for (const std::string db : {"alpha", "beta", "postgres"}) {
        const std::string text = db == "postgres" ? "\\connect postgres\n\n" + dump_text() + trailer
                                                  : created_section(db);
        const std::string compressed = bzip2(text);
        auto entry = entry_for(compressed, text);
        entry.database = db;
        entry.offset = archive.size();
        archive += compressed;
        m.sections.push_back(entry);
    }
    m.compressed_size = archive.size();
    m.sha256 = sha256_hex(archive);
    std::ofstream(path, std::ios::binary) << archive;
    std::ofstream(dir / (name + ".sha256")) << sidecar_text(m.sha256, name);
    const auto verify_with = [&](const Manifest& manifest) {
        std::ofstream(dir / (name + ".json"), std::ios::trunc) << manifest_to_json(manifest);
        return verify_archive(archive_at_path(path), {});
    };

    const auto intact = verify_with(m);
    CHECK(intact.ok);
    CHECK(intact.problems.empty());

    // Labels swapped, every checksum as it was: restore refuses both sections, so verify fails.
    auto swapped = m;
    swapped.sections[0].database = "beta";
    swapped.sections[1].database = "alpha";
    const auto result = verify_with(swapped);
    CHECK_FALSE(result.ok);
    REQUIRE(result.problems.size() == 2);
    CHECK(result.problems[0] ==
          "section database \"beta\": not the database its manifest says (restore refuses it): "
          "the section's header names database \"alpha\" (CREATE DATABASE); its manifest says "
          "database \"beta\"");
    CHECK_THAT(result.problems[1],
               match::StartsWith("section database \"alpha\": not the database"));
    CHECK(result.intact_sections == std::vector<std::string>{"database \"postgres\""});

    // postgres is loaded into, not created: labelled as a created database, it is refused too.
    auto relabelled = m;
    relabelled.sections[2].database = "gamma";
    const auto gamma = verify_with(relabelled);
    REQUIRE(gamma.problems.size() == 1);
    CHECK_THAT(gamma.problems[0],
               match::Contains("section database \"gamma\": not the database its manifest says") &&
                   match::Contains("creates no database (it connects to \"postgres\")"));

    // Decoded by a pool, the verdict is the same.
    WorkerPool pool(2);
    std::ofstream(dir / (name + ".json"), std::ios::trunc) << manifest_to_json(swapped);
    CHECK(verify_archive(archive_at_path(path), {}, &pool).problems == result.problems);
    std::filesystem::remove_all(dir);
}

TEST_CASE("verify: the section table against an object's size, without reading it") {
    Manifest m;
    m.compressed_size = 300;
    m.sections = {{SectionKind::globals, std::nullopt, 0, 100, 1, "", ""},
                  {SectionKind::database, "a", 100, 150, 1, "", ""},
                  {SectionKind::database, "b", 250, 50, 1, "", ""}};
    CHECK(section_table_problems(m, 300).empty());

    auto overlap = m;
    overlap.sections[2].offset = 240;
    CHECK(section_table_problems(overlap, 300) ==
          std::vector<std::string>{
              "section database \"a\" (offset 100, 150 bytes) and section database \"b\" (offset "
              "240, 50 bytes) overlap",
              "10 bytes at offset 290 belong to no section of the manifest"});

    auto past_end = m;
    past_end.sections[2].length = 1050;
    CHECK(section_table_problems(past_end, 300) ==
          std::vector<std::string>{
              "the manifest's sections end at offset 1300, its size says 300 bytes",
              "section database \"b\": the file ends at offset 300, inside it (manifest: offset "
              "250, 1050 bytes)"});

    auto empty = m;
    empty.sections[0].length = 0;
    CHECK(section_table_problems(empty, 300)[0] ==
          "section globals: the manifest gives it 0 bytes");

    auto huge = m;
    huge.sections[1].length = std::numeric_limits<std::uint64_t>::max();
    CHECK_THAT(section_table_problems(huge, 300)[0], match::Contains("overflows 64 bits"));

    // A table that fits the manifest's size but not a shorter object.
    const auto short_object = section_table_problems(m, 260);
    REQUIRE(short_object.size() == 1);
    CHECK(short_object[0] ==
          "section database \"b\": the file ends at offset 260, inside it (manifest: offset 250, "
          "50 bytes)");
}
