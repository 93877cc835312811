#include "pgtier/pg/queries.hpp"

#include <chrono>
#include <thread>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/sql_text.hpp"

namespace pgtier::queries {

namespace {

// Databases pg_dumpall dumps, in its order, with what the catalogs say about each one that a
// dump --create captures: owner, ACL, options, comment, database and role-in-database settings.
// $1: the pattern of pgtier's own restore work databases, which are never backed up.
constexpr const char* cluster_databases_sql = R"SQL(
SELECT d.datname,
       d.oid::text,
       encode(sha256(convert_to(concat_ws(E'\x1f',
           d.datname, pg_get_userbyid(d.datdba), d.encoding::text, d.datcollate, d.datctype,
           d.datistemplate::text, d.datallowconn::text, d.datconnlimit::text,
           d.dattablespace::text, d.datacl::text,
           shobj_description(d.oid, 'pg_database'),
           (SELECT string_agg(s.setrole::text || '=' || s.setconfig::text, ',' ORDER BY s.setrole)
              FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)), 'UTF8')), 'hex'),
       coalesce(st.stats_reset::text, '')
  FROM pg_database d
  LEFT JOIN pg_stat_database st ON st.datid = d.oid
 WHERE d.datallowconn
   AND d.datname !~ $1
 ORDER BY (d.datname <> 'template1'), d.datname
)SQL";

// Everything pg_dumpall --globals-only writes: roles (with passwords), memberships, role
// settings outside any database, tablespaces, and their comments.
constexpr const char* globals_digest_sql = R"SQL(
SELECT encode(sha256(convert_to(concat_ws(E'\x1e',
    (SELECT string_agg(a::text || coalesce(shobj_description(a.oid, 'pg_authid'), ''), E'\n' ORDER BY a.oid)
       FROM pg_authid a),
    (SELECT string_agg(m::text, E'\n' ORDER BY m.roleid, m.member) FROM pg_auth_members m),
    (SELECT string_agg(s.setrole::text || '=' || s.setconfig::text, E'\n' ORDER BY s.setrole)
       FROM pg_db_role_setting s WHERE s.setdatabase = 0),
    (SELECT string_agg(t::text || coalesce(pg_tablespace_location(t.oid), '') ||
                       coalesce(shobj_description(t.oid, 'pg_tablespace'), ''), E'\n' ORDER BY t.oid)
       FROM pg_tablespace t)), 'UTF8')), 'hex')
)SQL";

// Inside one database. Write counters of every table of this database, including the system
// catalogs (so DDL, GRANT, COMMENT and large objects count), but not pg_statistic and its
// relatives: ANALYZE (autovacuum's too) writes those without changing anything a dump holds.
// Shared catalogs are left to the globals and the cluster-wide query. Sequences move no
// counter, so their state is read from each sequence through query_to_xml.
constexpr const char* database_content_sql = R"SQL(
WITH noisy AS (
    SELECT c.oid FROM pg_class c
     WHERE c.oid IN ('pg_catalog.pg_statistic'::regclass, 'pg_catalog.pg_statistic_ext_data'::regclass)
    UNION
    SELECT c.reltoastrelid FROM pg_class c
     WHERE c.oid IN ('pg_catalog.pg_statistic'::regclass, 'pg_catalog.pg_statistic_ext_data'::regclass)
)
SELECT
  encode(sha256(convert_to(coalesce((
    SELECT string_agg(t.relid::text || ':' || t.n_tup_ins || ':' || t.n_tup_upd || ':' || t.n_tup_del,
                      ',' ORDER BY t.relid)
      FROM pg_stat_all_tables t
      JOIN pg_class c ON c.oid = t.relid
     WHERE NOT c.relisshared AND t.relid NOT IN (SELECT oid FROM noisy)), ''), 'UTF8')), 'hex'),
  encode(sha256(convert_to(coalesce((
    SELECT string_agg(c.oid::text || ':' ||
               query_to_xml(format('SELECT last_value, is_called FROM %s', c.oid::regclass),
                            false, false, '')::text, ',' ORDER BY c.oid)
      FROM pg_class c WHERE c.relkind = 'S'), ''), 'UTF8')), 'hex')
)SQL";

}  // namespace

std::string server_version(Connection& conn) {
    return conn.run("SHOW server_version").at(0, 0);
}

