#include "pgtier/pg/restorer.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <regex>

#include "pgtier/archive/section_reader.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/pg_version.hpp"
#include "pgtier/core/sql_filter.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/pg/queries.hpp"
#include "pgtier/pg/stall_watch.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/process.hpp"
#include "pgtier/sys/random.hpp"

namespace pgtier {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string globals_description(const SectionRef& ref) {
    return "the globals (roles, tablespaces) from " + ref.archive->name();
}

std::string describe(const SectionRef& ref) {
    return section_label(ref.section) + " from " + ref.archive->name();
}

// psql's restricted-mode keys: long enough that no archive can hold the next one.
std::string draw_restrict_key() {
    return random_alphanumeric(32);
}

// psql's message with its line number ("psql:<stdin>:1234: ERROR: …") told as the section's
// line, and a refused meta-command said as such.
std::string psql_failure(const std::string& what, const std::string& stderr_text,
                         const RestoreFilter& filter) {
    std::string message = message_excerpt(stderr_text, TextEnd::tail, 1500);
    static const std::regex line_number("psql:<stdin>:([0-9]{1,18}):");
    std::smatch match;
    if (!std::regex_search(stderr_text, match, line_number)) return message;
    const auto line = filter.section_line(std::stoull(match[1].str()));
    if (stderr_text.find("backslash commands are restricted") != std::string::npos) {
        return what + " holds a psql meta-command at line " + std::to_string(line) +
               ", which psql refused (pgtier runs it restricted): the archive was not written "
               "by pg_dump as it is; refusing it.\n" +
               message;
    }
    return "at line " + std::to_string(line) + " of " + what + ":\n" + message;
}

std::function<void(const TextSink&)> reader(const SectionRef& ref, WorkerPool* pool) {
    return
        [ref, pool](const TextSink& sink) { read_section(*ref.archive, ref.section, sink, pool); };
}

}  // namespace

Restorer::Restorer(const ConnectionSettings& settings, const std::atomic<bool>& stop,
                   WorkerPool* decode_pool)
    : client_(settings), stop_(stop), decode_pool_(decode_pool) {}

void Restorer::require_restricting_psql() {
    // Asked once per process: the psql on PATH does not change while pgtier runs.
    static std::once_flag asked;
    static std::optional<std::string> refusal;
    std::call_once(asked, [this] {
        std::string version;
        try {
            version = run_and_capture({{"psql", "--version"}, client_.env()});
        } catch (const Error& err) {
            version = err.what();
        }
        refusal = psql_restrict_refusal(version);
    });
    if (refusal) throw Error(*refusal);
}

std::string Restorer::psql_application_name() {
    return restore_application_name(::getpid(), ++work_counter_);
}

std::string Restorer::maintenance_database(const std::string& avoid) const {
    return avoid == "postgres" ? "template1" : "postgres";
}

std::vector<std::string> Restorer::databases() {
    Connection conn(client_.settings(), "postgres");
    return queries::database_names(conn);
}

std::string Restorer::server_version() {
    Connection conn(client_.settings(), "postgres");
    return queries::server_version(conn);
}

bool Restorer::has_user_tables(const std::string& database) {
    Connection conn(client_.settings(), database);
    return queries::has_user_tables(conn);
}

Restorer::EmptyCheck Restorer::cluster_is_empty() {
    std::vector<std::string> user;
    for (const auto& name : databases()) {
        if (name != "postgres" && name != "template0" && name != "template1") user.push_back(name);
    }
    if (!user.empty()) return {false, "the cluster has databases: " + join_quoted(user)};
    if (has_user_tables("postgres")) return {false, "database postgres has user tables"};
    return {true, "the cluster has no user databases and postgres has no user tables"};
}

std::string Restorer::read_text(const SectionRef& ref) {
    std::string text;
    read_section(*ref.archive, ref.section, [&](std::string_view chunk) { text.append(chunk); });
    return text;
}

