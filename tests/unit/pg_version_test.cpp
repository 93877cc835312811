#include "catch_compat.hpp"

#include "pgtier/core/pg_version.hpp"

using namespace pgtier;

TEST_CASE("version numbers and majors from server and pg_dump texts") {
    CHECK(version_number("15.18 (Debian 15.18-0+deb12u1)") == "15.18");
    CHECK(version_number("pg_dump (PostgreSQL) 17.12 (Debian 17.12-1)") == "17.12");
    CHECK(version_number("pg_dump (PostgreSQL) 18.6 (Debian 18.6-1)\n") == "18.6");
    CHECK(major_version("18devel") == 18);
    CHECK(major_version("pg_dump (PostgreSQL) 9.6.24") == 9);
    CHECK(major_version("15.18 (Debian 15.18-0+deb12u1)") == 15);
    CHECK_FALSE(major_version("").has_value());
    CHECK_FALSE(major_version("pg_dump (PostgreSQL)").has_value());
}

TEST_CASE("pg_dump older than the server is refused, naming both versions and the fix") {
    const auto refusal = pg_dump_refusal("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
                                         "17.12 (Debian 17.12-1)");
    REQUIRE(refusal.has_value());
    CHECK_THAT(*refusal,
               match::Contains("pg_dump 15.18 is older than the server (PostgreSQL 17.12)"));
    CHECK_THAT(*refusal, match::Contains("PG_IMAGE=postgres:17-bookworm"));
    CHECK_THAT(*refusal, match::Contains("postgresql-client-17"));
    // Same major or newer pg_dump: pg_dump dumps it.
    CHECK_FALSE(pg_dump_refusal("pg_dump (PostgreSQL) 17.2", "17.12 (Debian 17.12-1)"));
    CHECK_FALSE(pg_dump_refusal("pg_dump (PostgreSQL) 18.6", "15.18"));
    // Unreadable: not refused here (pg_dump's own check stays).
    CHECK_FALSE(pg_dump_refusal("pg_dump", "15.18"));
}

TEST_CASE("an archive of a newer server is refused for an older target") {
    const auto refusal = restore_version_refusal("full/a.sql.bz2", "17.12 (Debian 17.12-1)",
                                                 "15.18 (Debian 15.18-0+deb12u1)");
    REQUIRE(refusal.has_value());
    CHECK_THAT(*refusal, match::StartsWith("full/a.sql.bz2 was dumped from PostgreSQL 17.12"));
    CHECK_THAT(*refusal, match::Contains("(PostgreSQL 15.18)"));
    CHECK_THAT(*refusal, match::Contains("--force-version"));
    CHECK_FALSE(restore_version_refusal("a", "15.18", "17.12"));  // the upgrade path
    CHECK_FALSE(restore_version_refusal("a", "17.2", "17.12"));
    CHECK_FALSE(restore_version_refusal("a", "", "15.18"));  // a manifest without the version
}
