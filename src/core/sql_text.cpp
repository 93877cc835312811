#include "pgtier/core/sql_text.hpp"

namespace pgtier {

// Also psql's double-quoted meta-command argument: the same doubling of embedded quotes.
std::string quote_identifier(const std::string& name) {
    std::string out = "\"";
    for (char ch : name) {
        if (ch == '"') out.push_back('"');
        out.push_back(ch);
    }
    return out + "\"";
}

}  // namespace pgtier
