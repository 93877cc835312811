#include "pgtier/core/sql_filter.hpp"

#include <algorithm>
#include <cctype>

#include "pgtier/core/sql_text.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool is_bare_char(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '$' ||
           static_cast<unsigned char>(ch) >= 0x80;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// One line of SQL as tokens: words and identifiers (with their span), string literals and
// punctuation, so that keywords are never matched inside quotes.
struct Token {
    enum Kind { word, quoted, literal, punct } kind;
    std::string text;  // identifier name (words folded to lower case), or the character
    std::size_t begin, end;
};

std::vector<Token> tokenize(std::string_view line) {
    std::vector<Token> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
        const char ch = line[i];
        if (std::isspace(static_cast<unsigned char>(ch)) != 0) {
            ++i;
        } else if (ch == '"' || is_bare_char(ch)) {
            auto id = parse_identifier(line, i);
            if (!id) {  // an unterminated quote (a continuation line): the rest is one token
                tokens.push_back({Token::literal, "", i, line.size()});
                break;
            }
            tokens.push_back({ch == '"' ? Token::quoted : Token::word, id->name, i, id->end});
            i = id->end;
        } else if (ch == '\'') {
            std::size_t j = i + 1;
            while (j < line.size()) {
                if (line[j] == '\'' && j + 1 < line.size() && line[j + 1] == '\'') {
                    j += 2;
                } else if (line[j] == '\'') {
                    break;
                } else {
                    ++j;
                }
            }
            tokens.push_back({Token::literal, "", i, std::min(j + 1, line.size())});
            i = j + 1;
        } else {
            tokens.push_back({Token::punct, std::string(1, ch), i, i + 1});
            ++i;
        }
    }
    return tokens;
}

bool is_word(const Token& token, std::string_view keyword) {
    return token.kind == Token::word && token.text == lower(keyword);
}
bool is_name(const Token& token) {
    return token.kind == Token::word || token.kind == Token::quoted;
}

// The roles a GRANT / REVOKE / ALTER DEFAULT PRIVILEGES line names: the grantees after the
// last TO (FROM for REVOKE), and the role after FOR ROLE.
std::vector<std::string> roles_in_acl_line(std::string_view line) {
    const auto tokens = tokenize(line);
    std::vector<std::string> roles;
    for (std::size_t i = 0; i + 2 < tokens.size(); ++i) {
        const bool for_role = is_word(tokens[i], "for") && is_word(tokens[i + 1], "role");
        const bool granted_by = is_word(tokens[i], "granted") && is_word(tokens[i + 1], "by");
        if ((for_role || granted_by) && is_name(tokens[i + 2])) roles.push_back(tokens[i + 2].text);
    }
    std::optional<std::size_t> list_start;
    // The first of GRANT / REVOKE decides ("REVOKE GRANT OPTION FOR …" is a REVOKE).
    std::optional<bool> revoke;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (!revoke && is_word(tokens[i], "grant")) revoke = false;
        if (!revoke && is_word(tokens[i], "revoke")) revoke = true;
        if (revoke && is_word(tokens[i], *revoke ? "from" : "to")) list_start = i + 1;
    }
    if (!list_start) return roles;
    for (std::size_t i = *list_start; i < tokens.size(); ++i) {
        const Token& t = tokens[i];
        if (t.kind == Token::punct && t.text == ",") continue;
        if (t.kind == Token::quoted ||
            (t.kind == Token::word && t.text != "public" && t.text != "with" &&
             t.text != "granted" && t.text != "cascade" && t.text != "restrict")) {
            roles.push_back(t.text);
            continue;
        }
        if (t.kind == Token::word && t.text == "public") continue;
        break;
    }
    return roles;
}

// The roles of a "CREATE POLICY … TO r1, r2 USING (…)" line, or of "CREATE USER MAPPING FOR r".
std::vector<std::string> roles_in_policy_line(std::string_view line) {
    const auto tokens = tokenize(line);
    std::vector<std::string> roles;
    std::size_t i = 0;
    const bool mapping =
        tokens.size() > 3 && is_word(tokens[1], "user") && is_word(tokens[2], "mapping");
    while (i < tokens.size() && !is_word(tokens[i], mapping ? "for" : "to")) ++i;
    for (++i; i < tokens.size(); ++i) {
        const Token& t = tokens[i];
        if (t.kind == Token::punct && t.text == ",") continue;
        if (!is_name(t) || (t.kind == Token::word &&
                            (t.text == "using" || t.text == "with" || t.text == "server"))) {
            break;
        }
        if (!(t.kind == Token::word && (t.text == "public" || t.text == "current_user" ||
                                        t.text == "current_role" || t.text == "session_user"))) {
            roles.push_back(t.text);
        }
    }
    return roles;
}

