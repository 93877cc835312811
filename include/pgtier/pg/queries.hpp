#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pgtier/core/fingerprint.hpp"
#include "pgtier/core/lock_wait.hpp"
#include "pgtier/pg/database.hpp"

// Every SQL statement pgtier sends lives in queries.cpp, behind these named functions.
namespace pgtier::queries {

// "15.18 (Debian 15.18-0+deb12u1)"-style text of SHOW server_version.
std::string server_version(Connection& conn);

// pg_control_system()'s system_identifier, in decimal: the identity initdb gave the cluster.
std::string system_identifier(Connection& conn);

bool is_superuser(Connection& conn);

// The databases pg_dumpall would dump (datallowconn), template1 first then by name, with
// their catalog digest and statistics reset time, from one cluster-wide query. pgtier's restore
// work databases (work_database_regex) are left out: they are never backed up.
std::vector<DatabaseState> cluster_databases(Connection& conn);

// Digest of roles, memberships, role settings, tablespaces and their comments.
std::string globals_digest(Connection& conn);

struct DatabaseContent {
    std::string content_digest;
    std::string sequence_digest;
};
// One query inside a database: what statistics count and what they cannot see (sequences).
DatabaseContent database_content(Connection& conn);

// The size on disk of every connectable database, by name: what a parallel backup orders its
// dumps by (largest first).
std::map<std::string, std::uint64_t> database_sizes(Connection& conn);

// ---- restore
std::set<std::string> role_names(Connection& conn);
std::vector<std::string> database_names(Connection& conn);
// The role the connection acts as (current_user).
std::string current_role(Connection& conn);
// Whether a database of that name exists (connectable or not).
bool database_exists(Connection& conn, const std::string& database);
// Whether a session other than this one has that application_name, or one that starts with
// it and a "-" (the psql sessions of one restore process, restore_application_name).
bool has_sessions_of(Connection& conn, const std::string& application_name);

// What the session named `application_name` waits for, and who holds what it waits for (the
// relation is named only when `conn` is in the database the lock is in); nullopt when no such
// session is there.
std::optional<LockWait> lock_wait_of(Connection& conn, const std::string& application_name);
// Tables, views, sequences… outside the system schemas of the connected database.
bool has_user_tables(Connection& conn);
std::uint64_t database_size(Connection& conn, const std::string& database);
void create_empty_database(Connection& conn, const std::string& database);
// pgtier's mark on a work database: a database-level setting pgtier.work_database holding the
// database's own name, which only a superuser can set. A database is dropped as a leftover
// work database only when it carries the mark with its current name.
std::string work_database_mark_sql(const std::string& database);
void mark_work_database(Connection& conn, const std::string& database);
bool has_work_database_mark(Connection& conn, const std::string& database);
// Removes the mark from a restored database that took its target name.
void unmark_work_database(Connection& conn, const std::string& database);
// Ends the sessions of a client by application_name and waits until they are gone
// (PostgreSQL 14+).
void terminate_sessions_of(Connection& conn, const std::string& application_name);
// Ends the sessions connected to it (PostgreSQL 13+ FORCE); clears a template flag first.
void drop_database(Connection& conn, const std::string& database);
// Gives `to` the owner, ACL, connection settings, template flag, per-database role settings and
// comment of `from` (what pg_dump does not write for postgres and template1). Catalog updates:
// superuser only.
void carry_database_attributes(Connection& conn, const std::string& from, const std::string& to);
void rename_database(Connection& conn, const std::string& from, const std::string& to);

}  // namespace pgtier::queries