std::string system_identifier(Connection& conn) {
    return conn.run("SELECT system_identifier::text FROM pg_control_system()").at(0, 0);
}

bool is_superuser(Connection& conn) {
    return conn.run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").at(0, 0) == "t";
}

std::vector<DatabaseState> cluster_databases(Connection& conn) {
    const auto result = conn.run(cluster_databases_sql, {work_database_regex()});
    std::vector<DatabaseState> databases;
    for (std::size_t i = 0; i < result.rows.size(); ++i) {
        DatabaseState db;
        db.name = result.at(i, 0);
        db.oid = result.at(i, 1);
        db.catalog_digest = result.at(i, 2);
        db.stats_reset = result.at(i, 3);
        databases.push_back(std::move(db));
    }
    return databases;
}

std::string globals_digest(Connection& conn) {
    return conn.run(globals_digest_sql).at(0, 0);
}

DatabaseContent database_content(Connection& conn) {
    const auto result = conn.run(database_content_sql);
    return {result.at(0, 0), result.at(0, 1)};
}

std::map<std::string, std::uint64_t> database_sizes(Connection& conn) {
    const auto result = conn.run(
        "SELECT datname, pg_catalog.pg_database_size(oid)::text FROM pg_catalog.pg_database "
        "WHERE datallowconn");
    std::map<std::string, std::uint64_t> sizes;
    for (std::size_t i = 0; i < result.rows.size(); ++i)
        sizes[result.at(i, 0)] = std::stoull(result.at(i, 1));
    return sizes;
}

std::set<std::string> role_names(Connection& conn) {
    std::set<std::string> roles;
    for (const auto& row : conn.run("SELECT rolname FROM pg_catalog.pg_roles").rows) {
        roles.insert(*row.at(0));
    }
    return roles;
}

std::vector<std::string> database_names(Connection& conn) {
    std::vector<std::string> names;
    for (const auto& row :
         conn.run("SELECT datname FROM pg_catalog.pg_database ORDER BY datname").rows) {
        names.push_back(*row.at(0));
    }
    return names;
}

std::string current_role(Connection& conn) {
    return conn.run("SELECT current_user").at(0, 0);
}

bool database_exists(Connection& conn, const std::string& database) {
    return conn.run("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)",
                    {database})
               .at(0, 0) == "t";
}

bool has_sessions_of(Connection& conn, const std::string& application_name) {
    // Compared by prefix, not LIKE: the name holds no pattern characters to escape.
    return conn.run(
                   "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity "
                   "WHERE (application_name = $1 OR "
                   "left(application_name, length($1) + 1) = $1 || '-') "
                   "AND pid <> pg_catalog.pg_backend_pid())",
                   {application_name})
               .at(0, 0) == "t";
}

std::optional<LockWait> lock_wait_of(Connection& conn, const std::string& application_name) {
    const auto waiting = conn.run(R"SQL(
SELECT a.pid::text, coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''),
       coalesce((SELECT coalesce(pg_catalog.format('%I.%I', n.nspname, c.relname),
                                 'relation ' || l.relation::text || ' of another database')
                   FROM pg_catalog.pg_locks l
                   LEFT JOIN pg_catalog.pg_database d
                          ON d.oid = l.database AND d.datname = pg_catalog.current_database()
                   LEFT JOIN pg_catalog.pg_class c ON d.oid IS NOT NULL AND c.oid = l.relation
                   LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE l.pid = a.pid AND NOT l.granted AND l.relation IS NOT NULL
                  LIMIT 1), '')
  FROM pg_catalog.pg_stat_activity a
 WHERE a.application_name = $1 AND a.pid <> pg_catalog.pg_backend_pid()
 LIMIT 1
)SQL",
                                  {application_name});
    if (waiting.rows.empty()) return std::nullopt;
    LockWait wait{waiting.at(0, 1), waiting.at(0, 2), waiting.at(0, 3), {}};
    if (wait.wait_event_type != "Lock") return wait;
    const auto holders = conn.run(R"SQL(
SELECT b.pid::text, coalesce(b.usename::text, ''), coalesce(b.application_name, ''),
       coalesce(b.state, ''), coalesce(b.query, ''),
       extract(epoch FROM pg_catalog.now() - b.xact_start)::text
  FROM pg_catalog.unnest(pg_catalog.pg_blocking_pids($1::int)) AS blocker(pid)
  JOIN pg_catalog.pg_stat_activity b ON b.pid = blocker.pid
 ORDER BY b.pid
)SQL",
                                  {waiting.at(0, 0)});
    for (const auto& row : holders.rows) {
        LockHolder holder{row[0].value_or(""), row[1].value_or(""), row[2].value_or(""),
                          row[3].value_or(""), row[4].value_or(""), std::nullopt};
        if (row[5]) holder.transaction_seconds = std::stod(*row[5]);
        wait.holders.push_back(std::move(holder));
    }
    return wait;
}

