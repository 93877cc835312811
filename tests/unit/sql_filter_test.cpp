#include "catch_compat.hpp"

#include <memory>

#include "pgtier/core/sql_filter.hpp"
#include "pgtier/core/sql_text.hpp"

using namespace pgtier;

namespace {

// What pg_dump 15 --create writes for a database "my db.x" (abridged, real statements).
const std::string section =
    "--\n"
    "-- Name: my db.x; Type: DATABASE; Schema: -; Owner: alice\n"
    "--\n"
    "\n"
    "CREATE DATABASE \"my db.x\" WITH TEMPLATE = template0 ENCODING = 'UTF8';\n"
    "\n"
    "\n"
    "ALTER DATABASE \"my db.x\" OWNER TO alice;\n"
    "\n"
    "\\connect -reuse-previous=on \"dbname='my db.x'\"\n"
    "\n"
    "--\n"
    "-- Name: DATABASE \"my db.x\"; Type: COMMENT; Schema: -; Owner: alice\n"
    "--\n"
    "\n"
    "COMMENT ON DATABASE \"my db.x\" IS 'the DATABASE \"my db.x\"';\n"
    "\n"
    "--\n"
    "-- Name: my db.x; Type: DATABASE PROPERTIES; Schema: -; Owner: alice\n"
    "--\n"
    "\n"
    "ALTER DATABASE \"my db.x\" SET work_mem TO '8MB';\n"
    "ALTER ROLE \"r x\" IN DATABASE \"my db.x\" SET search_path TO 'public';\n"
    "\n"
    "\\connect -reuse-previous=on \"dbname='my db.x'\"\n"
    "\n"
    "--\n"
    "-- Name: my db.x; Type: TABLE; Schema: public; Owner: alice\n"
    "--\n"
    "\n"
    "CREATE TABLE public.\"my db.x\" (\n"
    "    v text\n"
    ");\n"
    "\n"
    "--\n"
    "-- Data for Name: my db.x; Type: TABLE DATA; Schema: public; Owner: alice\n"
    "--\n"
    "\n"
    "COPY public.\"my db.x\" (v) FROM stdin;\n"
    "ALTER DATABASE \"my db.x\" OWNER TO mallory;\n"
    "-- Name: x; Type: ACL; Schema: -; Owner: mallory\n"
    "\\.\n"
    "\n"
    "--\n"
    "-- Name: DATABASE \"my db.x\"; Type: ACL; Schema: -; Owner: alice\n"
    "--\n"
    "\n"
    "REVOKE CONNECT,TEMPORARY ON DATABASE \"my db.x\" FROM PUBLIC;\n"
    "GRANT CONNECT ON DATABASE \"my db.x\" TO \"bob \"\"b\"\"\";\n"
    "\n"
    "--\n"
    "-- Name: TABLE \"my db.x\"; Type: ACL; Schema: public; Owner: alice\n"
    "--\n"
    "\n"
    "GRANT SELECT ON TABLE public.\"my db.x\" TO \"bob \"\"b\"\"\" WITH GRANT OPTION;\n"
    "GRANT SELECT ON TABLE public.\"my db.x\" TO carol;\n"
    "\n"
    "--\n"
    "-- PostgreSQL database dump complete\n"
    "--\n";

std::string run(RestoreFilter& filter, const std::string& text, std::size_t chunk) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += chunk) {
        filter.feed(std::string_view(text).substr(i, chunk), out);
    }
    filter.finish(out);
    return out;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("identifiers: quoted, bare, folded") {
    CHECK(parse_identifier("\"a \"\"b\"\" c\" rest", 0)->name == "a \"b\" c");
    CHECK(parse_identifier("\"a \"\"b\"\" c\" rest", 0)->end == 11);
    CHECK(parse_identifier("Alice;", 0)->name == "alice");
    CHECK(parse_identifier("café x", 0)->name == "café");
    CHECK_FALSE(parse_identifier("\"open", 0));
    CHECK_FALSE(parse_identifier(";", 0));
    CHECK(quote_identifier("a \"b\"") == "\"a \"\"b\"\"\"");
}

