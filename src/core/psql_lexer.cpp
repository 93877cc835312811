#include "pgtier/core/psql_lexer.hpp"

#include <cctype>

namespace pgtier {

namespace {

bool is_identifier_char(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '$' ||
           static_cast<unsigned char>(ch) >= 0x80;
}

// The "$tag$" that starts at line[i] (psql: $ then an identifier start, then identifier
// characters but $, then $), or "" when none does ("$1" is a parameter).
std::string_view dollar_tag_at(std::string_view line, std::size_t i) {
    std::size_t j = i + 1;
    while (j < line.size() && line[j] != '$') {
        const char ch = line[j];
        if (!is_identifier_char(ch) ||
            (j == i + 1 && std::isdigit(static_cast<unsigned char>(ch)) != 0))
            return {};
        ++j;
    }
    if (j >= line.size()) return {};
    return line.substr(i, j - i + 1);
}

}  // namespace

std::size_t PsqlLexer::scan(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size()) {
        const char ch = line[i];
        const char next = i + 1 < line.size() ? line[i + 1] : '\0';
        switch (state_) {
            case State::quote:
            case State::escape_quote:
                if (state_ == State::escape_quote && ch == '\\') {
                    i += 2;
                } else if (ch == '\'' && next == '\'') {
                    i += 2;
                } else {
                    if (ch == '\'') state_ = State::normal;
                    ++i;
                }
                continue;
            case State::identifier:
                if (ch == '"' && next == '"') {
                    i += 2;
                } else {
                    if (ch == '"') state_ = State::normal;
                    ++i;
                }
                continue;
            case State::dollar:
                if (line.substr(i, dollar_tag_.size()) == dollar_tag_) {
                    i += dollar_tag_.size();
                    state_ = State::normal;
                } else {
                    ++i;
                }
                continue;
            case State::block_comment:
                if (ch == '/' && next == '*') {
                    ++comment_depth_;
                    i += 2;
                } else if (ch == '*' && next == '/') {
                    if (--comment_depth_ == 0) state_ = State::normal;
                    i += 2;
                } else {
                    ++i;
                }
                continue;
            case State::normal:
                break;
        }
        if (ch == '\\') return i;
        if (ch == '-' && next == '-') return std::string_view::npos;  // a comment to line end
        if (ch == '/' && next == '*') {
            state_ = State::block_comment;
            comment_depth_ = 1;
            i += 2;
        } else if (ch == '\'') {
            // E'…' (a lone E or e before the quote, not the end of a longer word) takes
            // backslash escapes; '…', U&'…', B'…', X'…' and N'…' do not.
            const bool escape = i > 0 && (line[i - 1] == 'E' || line[i - 1] == 'e') &&
                                (i == 1 || !is_identifier_char(line[i - 2]));
            state_ = escape ? State::escape_quote : State::quote;
            ++i;
        } else if (ch == '"') {
            state_ = State::identifier;
            ++i;
        } else if (ch == '$' && (i == 0 || !is_identifier_char(line[i - 1]))) {
            const auto tag = dollar_tag_at(line, i);
            if (tag.empty()) {
                ++i;
            } else {
                dollar_tag_ = std::string(tag);
                state_ = State::dollar;
                i += tag.size();
            }
        } else if (is_identifier_char(ch)) {
            while (i < line.size() && is_identifier_char(line[i])) ++i;
        } else {
            ++i;
        }
    }
    return std::string_view::npos;
}

}  // namespace pgtier
