#include "catch_compat.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/manifest.hpp"

using namespace pgtier;

TEST_CASE("manifest survives a JSON round trip, with any database name") {
    Manifest m;
    m.type = BackupType::incremental;
    m.name = "20261123_090000_incremental.sql.bz2";
    m.tool_version = "0.1.0";
    m.server_version = "15.18";
    m.started_at = *parse_utc_iso("2026-11-23T09:00:00.123456Z");
    m.finished_at = *parse_utc_iso("2026-11-23T09:00:05Z");
    m.compressed_size = 1234;
    m.uncompressed_size = 99999;
    m.sha256 = std::string(64, 'a');
    m.fingerprint = {"d", "g", {{"q\"uote.d", "f1"}, {"café ü", "f2"}}};
    m.sections = {{SectionKind::globals, std::nullopt, 0, 10, 20, "s0", "g"},
                  {SectionKind::database, "q\"uote.d", 10, 1224, 99979, "s1", "f1"}};
    const auto back = manifest_from_json(manifest_to_json(m), "test");
    CHECK(back.type == m.type);
    CHECK(back.name == m.name);
    CHECK(back.started_at == m.started_at);
    CHECK(back.finished_at == m.finished_at);
    CHECK(back.fingerprint == m.fingerprint);
    REQUIRE(back.sections.size() == 2);
    CHECK_FALSE(back.sections[0].database.has_value());
    CHECK(back.sections[1].database == "q\"uote.d");
    CHECK(back.sections[1].offset == 10);
    CHECK(back.has_globals());
    CHECK(back.find_database("q\"uote.d") != nullptr);
    CHECK(back.find_database("café ü") == nullptr);
}

TEST_CASE("an age file's manifest: its stream size and signature survive; the name must agree") {
    Manifest m;
    m.name = "20261123_090000_full.sql.zst.age";
    m.started_at = m.finished_at = *parse_utc_iso("2026-11-23T09:00:00.5Z");
    m.compressed_size = 70000;
    m.encrypted_stream_size = 65000;
    m.sha256 = std::string(64, 'b');
    m.sections = {{SectionKind::database, "d", 0, 65000, 100000, "s", "f"}};
    m.signature = "ed25519:sig";
    const std::string text = manifest_to_json(m);
    const auto back = manifest_from_json(text, "test");
    CHECK(back.encrypted_stream_size == 65000);
    CHECK(back.stream_size() == 65000);
    CHECK(back.signature == "ed25519:sig");
    // What is signed: the same text without the signature, whatever it was.
    CHECK(manifest_signed_text(back) == manifest_signed_text(m));
    CHECK(manifest_signed_text(m).find("ed25519:sig") == std::string::npos);
    CHECK(manifest_to_json(back) == text);
    auto json = nlohmann::json::parse(text);
    json.erase("encryption");
    CHECK_THROWS_AS(manifest_from_json(json.dump(), "test"), Error);
    json = nlohmann::json::parse(text);
    json["name"] = "20261123_090000_full.sql.zst";
    CHECK_THROWS_AS(manifest_from_json(json.dump(), "test"), Error);
    json["encryption"]["format"] = "gpg";
    CHECK_THROWS_AS(manifest_from_json(json.dump(), "test"), Error);
}

TEST_CASE("a broken manifest is an Error naming its source") {
    CHECK_THROWS_WITH(manifest_from_json("{", "/b/full/x.json"), match::Contains("/b/full/x.json"));
    CHECK_THROWS_WITH(manifest_from_json(R"({"format": 99})", "m.json"),
                      match::Contains("unsupported manifest format 99"));
}

TEST_CASE("UTC ISO 8601 times round trip and reject garbage") {
    const auto t = parse_utc_iso("2024-02-29T23:59:59.5Z");
    REQUIRE(t);
    CHECK(format_utc_iso(*t) == "2024-02-29T23:59:59.500000Z");
    CHECK_FALSE(parse_utc_iso("2024-02-29 23:59:59"));
    CHECK_FALSE(parse_utc_iso("yesterday"));
}

TEST_CASE("the dropped list round trips and is optional when reading") {
    Manifest m;
    m.name = "20261123_090000_full.sql.bz2";
    m.started_at = m.finished_at = *parse_utc_iso("2026-11-23T09:00:00Z");
    m.dropped = {"gone db", "q\"x"};
    const auto back = manifest_from_json(manifest_to_json(m), "test");
    CHECK(back.dropped == m.dropped);
    // A manifest written before the list existed.
    auto doc = nlohmann::json::parse(manifest_to_json(m));
    doc.erase("dropped");
    CHECK(manifest_from_json(doc.dump(), "old").dropped.empty());
}

