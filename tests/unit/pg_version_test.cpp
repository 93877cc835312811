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

TEST_CASE("psql without \\restrict is refused, each major by its first minor that has it") {
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 15.14"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 17.6"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 16.10"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 14.19"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 13.22"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 18.0"));
    CHECK_FALSE(psql_restrict_refusal("psql (PostgreSQL) 19devel"));
    const auto old = psql_restrict_refusal("psql (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)");
    REQUIRE(old);
    CHECK_THAT(*old, match::Contains("psql 15.13 cannot") && match::Contains("15.14") &&
                         match::Contains("Nothing was restored"));
    CHECK(psql_restrict_refusal("psql (PostgreSQL) 16.9"));
    CHECK(psql_restrict_refusal("psql (PostgreSQL) 17.5"));
    CHECK(psql_restrict_refusal("psql (PostgreSQL) 12.22"));
    CHECK(psql_restrict_refusal("psql (PostgreSQL) 17beta1"));
    CHECK_THAT(*psql_restrict_refusal("no psql here"), match::Contains("of unknown version"));
}