// The first line of a statement about a database as pg_dump writes them; continuation lines
// of a multi-line comment are never touched.
bool is_database_statement(std::string_view line) {
    for (std::string_view head : {"CREATE DATABASE ", "ALTER DATABASE ", "COMMENT ON DATABASE ",
                                  "SECURITY LABEL ", "GRANT ", "REVOKE ", "ALTER ROLE "}) {
        if (starts_with(line, head)) return true;
    }
    return false;
}

}  // namespace

std::optional<ParsedIdentifier> parse_identifier(std::string_view text, std::size_t pos) {
    if (pos >= text.size()) return std::nullopt;
    ParsedIdentifier id;
    if (text[pos] == '"') {
        std::size_t i = pos + 1;
        while (i < text.size()) {
            if (text[i] == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    id.name.push_back('"');
                    i += 2;
                    continue;
                }
                id.end = i + 1;
                return id;
            }
            id.name.push_back(text[i++]);
        }
        return std::nullopt;  // unterminated
    }
    std::size_t i = pos;
    while (i < text.size() && is_bare_char(text[i])) ++i;
    if (i == pos) return std::nullopt;
    id.name = lower(text.substr(pos, i - pos));
    id.end = i;
    return id;
}

std::string idempotent_create_role(std::string_view statement) {
    while (!statement.empty() && (statement.back() == '\n' || statement.back() == ';'))
        statement.remove_suffix(1);
    // unique_violation: the same role created at that moment by another session (two databases
    // of a parallel restore that need it) that committed first.
    // A dollar-quote tag that the statement (a role name) cannot end early.
    std::string tag = "$pgtier$";
    for (int n = 1; statement.find(tag) != std::string_view::npos; ++n)
        tag = "$pgtier" + std::to_string(n) + "$";
    return "DO " + tag + "BEGIN " + std::string(statement) +
           "; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END" + tag + ";\n";
}

namespace {

// Calls fn(line) for each line of text, newline included.
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        end = end == std::string::npos ? text.size() : end + 1;
        fn(std::string_view(text.data() + pos, end - pos));
        pos = end;
    }
}

// The role a "CREATE ROLE x;" line creates.
std::optional<std::string> created_role(std::string_view line) {
    constexpr std::string_view prefix = "CREATE ROLE ";
    if (!starts_with(line, prefix)) return std::nullopt;
    auto id = parse_identifier(line, prefix.size());
    if (!id || line.substr(id->end, 1) != ";") return std::nullopt;
    return id->name;
}

}  // namespace

std::string make_roles_idempotent(const std::string& globals,
                                  const std::optional<std::string>& only_role) {
    std::string out;
    out.reserve(globals.size() + 1024);
    for_each_line(globals, [&](std::string_view line) {
        const auto role = created_role(line);
        const bool rewrite = role && (!only_role || *role == *only_role);
        out += rewrite ? idempotent_create_role(line) : std::string(line);
    });
    return out;
}

std::optional<std::string> keep_role_password(const std::string& globals, const std::string& role) {
    std::string out;
    bool changed = false;
    for_each_line(globals, [&](std::string_view line) {
        constexpr std::string_view alter = "ALTER ROLE ";
        const auto id =
            starts_with(line, alter) ? parse_identifier(line, alter.size()) : std::nullopt;
        if (!id || id->name != role) {
            out.append(line);
            return;
        }
        const auto tokens = tokenize(line);
        for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
            if (!is_word(tokens[i], "password") ||
                (tokens[i + 1].kind != Token::literal && !is_word(tokens[i + 1], "null")))
                continue;
            // " PASSWORD '…'" out, the attributes around it kept.
            std::size_t from = tokens[i].begin;
            while (from > 0 && line[from - 1] == ' ') --from;
            out.append(line.substr(0, from));
            out.append(line.substr(tokens[i + 1].end));
            changed = true;
            return;
        }
        out.append(line);
    });
    if (!changed) return std::nullopt;
    return out;
}

std::map<std::string, std::string> role_definitions(const std::string& globals) {
    std::map<std::string, std::string> defs;
    for_each_line(globals, [&](std::string_view line) {
        if (auto role = created_role(line)) {
            defs[*role] += idempotent_create_role(line);
            return;
        }
        for (std::string_view prefix : {"ALTER ROLE ", "COMMENT ON ROLE "}) {
            if (!starts_with(line, prefix)) continue;
            auto id = parse_identifier(line, prefix.size());
            if (!id || !defs.count(id->name)) return;
            const auto rest = line.substr(id->end);
            // Settings inside one database belong to that database, and multi-line
            // statements (a comment with newlines) are left out rather than cut.
            if (starts_with(rest, " IN DATABASE ")) return;
            if (line.size() < 2 || line.substr(line.size() - 2) != ";\n") return;
            defs[id->name] += std::string(line);
        }
    });
    return defs;
}

