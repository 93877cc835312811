#pragma once
#include <string>

// Quoting of names in the SQL that pgtier writes (DDL on its own connections, statements it
// inserts into a restore).
namespace pgtier {

// "name" with embedded double quotes doubled: valid for any name.
std::string quote_identifier(const std::string& name);

}  // namespace pgtier
