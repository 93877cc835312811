#include "catch_compat.hpp"

#include "pgtier/core/naming.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/sys/clock.hpp"

using namespace pgtier;

TEST_CASE("archive names follow the shell-script layout") {
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 23;
    tm.tm_hour = 3;
    tm.tm_min = 4;
    tm.tm_sec = 5;
    const auto bz2 = CompressionFormat::bzip2;
    const auto zst = CompressionFormat::zstd;
    CHECK(archive_name(BackupType::full, tm, 0, bz2) == "20261123_030405_full.sql.bz2");
    CHECK(archive_name(BackupType::differential, tm, 0, bz2) ==
          "20261123_030405_differential.sql.bz2");
    CHECK(archive_name(BackupType::incremental, tm, 1, bz2) ==
          "20261123_030405-2_incremental.sql.bz2");
    CHECK(archive_name(BackupType::full, tm, 0, zst) == "20261123_030405_full.sql.zst");
    CHECK(archive_name(BackupType::incremental, tm, 2, zst) ==
          "20261123_030405-3_incremental.sql.zst");
    CHECK(sidecar_name("a.sql.bz2") == "a.sql.bz2.sha256");
    CHECK(manifest_name("a.sql.bz2") == "a.sql.bz2.json");
    CHECK(partial_name("a.sql.bz2") == ".a.sql.bz2.partial");
    CHECK(latest_link_name(BackupType::full, bz2) == "latest_full.sql.bz2");
    CHECK(latest_link_name(BackupType::full, zst) == "latest_full.sql.zst");
    CHECK(sidecar_name("a.sql.zst") == "a.sql.zst.sha256");
    CHECK(manifest_name("a.sql.zst") == "a.sql.zst.json");
}

TEST_CASE("an archive's format is its file name's") {
    CHECK(archive_format("20261123_030405_full.sql.zst") == CompressionFormat::zstd);
    CHECK(archive_format("20261123_030405_full.sql.bz2") == CompressionFormat::bzip2);
    CHECK(archive_format("/tmp/copy.zst") == CompressionFormat::zstd);
    CHECK(archive_format("/tmp/copy") == CompressionFormat::bzip2);
    CHECK(parse_compression_format("zstd") == CompressionFormat::zstd);
    CHECK(parse_compression_format("bzip2") == CompressionFormat::bzip2);
    CHECK_FALSE(parse_compression_format("gzip"));
    CHECK_FALSE(parse_compression_format("ZSTD"));
}