ForbiddenMetaCommand::ForbiddenMetaCommand(std::uint64_t line, std::string_view text)
    : Error([&] {
          constexpr std::size_t shown = 120;
          std::string command(text.substr(0, shown));
          while (!command.empty() && command.back() == '\n') command.pop_back();
          return "line " + std::to_string(line) + " holds a psql meta-command: \"" +
                 printable(command) + (text.size() > shown ? "…" : "") + "\"";
      }()),
      line_(line) {}

RestoreFilter::RestoreFilter(Options options) : options_(std::move(options)) {}

void RestoreFilter::insert(std::string_view text, std::string& out, bool after_line) {
    out.append(text);
    const auto lines = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
    if (lines == 0) return;
    const std::uint64_t before = shifts_.empty() ? 0 : shifts_.back().shift;
    // Before the section line being read (the first, before any is read), or after it.
    shifts_.push_back({std::max<std::uint64_t>(line_, 1) + (after_line ? 1 : 0), before + lines});
}

std::uint64_t RestoreFilter::section_line(std::uint64_t psql_line) const {
    std::uint64_t shift = 0;
    for (const auto& s : shifts_) {
        if (s.from + s.shift > psql_line) break;
        shift = s.shift;
    }
    return psql_line > shift ? psql_line - shift : 1;
}

void RestoreFilter::feed(std::string_view chunk, std::string& out) {
    if (options_.draw_key && key_.empty()) {
        key_ = options_.draw_key();
        insert("\\restrict " + key_ + "\n", out);
    }
    while (!chunk.empty()) {
        const auto newline = chunk.find('\n');
        if (newline == std::string_view::npos) {
            pending_.append(chunk);
            return;
        }
        if (pending_.empty()) {
            filter_line(chunk.substr(0, newline + 1), out);
        } else {
            pending_.append(chunk.substr(0, newline + 1));
            filter_line(pending_, out);
            pending_.clear();
        }
        chunk.remove_prefix(newline + 1);
    }
}

void RestoreFilter::finish(std::string& out) {
    if (!pending_.empty()) filter_line(pending_, out);
    pending_.clear();
}

void RestoreFilter::need_role(const std::string& role, std::string& out) {
    if (options_.existing_roles.count(role)) return;
    options_.existing_roles.insert(role);
    const auto def = options_.role_definitions.find(role);
    if (def != options_.role_definitions.end()) {
        // Archive text too (from the globals): checked like the section's own lines.
        PsqlLexer lexer;
        std::string_view text = def->second;
        while (!text.empty()) {
            const auto line = text.substr(0, text.find('\n'));
            if (lexer.scan(line) != std::string_view::npos) throw ForbiddenMetaCommand(line_, line);
            text.remove_prefix(std::min(text.size(), line.size() + 1));
        }
        insert(def->second, out);
        created_.push_back(role);
    } else {
        insert(idempotent_create_role("CREATE ROLE " + quote_identifier(role)), out);
        created_.push_back(role);
        undefined_.push_back(role);
    }
}

void RestoreFilter::meta_command_line(std::string_view line, std::string& out) {
    std::string_view command = line;
    while (!command.empty() && (command.back() == '\n' || command.back() == ' ')) {
        command.remove_suffix(1);
    }
    // pg_dump's own "\restrict KEY" / "\unrestrict KEY" (psql 15.14+): pgtier's key rules
    // instead. "\encoding SQL_ASCII" comes before a \connect to a name that is not plain
    // ASCII (appendPsqlMetaConnect), so that psql passes the name's bytes as they are; pgtier's
    // \connect names ASCII work databases, and the dump's SET client_encoding follows it. Each
    // is replaced by an empty line so that psql's line numbers stay the section's.
    for (std::string_view own : {"\\restrict ", "\\unrestrict ", "\\encoding "}) {
        if (!starts_with(command, own) || command.size() == own.size()) continue;
        const auto key = command.substr(own.size());
        if (std::all_of(key.begin(), key.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
            })) {
            out += "\n";
            return;
        }
    }
    if (!options_.database.empty() && connect_target(line) == options_.database) {
        std::string connect(line);
        if (auto renamed = rename_connect(line)) connect = *renamed;
        while (!connect.empty() && connect.back() == '\n') connect.pop_back();
        if (!marked_ && !options_.after_create_database.empty()) {
            // No CREATE DATABASE line took the marker: it goes before the \connect.
            marked_ = true;
            insert(options_.after_create_database + "\n", out);
        }
        if (!options_.draw_key) {
            out += connect + "\n";
            return;
        }
        // Each on its own line: psql 17.6+ takes the rest of the line as \unrestrict's key.
        insert("\\unrestrict " + key_ + "\n", out);
        out += connect + "\n";
        key_ = options_.draw_key();
        insert("\\restrict " + key_ + "\n", out, true);
        return;
    }
    throw ForbiddenMetaCommand(line_, line);
}

