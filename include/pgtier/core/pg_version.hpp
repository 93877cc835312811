#pragma once
// PostgreSQL majors: pg_dump against the server it dumps, an archive against the server it is
// restored into (docs/design.md, PostgreSQL versions). Pure text logic.
#include <optional>
#include <string>
#include <string_view>

namespace pgtier {

// The version number in "15.18 (Debian 15.18-0+deb12u1)" (SHOW server_version) or
// "pg_dump (PostgreSQL) 17.12 (Debian 17.12-1)" (pg_dump --version): "15.18", "17.12"; the
// first word that starts with a digit. Empty when there is none.
std::string version_number(std::string_view text);

// Its major: 15 for "15.18", 18 for "18devel", 9 for "9.6.24". nullopt when there is none.
std::optional<int> major_version(std::string_view text);

// pg_dump refuses a server of a newer major ("aborting because of server version mismatch"):
// the message for that case, naming both versions and the fix; nullopt when pg_dump's major is
// the server's or newer, or when either version cannot be read.
std::optional<std::string> pg_dump_refusal(std::string_view pg_dump_version,
                                           std::string_view server_version);

// An archive dumped from a newer major than the target server's may hold what the older server
// lacks: the message refusing it (naming both versions and --force-version); nullopt when the
// target's major is the archive's or newer, or when the archive recorded no version.
std::optional<std::string> restore_version_refusal(std::string_view archive,
                                                   std::string_view archive_server_version,
                                                   std::string_view target_server_version);

// psql keeps archive text from running meta-commands only in restricted mode (\restrict,
// added in 13.22, 14.19, 15.14, 16.10, 17.6 and 18): the message refusing an older psql (or
// one whose version cannot be read), naming the minimum of its major; nullopt when it has it.
std::optional<std::string> psql_restrict_refusal(std::string_view psql_version);

}  // namespace pgtier