bool has_user_tables(Connection& conn) {
    return conn.run(R"SQL(
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\_toast%'
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
)SQL")
               .at(0, 0) == "t";
}

std::uint64_t database_size(Connection& conn, const std::string& database) {
    return std::stoull(
        conn.run("SELECT pg_catalog.pg_database_size($1::text)::text", {database}).at(0, 0));
}

void create_empty_database(Connection& conn, const std::string& database) {
    conn.run(("CREATE DATABASE " + quote_identifier(database) + " TEMPLATE template0").c_str());
}

namespace {
constexpr const char* work_mark_setting = "pgtier.work_database";
}

std::string work_database_mark_sql(const std::string& database) {
    // The name as a literal: work names are letters, digits and underscores only.
    return "ALTER DATABASE " + quote_identifier(database) + " SET " + work_mark_setting + " = '" +
           database + "';";
}

void mark_work_database(Connection& conn, const std::string& database) {
    conn.run(work_database_mark_sql(database).c_str());
}

bool has_work_database_mark(Connection& conn, const std::string& database) {
    return conn.run(
                   "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s "
                   "JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase "
                   "WHERE d.datname = $1::text AND s.setrole = 0 "
                   "AND $2::text || '=' || $1::text = ANY (s.setconfig))",
                   {database, work_mark_setting})
               .at(0, 0) == "t";
}

void unmark_work_database(Connection& conn, const std::string& database) {
    conn.run(
        ("ALTER DATABASE " + quote_identifier(database) + " RESET " + work_mark_setting).c_str());
}

void terminate_sessions_of(Connection& conn, const std::string& application_name) {
    // Waits (up to 10 s each) until they are gone, so that their work is rolled back first.
    conn.run(
        "SELECT pg_catalog.pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity "
        "WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid()",
        {application_name});
}

void drop_database(Connection& conn, const std::string& database) {
    // A template cannot be dropped (pg_dump writes IS_TEMPLATE for template databases).
    conn.run("UPDATE pg_catalog.pg_database SET datistemplate = false WHERE datname = $1",
             {database});
    conn.run(("DROP DATABASE IF EXISTS " + quote_identifier(database) + " WITH (FORCE)").c_str());
}

void carry_database_attributes(Connection& conn, const std::string& from, const std::string& to) {
    conn.run(R"SQL(
UPDATE pg_catalog.pg_database t
   SET datdba = f.datdba, datacl = f.datacl, datallowconn = f.datallowconn,
       datconnlimit = f.datconnlimit, datistemplate = f.datistemplate
  FROM pg_catalog.pg_database f
 WHERE f.datname = $1 AND t.datname = $2
)SQL",
             {from, to});
    conn.run(R"SQL(
UPDATE pg_catalog.pg_db_role_setting
   SET setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = $2)
 WHERE setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = $1)
)SQL",
             {from, to});
    const auto comment = conn.run(
        "SELECT format('COMMENT ON DATABASE %I IS %L', $2::text, d) FROM ("
        "SELECT pg_catalog.shobj_description(oid, 'pg_database') AS d "
        "FROM pg_catalog.pg_database WHERE datname = $1) c WHERE d IS NOT NULL",
        {from, to});
    if (!comment.rows.empty()) conn.run(comment.at(0, 0).c_str());
}

void rename_database(Connection& conn, const std::string& from, const std::string& to) {
    // Autovacuum (or a monitoring tool) may have connected to a freshly loaded database; a
    // rename needs it empty, so such sessions are ended and the rename retried for a while.
    const std::string rename =
        "ALTER DATABASE " + quote_identifier(from) + " RENAME TO " + quote_identifier(to);
    for (int attempt = 1;; ++attempt) {
        conn.run(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
            {from});
        try {
            conn.run(rename.c_str());
            return;
        } catch (const Error&) {
            if (attempt == 40) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
}

}  // namespace pgtier::queries