TEST_CASE("renaming for --as touches exactly the database-level statements") {
    RestoreFilter::Options options;
    options.database = "my db.x";
    options.rename_to = "new \"n\" 'q'";
    options.existing_roles = {"alice", "bob \"b\"", "carol", "r x"};
    RestoreFilter filter(options);
    const std::string out = run(filter, section, 1 << 20);
    const std::string id = "\"new \"\"n\"\" 'q'\"";
    CHECK(contains(out, "CREATE DATABASE " + id + " WITH TEMPLATE = template0"));
    CHECK(contains(out, "ALTER DATABASE " + id + " OWNER TO alice;"));
    CHECK(contains(out, "COMMENT ON DATABASE " + id + " IS 'the DATABASE \"my db.x\"';"));
    CHECK(contains(out, "ALTER DATABASE " + id + " SET work_mem"));
    CHECK(contains(out, "ALTER ROLE \"r x\" IN DATABASE " + id + " SET"));
    CHECK(contains(out, "REVOKE CONNECT,TEMPORARY ON DATABASE " + id + " FROM PUBLIC;"));
    CHECK(contains(out, "GRANT CONNECT ON DATABASE " + id + " TO"));
    // psql's double quotes around libpq's single-quoted value, both escaped.
    CHECK(contains(out, "\\connect -reuse-previous=on \"dbname='new \"\"n\"\" \\'q\\''\"\n"));
    CHECK_FALSE(contains(out, "dbname='my db.x'"));
    // Objects that merely share the name, and COPY data, are untouched.
    CHECK(contains(out, "CREATE TABLE public.\"my db.x\" ("));
    CHECK(contains(out, "GRANT SELECT ON TABLE public.\"my db.x\" TO carol;"));
    CHECK(contains(out, "FROM stdin;\nALTER DATABASE \"my db.x\" OWNER TO mallory;\n"));
    CHECK(filter.created_roles().empty());
}

TEST_CASE("the filter's output does not depend on how the text is split") {
    RestoreFilter::Options options;
    options.database = "my db.x";
    options.rename_to = "other";
    options.existing_roles = {"postgres"};
    RestoreFilter whole(options), bytewise(options), odd(options);
    const auto expected = run(whole, section, 1 << 20);
    CHECK(run(bytewise, section, 1) == expected);
    CHECK(run(odd, section, 7) == expected);
}

TEST_CASE("missing roles are created once, before their first use, from the globals") {
    const std::string globals =
        "CREATE ROLE alice;\n"
        "ALTER ROLE alice WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$x';\n"
        "CREATE ROLE postgres;\n"
        "ALTER ROLE postgres WITH SUPERUSER;\n"
        "ALTER ROLE alice SET statement_timeout TO '5s';\n"
        "ALTER ROLE alice IN DATABASE other SET work_mem TO '1MB';\n"
        "COMMENT ON ROLE alice IS 'app';\n"
        "COMMENT ON ROLE alice IS 'two\nlines';\n"
        "GRANT postgres TO alice GRANTED BY postgres;\n";
    const auto defs = role_definitions(globals);
    REQUIRE(defs.count("alice") == 1);
    CHECK(defs.at("alice") ==
          "DO $pgtier$BEGIN CREATE ROLE alice; EXCEPTION WHEN duplicate_object OR unique_violation "
          "THEN NULL; "
          "END$pgtier$;\n"
          "ALTER ROLE alice WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$x';\n"
          "ALTER ROLE alice SET statement_timeout TO '5s';\n"
          "COMMENT ON ROLE alice IS 'app';\n");

    RestoreFilter::Options options;
    options.database = "my db.x";
    options.existing_roles = {"postgres", "carol"};
    options.role_definitions = defs;
    RestoreFilter filter(options);
    const std::string out = run(filter, section, 4096);
    CHECK(filter.created_roles() == std::vector<std::string>{"alice", "r x", "bob \"b\""});
    CHECK(filter.undefined_roles() == std::vector<std::string>{"r x", "bob \"b\""});
    // alice before the database entry that she owns, once.
    const auto alice = out.find("CREATE ROLE alice;");
    CHECK(alice < out.find("-- Name: my db.x; Type: DATABASE;"));
    CHECK(out.find("CREATE ROLE alice;", alice + 1) == std::string::npos);
    // bob, unknown to the globals: a bare role, before the first GRANT to him.
    const auto bob = out.find("CREATE ROLE \"bob \"\"b\"\"\"");
    CHECK(bob < out.find("GRANT CONNECT ON DATABASE"));
    CHECK(out.find("CREATE ROLE \"bob \"\"b\"\"\"", bob + 1) == std::string::npos);
    // mallory appears only inside COPY data: never created.
    CHECK_FALSE(contains(out, "CREATE ROLE mallory"));
    // Without a rename nothing else changes.
    CHECK(contains(out, "\\connect -reuse-previous=on \"dbname='my db.x'\"\n"));
}

