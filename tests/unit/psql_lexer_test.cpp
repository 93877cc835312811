#include "catch_compat.hpp"

#include "pgtier/core/psql_lexer.hpp"

using namespace pgtier;

namespace {
constexpr auto none = std::string_view::npos;

// Where each line's meta-command backslash is (npos: none), the lines fed in order.
std::vector<std::size_t> scan_lines(const std::vector<std::string>& lines) {
    PsqlLexer lexer;
    std::vector<std::size_t> found;
    for (const auto& line : lines) found.push_back(lexer.scan(line + "\n"));
    return found;
}
}  // namespace

TEST_CASE("a backslash outside quotes starts a meta-command, wherever it stands") {
    CHECK(scan_lines({"\\! id"}) == std::vector<std::size_t>{0});
    CHECK(scan_lines({"SELECT 1; \\! id"}) == std::vector<std::size_t>{10});
    CHECK(scan_lines({"SELECT 1 \\g"}) == std::vector<std::size_t>{9});
    CHECK(scan_lines({"SELECT 'it''s' \\! x"}) == std::vector<std::size_t>{15});
    CHECK(scan_lines({"SELECT \"a\"\"b\" \\! x"}) == std::vector<std::size_t>{14});
    CHECK(scan_lines({"SELECT $$x$$ \\! x"}) == std::vector<std::size_t>{13});
    CHECK(scan_lines({"SELECT /* a */ \\! x"}) == std::vector<std::size_t>{15});
    CHECK(scan_lines({"SELECT a$b \\! x"}) == std::vector<std::size_t>{11});
    CHECK(scan_lines({"SELECT $1 \\! x"}) == std::vector<std::size_t>{10});
}

TEST_CASE("backslashes inside literals, names, dollar quotes and comments are text") {
    CHECK(scan_lines({"SELECT '\\! id';"}) == std::vector<std::size_t>{none});
    CHECK(scan_lines({"SELECT E'\\' \\! id';"}) == std::vector<std::size_t>{none});
    CHECK(scan_lines({"SELECT \"\\!\";"}) == std::vector<std::size_t>{none});
    CHECK(scan_lines({"SELECT 1; -- \\! id"}) == std::vector<std::size_t>{none});
    CHECK(scan_lines({"SELECT /* \\! */ 1;"}) == std::vector<std::size_t>{none});
    CHECK(scan_lines({"SELECT $f$ \\! $$ $f$;"}) == std::vector<std::size_t>{none});
    // Standard strings: a backslash does not escape the quote, so the literal ends there.
    CHECK(scan_lines({"SELECT 'a\\' \\! x"}) == std::vector<std::size_t>{12});
    // An E just ending a word is no escape-string prefix.
    CHECK(scan_lines({"SELECT some'a\\' \\! x"}) == std::vector<std::size_t>{16});
}

TEST_CASE("the quoting state carries over lines, as in a function body or comment") {
    CHECK(scan_lines({"CREATE FUNCTION f() RETURNS text AS $body$", "\\d+ is a regex here",
                      "$body$ LANGUAGE sql;", "\\! id"}) ==
          std::vector<std::size_t>{none, none, none, 0});
    CHECK(scan_lines({"COMMENT ON TABLE t IS 'first", "\\second line';", "\\q"}) ==
          std::vector<std::size_t>{none, none, 0});
    CHECK(scan_lines({"/* one /* nested */", "\\x still comment */ SELECT 1; \\x"}) ==
          std::vector<std::size_t>{none, 30});
    CHECK(scan_lines({"SELECT E'a\\", "\\' \\! still text';"}) ==
          std::vector<std::size_t>{none, none});
}

TEST_CASE("at_top_level tells where the next line starts") {
    PsqlLexer lexer;
    CHECK(lexer.at_top_level());
    lexer.scan("SELECT 'open\n");
    CHECK_FALSE(lexer.at_top_level());
    lexer.scan("closed';\n");
    CHECK(lexer.at_top_level());
    lexer.scan("SELECT $x$\n");
    CHECK_FALSE(lexer.at_top_level());
    lexer.scan("$y$ $x$\n");
    CHECK(lexer.at_top_level());
}