void RestoreFilter::filter_line(std::string_view line, std::string& out) {
    ++line_;
    if (in_copy_data_) {
        if (line == "\\.\n" || line == "\\.") in_copy_data_ = false;
        out.append(line);
        return;
    }
    const bool top_level = lexer_.at_top_level();
    const auto backslash = lexer_.scan(line);
    if (backslash == 0 && top_level) {
        meta_command_line(line, out);
        return;
    }
    if (backslash != std::string_view::npos) throw ForbiddenMetaCommand(line_, line);
    if (!top_level) {  // inside a literal, a quoted name, a dollar quote or a comment
        out.append(line);
        return;
    }
    if (starts_with(line, "COPY ") && line.find(" FROM stdin;") != std::string_view::npos) {
        in_copy_data_ = true;
        out.append(line);
        return;
    }
    for (std::string_view header : {"-- Name: ", "-- Data for Name: "}) {
        if (!starts_with(line, header)) continue;
        std::string_view rest = line.substr(header.size());
        while (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
        const auto type_at = rest.find("; Type: ");
        const auto schema_at = rest.find("; Schema: ", type_at);
        const auto owner_at = rest.rfind("; Owner: ");
        if (type_at == std::string_view::npos || schema_at == std::string_view::npos) break;
        entry_name_ = std::string(rest.substr(0, type_at));
        entry_type_ = std::string(rest.substr(type_at + 8, schema_at - type_at - 8));
        if (owner_at != std::string_view::npos && owner_at > schema_at) {
            // "…; Owner: alice; Tablespace: fast" for objects outside the default tablespace.
            std::string_view owner_text = rest.substr(owner_at + 9);
            owner_text = owner_text.substr(0, owner_text.find("; Tablespace: "));
            const std::string owner(owner_text);
            if (!owner.empty() && owner != "-") need_role(owner, out);
        }
        out.append(line);
        return;
    }
    const bool database_level =
        entry_type_ == "DATABASE" || entry_type_ == "DATABASE PROPERTIES" ||
        ((entry_type_ == "COMMENT" || entry_type_ == "ACL" || entry_type_ == "SECURITY LABEL") &&
         starts_with(entry_name_, "DATABASE "));
    if (entry_type_ == "ACL" || entry_type_ == "DEFAULT ACL") {
        if (starts_with(line, "GRANT ") || starts_with(line, "REVOKE ") ||
            starts_with(line, "ALTER DEFAULT PRIVILEGES ")) {
            for (const auto& role : roles_in_acl_line(line)) need_role(role, out);
        }
    }
    if ((entry_type_ == "POLICY" && starts_with(line, "CREATE POLICY ")) ||
        (entry_type_ == "USER MAPPING" && starts_with(line, "CREATE USER MAPPING "))) {
        for (const auto& role : roles_in_policy_line(line)) need_role(role, out);
    }
    for (std::string_view prefix : {"ALTER ROLE ", "SET SESSION AUTHORIZATION "}) {
        if ((database_level || entry_type_ == "ACL") && starts_with(line, prefix)) {
            if (auto id = parse_identifier(line, prefix.size())) need_role(id->name, out);
        }
    }
    if (database_level && options_.rename_to && is_database_statement(line)) {
        std::string renamed = rename_database_references(line);
        if (!marked_ && !options_.after_create_database.empty() &&
            starts_with(renamed, "CREATE DATABASE ") && renamed.ends_with(";\n")) {
            // On the same line: psql sends it right after the CREATE, and line numbers stay.
            marked_ = true;
            renamed.insert(renamed.size() - 1, " " + options_.after_create_database);
        }
        out += renamed;
        return;
    }
    out.append(line);
}

std::string RestoreFilter::rename_database_references(std::string_view line) const {
    const auto tokens = tokenize(line);
    std::string out;
    std::size_t copied = 0;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
        const Token& next = tokens[i + 1];
        if (is_word(tokens[i], "database") && is_name(next) && next.text == options_.database) {
            out.append(line.substr(copied, next.begin - copied));
            out += quote_identifier(*options_.rename_to);
            copied = next.end;
            break;  // the statement's own name; a later "database x" is text
        }
    }
    out.append(line.substr(copied));
    return out;
}

