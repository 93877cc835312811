#include <catch2/catch.hpp>

#include "pgtier/pg/dump.hpp"

using namespace pgtier;

TEST_CASE("only the connecting role's CREATE ROLE becomes idempotent") {
    const std::string globals =
        "CREATE ROLE alice;\n"
        "ALTER ROLE alice WITH NOSUPERUSER;\n"
        "CREATE ROLE postgres;\n"
        "ALTER ROLE postgres WITH SUPERUSER;\n"
        "CREATE ROLE postgres_extra;\n";
    const auto out = make_own_role_idempotent(globals, "postgres");
    CHECK(out ==
          "CREATE ROLE alice;\n"
          "ALTER ROLE alice WITH NOSUPERUSER;\n"
          "DO $pgtier$BEGIN CREATE ROLE postgres; EXCEPTION WHEN duplicate_object THEN NULL; "
          "END$pgtier$;\n"
          "ALTER ROLE postgres WITH SUPERUSER;\n"
          "CREATE ROLE postgres_extra;\n");
    const auto quoted = make_own_role_idempotent("CREATE ROLE \"Back \"\"up\";\n", "Back \"up");
    CHECK(quoted.rfind("DO $pgtier$BEGIN CREATE ROLE \"Back \"\"up\"; EXCEPTION", 0) == 0);
    CHECK(make_own_role_idempotent("", "postgres").empty());
}

TEST_CASE("pg_dump gets a quoting-correct conninfo for any database name") {
    CHECK(dbname_conninfo("shop") == "dbname='shop'");
    CHECK(dbname_conninfo("it's a \\ db") == "dbname='it\\'s a \\\\ db'");
    CHECK(dbname_conninfo("host=evil") == "dbname='host=evil'");
}

TEST_CASE("dump trailers of pg_dump and pg_dumpall are recognised") {
    CHECK(has_dump_trailer(
        "...\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n"));
    CHECK(has_dump_trailer("--\n-- PostgreSQL database cluster dump complete\n--\n"));
    CHECK_FALSE(has_dump_trailer("COPY public.t (id) FROM stdin;\n1\n2\n"));
}