std::uint64_t Restorer::replay(const std::string& what, std::uint64_t total,
                               const std::string& connect_to, const std::string& application_name,
                               const std::function<void(const TextSink&)>& produce,
                               RestoreFilter& filter) {
    std::vector<std::string> argv = {
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--echo-errors", "--output=/dev/null"};
    for (auto& a : client_.connection_args()) argv.push_back(a);
    argv.push_back("--dbname=" + dbname_conninfo(connect_to));
    argv.push_back("--file=-");
    ChildSpec spec{argv, client_.env(), true, client_.inherit_fds()};
    // Named, so that a failed restore can end the server session psql leaves behind.
    spec.env.push_back("PGAPPNAME=" + application_name);
    Child psql(spec);

    std::uint64_t bytes = 0;
    std::atomic<std::uint64_t> sent{0};
    const StallWatch stall(client_.settings(), connect_to, application_name, "restoring " + what,
                           sent);
    ProgressLog progress;
    bool psql_gone = false;
    std::string filtered;
    auto send = [&](std::string_view text) {
        if (!psql_gone && !psql.write_stdin(text.data(), text.size(), &stop_)) psql_gone = true;
    };
    // Thrown out of the reader once psql has stopped at an error: the rest of the section
    // need not be decompressed before its message is shown.
    struct PsqlStopped {};
    const std::string interrupted = "interrupted (SIGTERM/SIGINT) while restoring " + what;
    try {
        produce([&](std::string_view chunk) {
            if (stop_.load()) throw Error(interrupted);
            if (psql_gone) throw PsqlStopped{};
            bytes += chunk.size();
            sent.store(bytes);
            filtered.clear();
            filter.feed(chunk, filtered);
            send(filtered);
            if (const auto s = progress.due(); s && !stall.waiting()) {
                spdlog::info("restoring {}: {:.1f} of {:.1f} MiB ({:.0f}%), {:.1f} MiB/s", what,
                             bytes / 1048576.0, total / 1048576.0,
                             total > 0 ? 100.0 * bytes / total : 100.0, bytes / 1048576.0 / *s);
            }
        });
        filtered.clear();
        filter.finish(filtered);
        send(filtered);
    } catch (const PsqlStopped&) {
        // psql's exit status and message are reported below.
    } catch (const ForbiddenMetaCommand& forbidden) {
        psql.kill_now();
        throw Error(what + ": " + forbidden.what() +
                    "; pgtier never lets archive text run as a psql command: refusing it (the "
                    "archive was not written by pg_dump as it is)");
    } catch (const Error&) {
        psql.kill_now();
        if (stop_.load()) throw Error(interrupted);
        throw;
    }
    psql.close_stdin();
    const int status = psql.wait(&stop_);
    if (stop_.load()) throw Error(interrupted);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw Error("psql stopped restoring " + what + " (" + describe_wait_status(status) + "), " +
                    psql_failure(what, psql.stderr_text(), filter));
    }
    if (psql_gone) throw Error("psql ended before the end of " + what + " (a \\q in it?)");
    return bytes;
}

std::string Restorer::connected_role() {
    Connection conn(client_.settings(), "postgres");
    return queries::current_role(conn);
}

std::string Restorer::checked_globals(const SectionRef& ref, const std::string& connected_role) {
    // make_roles_idempotent keeps the lines where they are: line numbers are the archive's.
    std::string globals = make_roles_idempotent(read_text(ref));
    if (auto kept = keep_role_password(globals, connected_role)) {
        globals = std::move(*kept);
        spdlog::info(
            "the restore keeps the current password of role \"{}\", the role pgtier connects as "
            "(the archive's would lock the rest of the restore out where it differs)",
            printable(connected_role));
    }
    RestoreFilter::Options options;
    try {
        RestoreFilter check(options);
        std::string checked;
        check.feed(globals, checked);
        check.finish(checked);
    } catch (const ForbiddenMetaCommand& forbidden) {
        throw Error(globals_description(ref) + ": " + forbidden.what() +
                    "; pgtier never lets archive text run as a psql command: refusing it before "
                    "anything was changed (the archive was not written by pg_dump as it is)");
    }
    return globals;
}

void Restorer::restore_globals(const SectionRef& ref, const std::string& checked) {
    require_restricting_psql();
    const auto started = std::chrono::steady_clock::now();
    RestoreFilter::Options options;
    options.draw_key = draw_restrict_key;
    RestoreFilter filter(options);
    replay(
        globals_description(ref), checked.size(), "postgres", psql_application_name(),
        [&](const TextSink& sink) { sink(checked); }, filter);
    spdlog::info("restored globals from {} ({} bytes, {:.1f} s)", ref.archive->name(),
                 checked.size(), seconds_since(started));
}

