#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace pgtier {

// Follows psql's lexer (psqlscan.l) far enough to tell where a backslash starts a meta-command:
// anywhere outside string literals ('…', E'…'), quoted identifiers, dollar quotes and comments,
// not only at the start of a line. Lines are fed in order; the quoting state carries over.
// Assumes standard_conforming_strings = on, as every pg_dump script sets it: an archive that
// turns it off may be read otherwise by psql, which is why psql is also run restricted.
class PsqlLexer {
  public:
    // Where the first backslash of `line` outside quotes and comments is; npos when there is
    // none. psql reads the rest of such a line as the meta-command's arguments, so the lexer
    // starts the next line outside any quote.
    std::size_t scan(std::string_view line);
    // Outside every quote and comment: where the next line starts.
    bool at_top_level() const { return state_ == State::normal; }

  private:
    enum class State { normal, quote, escape_quote, identifier, dollar, block_comment };
    State state_ = State::normal;
    std::string dollar_tag_;  // "$tag$" of the open dollar quote
    int comment_depth_ = 0;
};

}  // namespace pgtier