TEST_CASE("whole-cluster globals: every CREATE ROLE becomes idempotent") {
    const auto out = make_roles_idempotent(
        "CREATE ROLE a;\nALTER ROLE a WITH LOGIN;\nCREATE ROLE \"B c\";\nCREATE ROLE x WITH;\n");
    CHECK(out ==
          "DO $pgtier$BEGIN CREATE ROLE a; EXCEPTION WHEN duplicate_object OR unique_violation "
          "THEN NULL; "
          "END$pgtier$;\n"
          "ALTER ROLE a WITH LOGIN;\n"
          "DO $pgtier$BEGIN CREATE ROLE \"B c\"; EXCEPTION WHEN duplicate_object OR "
          "unique_violation THEN NULL; "
          "END$pgtier$;\n"
          "CREATE ROLE x WITH;\n");
}

TEST_CASE("only the connecting role's CREATE ROLE becomes idempotent") {
    const std::string globals =
        "CREATE ROLE alice;\n"
        "ALTER ROLE alice WITH NOSUPERUSER;\n"
        "CREATE ROLE postgres;\n"
        "ALTER ROLE postgres WITH SUPERUSER;\n"
        "CREATE ROLE postgres_extra;\n";
    const auto out = make_roles_idempotent(globals, "postgres");
    CHECK(out ==
          "CREATE ROLE alice;\n"
          "ALTER ROLE alice WITH NOSUPERUSER;\n"
          "DO $pgtier$BEGIN CREATE ROLE postgres; EXCEPTION WHEN duplicate_object OR "
          "unique_violation THEN NULL; "
          "END$pgtier$;\n"
          "ALTER ROLE postgres WITH SUPERUSER;\n"
          "CREATE ROLE postgres_extra;\n");
    const auto quoted = make_roles_idempotent("CREATE ROLE \"Back \"\"up\";\n", "Back \"up");
    CHECK(quoted.rfind("DO $pgtier$BEGIN CREATE ROLE \"Back \"\"up\"; EXCEPTION", 0) == 0);
    CHECK(make_roles_idempotent("", "postgres").empty());
}

TEST_CASE("every form of \\connect pg_dump writes is renamed") {
    auto renamed = [](const std::string& database, const std::string& line) {
        RestoreFilter::Options options;
        options.database = database;
        options.rename_to = "w";
        RestoreFilter filter(options);
        std::string out;
        filter.feed(line, out);
        return out;
    };
    const std::string to_w = "\\connect -reuse-previous=on \"dbname='w'\"\n";
    CHECK(renamed("plain", "\\connect plain\n") == to_w);
    CHECK(renamed("dot.ted", "\\connect \"dot.ted\"\n") == to_w);  // [A-Za-z0-9_.] names
    CHECK(renamed("Up\"per", "\\connect \"Up\"\"per\"\n") == to_w);
    CHECK(renamed("it's", "\\connect -reuse-previous=on \"dbname='it\\'s'\"\n") == to_w);
    // A \connect to another database is no part of the section: refused.
    CHECK_THROWS_AS(renamed("other", "\\connect \"dot.ted\"\n"), ForbiddenMetaCommand);
}

TEST_CASE("roles named in policies and user mappings are created too") {
    RestoreFilter::Options options;
    options.database = "d";
    options.existing_roles = {"postgres"};
    RestoreFilter filter(options);
    const std::string text =
        "--\n-- Name: t p; Type: POLICY; Schema: s; Owner: postgres\n--\n\n"
        "CREATE POLICY p ON s.t FOR SELECT TO r_policy, \"R two\", PUBLIC USING ((x > 0));\n\n"
        "--\n-- Name: USER MAPPING mapper SERVER srv; Type: USER MAPPING; Schema: -; Owner: "
        "postgres\n--\n\n"
        "CREATE USER MAPPING FOR mapper SERVER srv OPTIONS (\n    user 'x'\n);\n";
    std::string out;
    filter.feed(text, out);
    CHECK(filter.created_roles() == std::vector<std::string>{"r_policy", "R two", "mapper"});
    CHECK(out.find("CREATE ROLE \"r_policy\"") < out.find("CREATE POLICY p"));
}

