#include "catch_compat.hpp"

#include "pgtier/pg/dump.hpp"

using namespace pgtier;

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