void Restorer::check_restorable(const SectionRef& ref, const std::string& target) {
    try {
        check_database_name(target);
    } catch (const BadDatabaseName& bad) {
        throw Error("cannot restore into \"" + printable(target) + "\": " + bad.what() +
                    " (nothing was changed)");
    }
    // Only the header is read: the scan stops at the first \connect line.
    struct HeaderRead {};
    SectionHeaderScanner header;
    try {
        read_section(*ref.archive, ref.section, [&](std::string_view chunk) {
            if (header.feed(chunk)) throw HeaderRead{};
        });
    } catch (const HeaderRead&) {
    }
    const std::string& source = *ref.section.database;
    try {
        check_section_header(header, source, dump_creates_database(source));
    } catch (const SectionHeaderMismatch& mismatch) {
        throw Error(describe(ref) + " is not what its manifest says: " + mismatch.what() +
                    "; refusing to restore it (nothing was changed)");
    }
}

void Restorer::drop_stale_work_databases() {
    Connection conn(client_.settings(), "postgres");
    for (const auto& name : queries::database_names(conn)) {
        const auto pid = work_database_pid(name);
        if (!pid || *pid == ::getpid()) continue;
        // EPERM: the process exists under another user.
        if (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno == EPERM) continue;
        // A restore on another host (or in another pid namespace) has its psql connected
        // while it loads: its pid means nothing here, its session does.
        if (queries::has_sessions_of(conn, restore_application_name(*pid))) continue;
        // The name alone proves nothing (anyone can create such a database): only one that
        // carries pgtier's mark under this very name is dropped.
        if (!queries::has_work_database_mark(conn, name)) {
            spdlog::warn(
                "database \"{}\" has the name of a pgtier work database but not its mark: left "
                "alone (drop it by hand if it is a leftover of an interrupted restore)",
                name);
            continue;
        }
        try {
            queries::drop_database(conn, name);
        } catch (const Error& err) {
            spdlog::warn("could not drop work database \"{}\" of an interrupted restore: {}", name,
                         err.what());
            continue;
        }
        spdlog::warn("dropped work database \"{}\" left by an interrupted restore (pid {} is gone)",
                     name, *pid);
    }
}

void Restorer::put_in_place(Connection& conn, const std::string& source, const std::string& work,
                            const std::string& target, bool target_exists, bool carry_attributes) {
    const std::string loaded = "restored \"" + source + "\" completely into \"" + work + "\"";
    // Under its target name the database is no longer pgtier's to drop: its mark goes (a mark
    // left by a failure here names the work name, which no longer matches).
    auto unmark = [&] {
        try {
            queries::unmark_work_database(conn, target);
        } catch (const Error& err) {
            spdlog::warn("could not remove pgtier's work database mark from \"{}\": {}", target,
                         err.what());
        }
    };
    if (!target_exists) {
        try {
            queries::rename_database(conn, work, target);
        } catch (const Error& err) {
            throw Error(loaded + " but could not rename it to \"" + target + "\": " + err.what() +
                        "\nThe restored data is in database \"" + work + "\".");
        }
        unmark();
        return;
    }
    // The old database is renamed aside, not dropped, until the new one is in place: any
    // failure on the way leaves a complete database under the target name.
    const std::string aside = replaced_database_name(::getpid(), ++work_counter_);
    try {
        queries::rename_database(conn, target, aside);
    } catch (const Error& err) {
        throw Error(loaded + " but could not move the existing \"" + target +
                    "\" aside (it is unchanged): " + err.what() +
                    "\nThe restored data is in database \"" + work + "\".");
    }
    try {
        queries::rename_database(conn, work, target);
    } catch (const Error& err) {
        std::string where = "the old database is back as \"" + target + "\"";
        try {
            queries::rename_database(conn, aside, target);
        } catch (const Error&) {
            where = "the old database is now \"" + aside + "\"";
        }
        throw Error(loaded + " but could not rename it to \"" + target + "\": " + err.what() +
                    "\n" + where + "; the restored data is in database \"" + work + "\".");
    }
    unmark();  // before the settings of the replaced database join the target's
    if (carry_attributes) {
        try {
            queries::carry_database_attributes(conn, aside, target);
        } catch (const Error& err) {
            spdlog::warn("could not give \"{}\" the settings of the database it replaced: {}",
                         target, err.what());
        }
    }
    try {
        queries::drop_database(conn, aside);
    } catch (const Error& err) {
        spdlog::warn("the replaced database was kept as \"{}\" (drop it by hand): {}", aside,
                     err.what());
    }
}