TEST_CASE("the manifest records its archive's compression; older ones lack it") {
    Manifest m;
    m.name = "20261123_090000_full.sql.zst";
    m.started_at = m.finished_at = *parse_utc_iso("2026-11-23T09:00:00Z");
    auto doc = nlohmann::json::parse(manifest_to_json(m));
    CHECK(doc.at("compression") == "zstd");
    CHECK(manifest_from_json(doc.dump(), "m").name == m.name);
    doc["compression"] = "bzip2";
    CHECK_THROWS_WITH(manifest_from_json(doc.dump(), "m.json"),
                      match::Contains("m.json: not a valid pgtier manifest: compression \"bzip2\" "
                                      "does not match the name 20261123_090000_full.sql.zst"));
    doc["compression"] = "lz4";
    CHECK_THROWS_WITH(manifest_from_json(doc.dump(), "m.json"),
                      match::Contains("unknown compression \"lz4\""));
    m.name = "20261123_090000_full.sql.bz2";
    doc = nlohmann::json::parse(manifest_to_json(m));
    CHECK(doc.at("compression") == "bzip2");
    doc.erase("compression");  // written before zstd
    CHECK(manifest_from_json(doc.dump(), "old").name == m.name);
}

TEST_CASE("offsets, lengths and sizes are whole numbers from 0 up: no wrap, no cut floats") {
    Manifest m;
    m.name = "20261123_090000_full.sql.bz2";
    m.started_at = m.finished_at = *parse_utc_iso("2026-11-23T09:00:00Z");
    m.compressed_size = 30;
    m.sections = {{SectionKind::globals, std::nullopt, 0, 10, 20, "s0", "g"},
                  {SectionKind::database, "d", 10, 20, 40, "s1", "f1"}};
    const auto good = nlohmann::json::parse(manifest_to_json(m));
    CHECK(manifest_from_json(good.dump(), "m").sections[1].length == 20);
    // The largest byte count JSON can hold as an integer still reads exactly.
    auto big = good;
    big["uncompressed_size"] = std::numeric_limits<std::uint64_t>::max();
    CHECK(manifest_from_json(big.dump(), "m").uncompressed_size ==
          std::numeric_limits<std::uint64_t>::max());

    const auto refused = [&](const std::string& text, const std::string& reason) {
        CHECK_THROWS_WITH(
            manifest_from_json(text, "/b/full/m.json"),
            match::Contains("/b/full/m.json: not a valid pgtier manifest: " + reason));
    };
    const auto with = [&](const nlohmann::json::json_pointer& field, nlohmann::json value) {
        auto doc = good;
        doc[field] = std::move(value);
        return doc.dump();
    };
    using ptr = nlohmann::json::json_pointer;
    refused(with(ptr("/sections/1/offset"), -10),
            "sections[1].offset is -10, not a byte count (a whole number from 0 up)");
    refused(with(ptr("/sections/0/length"), -1), "sections[0].length is -1, not a byte count");
    refused(with(ptr("/sections/1/uncompressed_length"), 2.5),
            "sections[1].uncompressed_length is 2.5, not a byte count");
    refused(with(ptr("/compressed_size"), -30), "compressed_size is -30, not a byte count");
    refused(with(ptr("/uncompressed_size"), "60"), "uncompressed_size is \"60\", not a byte count");
    // Too large for 64 bits: JSON parsers read it as a float; converted, it became 0.
    std::string huge = good.dump();
    const std::string length = "\"length\":20";
    REQUIRE(huge.find(length) != std::string::npos);
    huge.replace(huge.find(length), length.size(), "\"length\":1e300");
    refused(huge, "sections[1].length is 1e+300, not a byte count");
    std::string beyond = good.dump();
    beyond.replace(beyond.find(length), length.size(), "\"length\":18446744073709551616");
    refused(beyond, "sections[1].length is 1.8446744073709552e+19, not a byte count");
}

TEST_CASE("UTC times far from now keep their date (no wrap past the year 2262)") {
    for (const std::string text : {"1970-01-01T00:00:00.000000Z", "2262-04-12T00:00:00.000000Z",
                                   "2900-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
                                   "0001-01-01T00:00:00.000000Z"}) {
        INFO(text);
        const auto t = parse_utc_iso(text);
        REQUIRE(t);
        CHECK(format_utc_iso(*t) == text);
    }
    const auto y2900 = *parse_utc_iso("2900-01-01T00:00:00Z");
    CHECK(y2900 > *parse_utc_iso("2026-01-01T00:00:00Z"));
    CHECK(unix_seconds(y2900) == 29348006400);
    CHECK(from_unix_seconds(29348006400) == y2900);
    CHECK(unix_seconds(*parse_utc_iso("1969-12-31T23:59:59.5Z")) == -1);
}