TEST_CASE("review findings: tablespaces, multi-line comments, REVOKE GRANT OPTION, dollar tags") {
    RestoreFilter::Options options;
    options.database = "shop";
    options.rename_to = "w";
    options.existing_roles = {"alice"};
    RestoreFilter filter(options);
    const std::string text =
        "--\n-- Name: t; Type: TABLE; Schema: public; Owner: alice; Tablespace: fast\n--\n\n"
        "CREATE TABLE public.t (x int);\n\n"
        "--\n-- Name: DATABASE shop; Type: COMMENT; Schema: -; Owner: alice\n--\n\n"
        "COMMENT ON DATABASE shop IS 'Main store.\nSee database shop docs, \"odd quote';\n\n"
        "--\n-- Name: TABLE t; Type: ACL; Schema: public; Owner: alice\n--\n\n"
        "REVOKE GRANT OPTION FOR SELECT ON TABLE public.t FROM bob;\n";
    std::string out;
    filter.feed(text, out);
    filter.finish(out);
    // The owner ends before "; Tablespace:"; bob (a REVOKE's grantee) is created.
    CHECK(filter.created_roles() == std::vector<std::string>{"bob"});
    CHECK(out.find("COMMENT ON DATABASE \"w\" IS 'Main store.\nSee database shop docs") !=
          std::string::npos);
    CHECK(idempotent_create_role("CREATE ROLE \"a$pgtier$b\";") ==
          "DO $pgtier1$BEGIN CREATE ROLE \"a$pgtier$b\"; EXCEPTION WHEN duplicate_object OR "
          "unique_violation THEN "
          "NULL; END$pgtier1$;\n");
}

namespace {
SectionHeaderScanner scan(const std::string& text, std::size_t piece = 7) {
    SectionHeaderScanner header;
    for (std::size_t i = 0; i < text.size(); i += piece) {
        if (header.feed(std::string_view(text).substr(i, piece))) break;
    }
    return header;
}
}  // namespace

TEST_CASE("a section's header names its database") {
    const std::string created =
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n"
        "CREATE DATABASE \"my db\" WITH TEMPLATE = template0 ENCODING = 'UTF8';\n\n\n"
        "ALTER DATABASE \"my db\" OWNER TO r_admin;\n\n"
        "\\connect -reuse-previous=on \"dbname='my db'\"\n\nCREATE TABLE t (x int);\n";
    auto header = scan(created);
    CHECK(header.created() == "my db");
    CHECK(header.connected() == "my db");
    CHECK_NOTHROW(check_section_header(header, "my db", true));
    CHECK_THROWS_AS(check_section_header(header, "other", true), SectionHeaderMismatch);
    CHECK_THROWS_AS(check_section_header(header, "my db", false),
                    SectionHeaderMismatch);  // labelled postgres-like

    header = scan("\\connect postgres\n\n--\n-- PostgreSQL database dump\n--\n");
    CHECK_FALSE(header.created());
    CHECK_NOTHROW(check_section_header(header, "postgres", false));
    CHECK_THROWS_AS(check_section_header(header, "template1", false), SectionHeaderMismatch);
    CHECK_THROWS_AS(check_section_header(header, "app", true),
                    SectionHeaderMismatch);  // a postgres section labelled app

    // CREATE DATABASE of the label but \connect elsewhere.
    header = scan("CREATE DATABASE app;\n\\connect other\n");
    CHECK_THROWS_AS(check_section_header(header, "app", true), SectionHeaderMismatch);
    header = scan("CREATE DATABASE app;\n\\connect \"App\"\n");
    CHECK(header.connected() == "App");
    CHECK_THROWS_AS(check_section_header(header, "app", true), SectionHeaderMismatch);
    header = scan("CREATE DATABASE app;\n\\connect app\n");
    CHECK_NOTHROW(check_section_header(header, "app", true));

    // No \connect at all.
    header = scan("CREATE DATABASE app;\nCREATE TABLE t (x int);\n");
    CHECK_FALSE(header.connected());
    CHECK_THROWS_AS(check_section_header(header, "app", true), SectionHeaderMismatch);
}