std::optional<std::string> connect_target(std::string_view line) {
    constexpr std::string_view command = "\\connect ";
    if (!starts_with(line, command)) return std::nullopt;
    std::string_view arg = line.substr(command.size());
    while (!arg.empty() && (arg.back() == '\n' || arg.back() == ' ')) arg.remove_suffix(1);
    std::string target;
    constexpr std::string_view reuse = "-reuse-previous=on ";
    if (starts_with(arg, reuse)) {
        // "dbname='…'": psql's double quotes, then libpq's single-quoted conninfo value.
        auto quoted = parse_identifier(arg, reuse.size());
        if (!quoted || quoted->end != arg.size() || !starts_with(quoted->name, "dbname='") ||
            quoted->name.back() != '\'')
            return std::nullopt;
        const std::string_view value(quoted->name.data() + 8, quoted->name.size() - 9);
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '\\' && i + 1 < value.size()) ++i;
            target.push_back(value[i]);
        }
    } else if (starts_with(arg, "\"")) {
        auto quoted = parse_identifier(arg, 0);  // psql's double quotes, as for "dot.ted"
        if (!quoted || quoted->end != arg.size()) return std::nullopt;
        target = quoted->name;
    } else {
        target = std::string(arg);
    }
    return target;
}

std::optional<std::string> RestoreFilter::rename_connect(std::string_view line) const {
    if (!options_.rename_to) return std::nullopt;
    if (connect_target(line) != options_.database) return std::nullopt;
    return "\\connect -reuse-previous=on " +
           quote_identifier(dbname_conninfo(*options_.rename_to)) + "\n";
}

bool SectionHeaderScanner::feed(std::string_view chunk) {
    // Only the start of a line matters; a huge line is not kept whole.
    constexpr std::size_t max_line = 64 * 1024;
    while (!done_ && !chunk.empty()) {
        const auto newline = chunk.find('\n');
        const auto piece = chunk.substr(0, newline);
        pending_.append(piece.substr(0, max_line - std::min(max_line, pending_.size())));
        if (newline == std::string_view::npos) return false;
        line(pending_);
        pending_.clear();
        chunk.remove_prefix(newline + 1);
    }
    return done_;
}

void SectionHeaderScanner::line(std::string_view text) {
    constexpr std::string_view create = "CREATE DATABASE ";
    if (!created_ && starts_with(text, create)) {
        if (auto id = parse_identifier(text, create.size())) created_ = id->name;
    } else if (starts_with(text, "\\connect ")) {
        // An unparsable \connect still ends the header: it is refused as naming nothing.
        connected_ = connect_target(text).value_or("");
        done_ = true;
    }
}

void check_section_header(const SectionHeaderScanner& header, const std::string& database,
                          bool creates_database) {
    const std::string label = "its manifest says database " + quote_identifier(database);
    if (!header.connected()) {
        throw SectionHeaderMismatch("the section has no \\connect header; " + label);
    }
    if (creates_database && !header.created()) {
        throw SectionHeaderMismatch("the section's header creates no database (it connects to " +
                                    quote_identifier(*header.connected()) + "); " + label);
    }
    if (header.created() && *header.created() != database) {
        throw SectionHeaderMismatch("the section's header names database " +
                                    quote_identifier(*header.created()) + " (CREATE DATABASE); " +
                                    label);
    }
    if (!creates_database && header.created()) {
        throw SectionHeaderMismatch("the section's header creates database " +
                                    quote_identifier(*header.created()) + "; " + label +
                                    ", which is not created but loaded into");
    }
    if (*header.connected() != database) {
        throw SectionHeaderMismatch("the section's header names database " +
                                    quote_identifier(*header.connected()) + " (\\connect); " +
                                    label);
    }
}

std::string dbname_conninfo(const std::string& database) {
    std::string out = "dbname='";
    for (char ch : database) {
        if (ch == '\'' || ch == '\\') out.push_back('\\');
        out.push_back(ch);
    }
    return out + "'";
}

bool has_dump_trailer(const std::string& tail) {
    return tail.find("-- PostgreSQL database dump complete") != std::string::npos ||
           tail.find("-- PostgreSQL database cluster dump complete") != std::string::npos;
}

}  // namespace pgtier
