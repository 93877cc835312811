#pragma once
#include <string>
#include <vector>

#include "pgtier/database.hpp"
#include "pgtier/fingerprint.hpp"

// Every SQL statement pgtier sends lives in queries.cpp, behind these named functions.
namespace pgtier::queries {

// "15.18 (Debian 15.18-0+deb12u1)"-style text of SHOW server_version.
std::string server_version(Connection& conn);

bool is_superuser(Connection& conn);

// The databases pg_dumpall would dump (datallowconn), template1 first then by name, with
// their catalog digest and statistics reset time, from one cluster-wide query.
std::vector<DatabaseState> cluster_databases(Connection& conn);

// Digest of roles, memberships, role settings, tablespaces and their comments.
std::string globals_digest(Connection& conn);

struct DatabaseContent {
    std::string content_digest;
    std::string sequence_digest;
};
// One query inside a database: what statistics count and what they cannot see (sequences).
DatabaseContent database_content(Connection& conn);

}  // namespace pgtier::queries
