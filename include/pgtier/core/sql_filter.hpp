#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/psql_lexer.hpp"

// Pure text transformations of pg_dump / pg_dumpall output for restores.
namespace pgtier {

// The identifier that starts at text[pos] ("quoted" or bare, bare ones folded to lower case),
// and where it ends; nullopt when no identifier starts there.
struct ParsedIdentifier {
    std::string name;
    std::size_t end = 0;
};
std::optional<ParsedIdentifier> parse_identifier(std::string_view text, std::size_t pos);

// "CREATE ROLE x;" as a DO block that ignores duplicate_object (and unique_violation: the same
// role committed meanwhile by a concurrent session), for replay onto a cluster where the role
// may exist.
std::string idempotent_create_role(std::string_view create_role_statement);

// Every "CREATE ROLE x;" line of a pg_dumpall --globals-only script made idempotent, or with
// only_role, only the one that creates that role; every other line is kept as is.
// A dump uses only_role: pg_dumpall writes "CREATE ROLE <the role it connects as>;", which
// fails on replay into any cluster where that role exists (always, for the bootstrap
// superuser), so that the archive replays with ON_ERROR_STOP=1. A whole-cluster restore makes
// every role idempotent.
std::string make_roles_idempotent(const std::string& globals,
                                  const std::optional<std::string>& only_role = std::nullopt);

// The globals script without the password of `role` (the "PASSWORD '…'" of its ALTER ROLE
// lines, every other attribute kept); nullopt when no line sets it. A restore keeps the
// password of the role it is connected as: the archived one would lock it out of the rest of
// the restore on a node whose password differs.
std::optional<std::string> keep_role_password(const std::string& globals, const std::string& role);

// Per role name, the statements of a globals script that recreate it alone: its CREATE ROLE
// (idempotent), its ALTER ROLE attributes and settings, its comment. No memberships.
std::map<std::string, std::string> role_definitions(const std::string& globals);

// The target of a psql "\connect" line as pg_dump and pgtier write it (bare, "quoted", or
// -reuse-previous=on "dbname='…'"); nullopt for any other form.
std::optional<std::string> connect_target(std::string_view line);

// Reads the start of a database section up to its first \connect line, noting the first
// CREATE DATABASE before it. pg_dump --create writes "CREATE DATABASE x …" and then
// "\connect x"; the sections of postgres and template1 start with pgtier's "\connect x".
class SectionHeaderScanner {
  public:
    // Takes text in any split; true once the first \connect line has been read.
    bool feed(std::string_view chunk);
    const std::optional<std::string>& created() const { return created_; }
    const std::optional<std::string>& connected() const { return connected_; }

  private:
    void line(std::string_view text);
    std::string pending_;
    bool done_ = false;
    std::optional<std::string> created_;
    std::optional<std::string> connected_;
};

// A section whose header does not name the database its manifest entry says; the message is
// the reason alone, for the caller to phrase.
class SectionHeaderMismatch : public Error {
  public:
    using Error::Error;
};

// Throws SectionHeaderMismatch when a section labelled `database` must not be replayed: its
// header creates or connects to another database, or has none. `creates_database`: the
// section must start with CREATE DATABASE (all but postgres and template1).
void check_section_header(const SectionHeaderScanner& header, const std::string& database,
                          bool creates_database);

// A line of archive text that psql would read as a meta-command pgtier does not allow (any
// but a \connect to the section's own database, and pg_dump's own \restrict/\unrestrict).
class ForbiddenMetaCommand : public Error {
  public:
    ForbiddenMetaCommand(std::uint64_t line, std::string_view text);
    std::uint64_t line() const { return line_; }

  private:
    std::uint64_t line_;
};

// A streaming line filter between a section (a database's or the globals) and psql:
//  - keeps archive text from ever running as a psql meta-command: psql is put in restricted
//    mode first ("\restrict KEY", which refuses every meta-command but "\unrestrict KEY"), the
//    archive's own \restrict/\unrestrict lines are dropped, a \connect to the section's own
//    database is replaced by pgtier's "\unrestrict KEY \connect … \restrict NEWKEY", and any
//    other backslash outside quotes and comments (PsqlLexer) throws ForbiddenMetaCommand
//    before psql receives its line;
//  - renames the database in its database-level statements (CREATE/ALTER/COMMENT ON/GRANT …
//    ON/SECURITY LABEL … ON DATABASE, ALTER ROLE … IN DATABASE, \connect) when rename_to is set;
//  - before the first statement that needs a role that is neither in existing_roles nor made
//    already, inserts its definition (from role_definitions, else a bare CREATE ROLE).
// It reads pg_dump's entry headers ("-- Name: …; Type: …; Schema: …; Owner: …") to know which
// statements are database-level or ACLs, and passes COPY data through untouched.
class RestoreFilter {
  public:
    struct Options {
        std::string database;  // the section's database; empty for the globals
        std::optional<std::string> rename_to;
        std::set<std::string> existing_roles;
        std::map<std::string, std::string> role_definitions;
        // Draws a new key for psql's restricted mode (an unguessable, alphanumeric string);
        // unset only in tests of the other rules.
        std::function<std::string()> draw_key;
        // SQL appended to the section's CREATE DATABASE line (the work database's marker).
        std::string after_create_database;
    };
    explicit RestoreFilter(Options options);

    // Appends the filtered text of `chunk` (any split) to `out`.
    void feed(std::string_view chunk, std::string& out);
    // Flushes a last line without a newline.
    void finish(std::string& out);

    // The line of the section that psql's line `psql_line` of the filtered text came from
    // (a line pgtier inserted counts as the section line after it).
    std::uint64_t section_line(std::uint64_t psql_line) const;

    // Roles this filter inserted a definition for, in order.
    const std::vector<std::string>& created_roles() const { return created_; }
    // Roles inserted without a definition (none was known): bare NOLOGIN roles.
    const std::vector<std::string>& undefined_roles() const { return undefined_; }

  private:
    void filter_line(std::string_view line, std::string& out);
    // A line that starts with a backslash at the top level: its replacement.
    void meta_command_line(std::string_view line, std::string& out);
    // Appends text pgtier adds (not from the section), noting the lines it adds: before the
    // section line being read, or after it.
    void insert(std::string_view text, std::string& out, bool after_line = false);
    void need_role(const std::string& role, std::string& out);
    std::string rename_database_references(std::string_view line) const;
    std::optional<std::string> rename_connect(std::string_view line) const;

    Options options_;
    std::string pending_;  // an incomplete last line
    bool in_copy_data_ = false;
    PsqlLexer lexer_;
    std::string key_;         // psql's current restricted-mode key
    bool marked_ = false;     // after_create_database written
    std::uint64_t line_ = 0;  // section lines read
    // Where inserted lines shift the filtered text: from section line `from` on, psql's line
    // numbers are the section's plus `shift`.
    struct Shift {
        std::uint64_t from;
        std::uint64_t shift;
    };
    std::vector<Shift> shifts_;
    std::string entry_type_;
    std::string entry_name_;
    std::vector<std::string> created_;
    std::vector<std::string> undefined_;
};

// A libpq conninfo for a database name ("dbname='it\'s'"), quoting-correct for any name.
std::string dbname_conninfo(const std::string& database);

// True when the tail of a section's output holds pg_dump's or pg_dumpall's trailer.
bool has_dump_trailer(const std::string& tail);

}  // namespace pgtier