TEST_CASE("looks_like_archive ignores links, sidecars and foreign files") {
    CHECK(looks_like_archive("20261123_030405_full.sql.bz2", BackupType::full));
    CHECK(looks_like_archive("20261123_030405-2_full.sql.bz2", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.bz2", BackupType::incremental));
    CHECK_FALSE(looks_like_archive("latest_full.sql.bz2", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.bz2.sha256", BackupType::full));
    CHECK_FALSE(looks_like_archive(".20261123_030405_full.sql.bz2.partial", BackupType::full));
    CHECK_FALSE(looks_like_archive("notes.txt", BackupType::full));
    CHECK(looks_like_archive("20261123_030405_full.sql.zst", BackupType::full));
    CHECK(looks_like_archive("20261123_030405-9_incremental.sql.zst", BackupType::incremental));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.zst", BackupType::differential));
    CHECK_FALSE(looks_like_archive("latest_full.sql.zst", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.zstd", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.gz", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.zst", BackupType::full));
}

TEST_CASE("an age file's name: the archive's, then .age") {
    std::tm tm{};
    tm.tm_year = 126;
    tm.tm_mon = 10;
    tm.tm_mday = 23;
    CHECK(archive_name(BackupType::full, tm, 0, CompressionFormat::zstd, true) ==
          "20261123_000000_full.sql.zst.age");
    CHECK(looks_like_archive("20261123_030405_full.sql.bz2.age", BackupType::full));
    CHECK(looks_like_archive("20261123_030405-2_incremental.sql.zst.age", BackupType::incremental));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.age", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.bz2.age.age", BackupType::full));
    CHECK_FALSE(looks_like_archive("20261123_030405_full.sql.bz2.age.json", BackupType::full));
    CHECK(archive_format("20261123_030405_full.sql.zst.age") == CompressionFormat::zstd);
    CHECK(archive_format("20261123_030405_full.sql.bz2.age") == CompressionFormat::bzip2);
    CHECK(archive_encrypted("20261123_030405_full.sql.bz2.age"));
    CHECK_FALSE(archive_encrypted("20261123_030405_full.sql.bz2"));
    CHECK(latest_link_name(BackupType::full, CompressionFormat::bzip2, true) ==
          "latest_full.sql.bz2.age");
}

TEST_CASE("spool names of a parallel backup's sections") {
    CHECK(spool_name("20261123_030405_full.sql.bz2", 3) ==
          ".20261123_030405_full.sql.bz2.section-3.partial");
    CHECK(looks_like_spool(".20261123_030405_full.sql.bz2.section-3.partial", BackupType::full));
    CHECK(
        looks_like_spool(".20261123_030405-2_full.sql.bz2.section-120.partial", BackupType::full));
    CHECK_FALSE(looks_like_spool(".20261123_030405_full.sql.bz2.section-3.partial",
                                 BackupType::incremental));
    CHECK_FALSE(looks_like_spool(".20261123_030405_full.sql.bz2.partial", BackupType::full));
    CHECK_FALSE(
        looks_like_spool(".20261123_030405_full.sql.bz2.section-.partial", BackupType::full));
    CHECK_FALSE(
        looks_like_spool(".20261123_030405_full.sql.bz2.section-3x.partial", BackupType::full));
    CHECK_FALSE(
        looks_like_spool("20261123_030405_full.sql.bz2.section-3.partial", BackupType::full));
    CHECK_FALSE(looks_like_spool(".notes.section-3.partial", BackupType::full));
    CHECK_FALSE(
        looks_like_spool(".20261123_030405_full.sql.bz2.section-3.partial.x", BackupType::full));
    CHECK_FALSE(
        looks_like_archive(spool_name("20261123_030405_full.sql.bz2", 0), BackupType::full));
}

TEST_CASE("names use the configured time zone") {
    const auto t = *parse_utc_iso("2026-07-01T01:30:00Z");
    set_process_timezone("Europe/Berlin");
    CHECK(archive_name(BackupType::full, local_time(t), 0, CompressionFormat::bzip2) ==
          "20260701_033000_full.sql.bz2");
    set_process_timezone("America/New_York");
    CHECK(archive_name(BackupType::full, local_time(t), 0, CompressionFormat::bzip2) ==
          "20260630_213000_full.sql.bz2");
    set_process_timezone("UTC");
    CHECK(archive_name(BackupType::full, local_time(t), 0, CompressionFormat::bzip2) ==
          "20260701_013000_full.sql.bz2");
    CHECK_THROWS_WITH(set_process_timezone("Mars/Olympus_Mons"),
                      match::Contains("unknown time zone"));
}

TEST_CASE("database names a restore can target") {
    CHECK_NOTHROW(check_database_name("app"));
    CHECK_NOTHROW(check_database_name("Ünïcødé 名前"));
    CHECK_NOTHROW(check_database_name(std::string(63, 'x')));
    CHECK_THROWS_AS(check_database_name(""), BadDatabaseName);
    CHECK_THROWS_AS(check_database_name(std::string(64, 'x')), BadDatabaseName);
    CHECK_THROWS_AS(
        check_database_name(std::string(32, 'x') + std::string(16, '\xc3') + "abcdefghijklmnop"),
        BadDatabaseName);
    CHECK_THROWS_AS(check_database_name("a\nb"), BadDatabaseName);
    CHECK_THROWS_AS(check_database_name("a\rb"), BadDatabaseName);
    CHECK_THROWS_WITH(check_database_name(std::string("a\0b", 3)),
                      match::Contains("NUL, carriage return or line feed"));
}

TEST_CASE("work database names: one pattern, parsed back") {
    CHECK(work_database_name(4242, 3) == "pgtier_restore_4242_3");
    CHECK(work_database_pid(work_database_name(4242, 3)) == 4242L);
    CHECK_FALSE(work_database_pid("pgtier_restore_"));
    CHECK_FALSE(work_database_pid("pgtier_restore_12"));
    CHECK_FALSE(work_database_pid("pgtier_restore_12_"));
    CHECK_FALSE(work_database_pid("pgtier_restore_x_1"));
    CHECK_FALSE(work_database_pid("pgtier_restore_1_2_3"));
    CHECK_FALSE(work_database_pid("pgtier_replaced_12_1"));
    CHECK_FALSE(work_database_pid("app"));
    CHECK(work_database_regex() == "^pgtier_restore_[0-9]+_[0-9]+$");
    CHECK(restore_application_name(4242) == "pgtier-restore-4242");
    CHECK(restore_application_name(4242, 3) == "pgtier-restore-4242-3");
}

TEST_CASE("printable escapes control characters only") {
    CHECK(printable("a\nb\rc\x01 é") == "a\\nb\\rc\\x01 é");
}

TEST_CASE("a child's message is cut at its head or its tail") {
    CHECK(message_excerpt("abcdef \n\n", TextEnd::head, 4) == "abcd");
    CHECK(message_excerpt("ab \n", TextEnd::head, 100) == "ab");
    CHECK(message_excerpt("abcdef\n", TextEnd::tail, 3) == "…ef");
    CHECK(message_excerpt("abc\n", TextEnd::tail, 10) == "abc");
    CHECK(message_excerpt(" \n", TextEnd::tail, 10) == "(no message)");
    CHECK(message_excerpt("", TextEnd::head, 10) == "(no message)");
}

TEST_CASE("printable: terminal escapes and C1 controls, once; printable_lines keeps lines") {
    const std::string hostile = "a\x1b[2Jb\nFAKE LINE\t\x7f";
    CHECK(printable(hostile) == "a\\x1b[2Jb\\nFAKE LINE\\x09\\x7f");
    CHECK(printable(printable(hostile)) == printable(hostile));
    // U+009B (CSI to some terminals) escaped; U+00A0 and other UTF-8 text kept.
    CHECK(printable("x\xc2\x9b"
                    "2Jy\xc2\xa0z\xe2\x82\xac") == "x\\u009b2Jy\xc2\xa0z\xe2\x82\xac");
    CHECK(printable("\xc2") == "\xc2");
    CHECK(printable_lines("line 1\n\tline 2\x1b[31m\r") == "line 1\n\tline 2\\x1b[31m\\r");
    CHECK(join_quoted({"ok", "a\nb"}) == "\"ok\", \"a\\nb\"");
}