TEST_CASE("connect_target reads the forms pg_dump and pgtier write") {
    CHECK(connect_target("\\connect postgres\n") == "postgres");
    CHECK(connect_target("\\connect \"Dot.ted\"\n") == "Dot.ted");
    CHECK(connect_target("\\connect -reuse-previous=on \"dbname='it\\'s'\"\n") == "it's");
    CHECK_FALSE(connect_target("SELECT 1;\n"));
}

namespace {
// A filter of `section` for "my db.x" renamed to "w", psql kept restricted with numbered keys.
RestoreFilter restricted_filter() {
    RestoreFilter::Options options;
    options.database = "my db.x";
    options.rename_to = "w";
    options.existing_roles = {"alice", "bob \"b\"", "carol", "r x"};
    auto keys = std::make_shared<int>(0);
    options.draw_key = [keys] { return "K" + std::to_string(++*keys); };
    options.after_create_database = "ALTER DATABASE w SET pgtier.work_database = 'w';";
    return RestoreFilter(options);
}

// The line number of the ForbiddenMetaCommand filtering `text` throws; 0 when none.
std::uint64_t forbidden_line(const std::string& text, std::size_t chunk = 1 << 20) {
    auto filter = restricted_filter();
    try {
        run(filter, text, chunk);
    } catch (const ForbiddenMetaCommand& forbidden) {
        return forbidden.line();
    }
    return 0;
}
}  // namespace

TEST_CASE("psql runs restricted: only pgtier's own \\connect lifts the restriction") {
    auto filter = restricted_filter();
    const std::string dumped = "\\restrict AbC123\n" + section + "\n\\unrestrict AbC123\n";
    const std::string out = run(filter, dumped, 5);
    CHECK(out.rfind("\\restrict K1\n", 0) == 0);
    // pg_dump's own key lines become empty lines; each \connect is pgtier's, the key lines
    // apart (psql 17.6+ reads the rest of the line as \unrestrict's key).
    CHECK_FALSE(contains(out, "AbC123"));
    CHECK(contains(out,
                   "\n\\unrestrict K1\n\\connect -reuse-previous=on \"dbname='w'\"\n"
                   "\\restrict K2\n"));
    CHECK(contains(out,
                   "\n\\unrestrict K2\n\\connect -reuse-previous=on \"dbname='w'\"\n"
                   "\\restrict K3\n"));
    // The mark is on the CREATE DATABASE line itself.
    CHECK(contains(out,
                   "CREATE DATABASE \"w\" WITH TEMPLATE = template0 ENCODING = 'UTF8'; "
                   "ALTER DATABASE w SET pgtier.work_database = 'w';\n"));
    // pg_dump's \encoding before a \connect to a name that is not plain ASCII goes too.
    auto encoded = restricted_filter();
    // (No CREATE DATABASE came first: the mark goes before the \connect.)
    CHECK(run(encoded, "\\encoding SQL_ASCII\n\\connect -reuse-previous=on \"dbname='my db.x'\"\n",
              1 << 20) ==
          "\\restrict K1\n\nALTER DATABASE w SET pgtier.work_database = 'w';\n\\unrestrict K1\n"
          "\\connect -reuse-previous=on \"dbname='w'\"\n\\restrict K2\n");
    // COPY data is data, even when it looks like a command.
    auto data = restricted_filter();
    CHECK(contains(run(data, "COPY t (v) FROM stdin;\n\\! id\n\\.\n", 3), "\n\\! id\n"));
}

TEST_CASE("any other meta-command in an archive is refused with its line") {
    const std::string head = "SET x = 1;\nSELECT 1;\n";
    CHECK(forbidden_line(head + "\\! id > /tmp/x\n") == 3);
    CHECK(forbidden_line(head + "SELECT 2; \\! id\n", 4) == 3);
    CHECK(forbidden_line(head + "\\copy t to '/tmp/x'\n") == 3);
    CHECK(forbidden_line(head + "\\.\n") == 3);
    CHECK(forbidden_line(head + "\\q\n", 1) == 3);
    CHECK(forbidden_line(head + "\\i /etc/passwd\n") == 3);
    // A \connect elsewhere, or a malformed key line, is no exception.
    CHECK(forbidden_line(head + "\\connect postgres\n") == 3);
    CHECK(forbidden_line(head + "\\connect -reuse-previous=on \"dbname='my db.x'\" \\! id\n") == 3);
    CHECK(forbidden_line(head + "\\restrict abc \\! id\n") == 3);
    CHECK(forbidden_line(head + "\\unrestrict\n") == 3);
    // After COPY data ends, lines are commands again.
    CHECK(forbidden_line("COPY t (v) FROM stdin;\na\n\\.\n\\! id\n") == 4);
    // Inside a literal or a function body a backslash is text.
    CHECK(forbidden_line("CREATE FUNCTION f() AS $$\n\\! not a command\n$$;\n") == 0);
    CHECK(forbidden_line("COMMENT ON TABLE t IS 'a\n\\! b';\n") == 0);
    // The globals (no database): no \connect at all.
    RestoreFilter::Options globals;
    RestoreFilter filter(globals);
    std::string out;
    CHECK_THROWS_AS(filter.feed("\\connect postgres\n", out), ForbiddenMetaCommand);
}