RestoredDatabase Restorer::restore_database(
    const SectionRef& ref, const std::string& target, bool replace,
    const std::map<std::string, std::string>& role_definitions) {
    const std::string& source = *ref.section.database;
    require_restricting_psql();
    check_restorable(ref, target);
    const bool creates_database = dump_creates_database(source);
    const std::string maintenance = maintenance_database(target);
    Connection conn(client_.settings(), maintenance);
    const auto existing = queries::database_names(conn);
    const bool target_exists =
        std::find(existing.begin(), existing.end(), target) != existing.end();
    if (target_exists && !replace) {
        throw Error("database \"" + target +
                    "\" already exists; nothing was changed (use --replace to replace it, or "
                    "--as NEW to restore beside it)");
    }
    // An empty postgres or template1 is loaded in place, as pg_dumpall's script does: it keeps
    // its database-level settings, which pg_dump does not write for these two. A non-empty one
    // is replaced through a work database that takes over those settings.
    const bool in_place = target_exists && !creates_database &&
                          (target == "postgres" || target == "template1") &&
                          !has_user_tables(target);
    if (target == "template0" || (target == "template1" && creates_database)) {
        throw Error("cannot restore \"" + source + "\" into " + target +
                    ": only the section of postgres or template1 can go there; use --as NEW");
    }
    // The psql session is named after the work database's number, so that both are told apart
    // from those of the other databases a parallel restore loads meanwhile.
    int number = ++work_counter_;
    std::string work = target;
    if (!in_place) {
        work = work_database_name(::getpid(), number);
        while (std::find(existing.begin(), existing.end(), work) != existing.end())
            work = work_database_name(::getpid(), number = ++work_counter_);
    }
    const std::string application_name = restore_application_name(::getpid(), number);

    RestoreFilter::Options options;
    options.database = source;
    options.rename_to = work;
    options.existing_roles = queries::role_names(conn);
    options.role_definitions = role_definitions;
    options.draw_key = draw_restrict_key;
    if (!in_place && creates_database) {
        options.after_create_database = queries::work_database_mark_sql(work);
    }
    RestoreFilter filter(options);

    RestoredDatabase result;
    result.name = target;
    const auto started = std::chrono::steady_clock::now();
    if (in_place) {
        spdlog::info("restoring database \"{}\" from {} into the empty \"{}\"", source,
                     ref.archive->name(), target);
    } else {
        spdlog::info("restoring database \"{}\" from {} as \"{}\" (loading into \"{}\" first)",
                     source, ref.archive->name(), target, work);
    }
    auto cleanup = [&](const std::string& why) {
        std::string message = why;
        if (in_place) {
            message += "\n\"" + target + "\" had no user tables and now holds part of the " +
                       "section; restore it again with --replace once the cause is fixed.";
        } else {
            try {
                // A killed psql's statement (a CREATE DATABASE, say) runs on in the server
                // and could commit after the drop: end that session first.
                queries::terminate_sessions_of(conn, application_name);
                queries::drop_database(conn, work);
                message += "\nThe partial copy \"" + work + "\" was dropped; \"" + target + "\" " +
                           (target_exists ? "was not changed." : "was not created.");
            } catch (const Error& err) {
                message +=
                    "\nThe partial copy \"" + work + "\" could not be dropped: " + err.what();
            }
        }
        if (!filter.created_roles().empty()) {
            message += "\nRoles created for it remain: " + join_quoted(filter.created_roles());
        }
        return message;
    };
    try {
        if (!creates_database && !in_place) {
            queries::create_empty_database(conn, work);
            queries::mark_work_database(conn, work);
        }
        result.bytes =
            replay(describe(ref), ref.section.uncompressed_length, in_place ? target : maintenance,
                   application_name, reader(ref, decode_pool_), filter);
    } catch (const Error& err) {
        throw Error(cleanup(err.what()));
    }
    result.created_roles = filter.created_roles();
    for (const auto& role : filter.undefined_roles()) {
        spdlog::warn("role \"{}\" was missing and no archive defines it: created as NOLOGIN", role);
    }
    if (!in_place) put_in_place(conn, source, work, target, target_exists, !creates_database);
    result.size_on_server = queries::database_size(conn, target);
    result.seconds = seconds_since(started);
    spdlog::info("restored database \"{}\": {} of SQL in {:.1f} s, {} on the server{}", target,
                 human_size(result.bytes), result.seconds, human_size(result.size_on_server),
                 result.created_roles.empty()
                     ? ""
                     : "; created roles: " + join_quoted(result.created_roles));
    return result;
}

}  // namespace pgtier
