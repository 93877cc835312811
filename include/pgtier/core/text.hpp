#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pgtier {

// "512 B", "3.4 MiB": sizes as people read them.
std::string human_size(std::uint64_t bytes);

// "42.0 s", "12 min", "3.5 h", "2.0 days": a duration in seconds as people read it.
std::string duration_text(double seconds);

// "a", "b" -> "\"a\", \"b\"" (names that may hold spaces and commas stay readable; control
// characters are escaped as by printable).
std::string join_quoted(const std::vector<std::string>& names);

// `text` with control characters written as \n, \r, \xNN (C1 controls, U+0080..U+009F, as
// \u00NN), so that a hostile name cannot break a message or a log line, nor send a terminal
// escape sequence. Other bytes (UTF-8 text, backslashes) are kept: it changes nothing twice.
std::string printable(const std::string& text);
// The same, keeping line feeds and tabs: for a message of several lines (an error as printed).
std::string printable_lines(const std::string& text);

// A child's message (stderr) for an error: its first max_chars characters (TextEnd::head), or
// its last ones after "…" (TextEnd::tail), without trailing newlines and spaces;
// "(no message)" when nothing is left.
enum class TextEnd { head, tail };
std::string message_excerpt(const std::string& text, TextEnd end, std::size_t max_chars);

}  // namespace pgtier