TEST_CASE("psql's line numbers map back to the section's") {
    RestoreFilter::Options options;
    options.database = "d";
    options.draw_key = [] { return std::string("K"); };
    options.role_definitions = {{"alice", "CREATE ROLE alice;\nALTER ROLE alice LOGIN;\n"}};
    RestoreFilter filter(options);
    const std::string text =
        "SELECT 1;\n"                                              // 1
        "--\n"                                                     // 2
        "-- Name: t; Type: TABLE; Schema: public; Owner: alice\n"  // 3: two lines inserted before
        "--\n"                                                     // 4
        "CREATE TABLE t ();\n";                                    // 5
    const std::string out = run(filter, text, 1 << 20);
    // psql: line 1 "\restrict K", 2 SELECT, 3-4 "--"…, then the role's two lines, then line 3.
    CHECK(filter.section_line(2) == 1);
    CHECK(filter.section_line(3) == 2);
    CHECK(filter.section_line(6) == 3);
    CHECK(filter.section_line(8) == 5);
    CHECK(out.find("CREATE TABLE") != std::string::npos);

    // Around a \connect: "\unrestrict K" before it, "\restrict K" after it.
    RestoreFilter connecting(options);
    const std::string connected = run(connecting, "SELECT 1;\n\\connect d\nSELECT 2;\n", 1);
    CHECK(connected ==
          "\\restrict K\nSELECT 1;\n\\unrestrict K\n\\connect d\n\\restrict K\nSELECT 2;\n");
    CHECK(connecting.section_line(2) == 1);
    CHECK(connecting.section_line(4) == 2);  // the \connect
    CHECK(connecting.section_line(5) == 3);  // "\restrict K" counts as the line after it
    CHECK(connecting.section_line(6) == 3);
}

TEST_CASE("role definitions from the globals are checked like the section") {
    RestoreFilter::Options options;
    options.database = "d";
    options.role_definitions = {
        {"alice", "CREATE ROLE alice;\nALTER ROLE alice SET x TO 'y'; \\! id\n"}};
    RestoreFilter filter(options);
    std::string out;
    CHECK_THROWS_AS(
        filter.feed("SELECT 1;\n-- Name: t; Type: TABLE; Schema: public; Owner: alice\n", out),
        ForbiddenMetaCommand);
}

TEST_CASE("a restore keeps the password of the role it connects as") {
    const std::string globals =
        "CREATE ROLE postgres;\n"
        "ALTER ROLE postgres WITH SUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:a''b';\n"
        "CREATE ROLE app;\n"
        "ALTER ROLE app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x' VALID UNTIL 'infinity';\n";
    const auto kept = keep_role_password(globals, "postgres");
    REQUIRE(kept);
    CHECK(*kept ==
          "CREATE ROLE postgres;\n"
          "ALTER ROLE postgres WITH SUPERUSER INHERIT LOGIN;\n"
          "CREATE ROLE app;\n"
          "ALTER ROLE app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x' VALID UNTIL 'infinity';\n");
    CHECK(*keep_role_password(globals, "app") ==
          "CREATE ROLE postgres;\n"
          "ALTER ROLE postgres WITH SUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:a''b';\n"
          "CREATE ROLE app;\n"
          "ALTER ROLE app WITH LOGIN VALID UNTIL 'infinity';\n");
    CHECK_FALSE(keep_role_password(globals, "nobody"));
    CHECK_FALSE(
        keep_role_password("ALTER ROLE \"Postgres\" WITH LOGIN PASSWORD 'x';\n", "postgres"));
}
