# shellcheck shell=bash
# Fed to `bash -s` in a release's container by test_versions.sh: the cluster at PGHOST/PGPORT as
# that release's client tools print it, like lib_restore.sh's cluster_state (same queries).
set -euo pipefail
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
conninfo() {
    local v=${1//\\/\\\\}
    printf "dbname='%s'" "${v//\'/\\\'}"
}
dbs() { q -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1" | sort; }
echo "=== databases"
dbs
echo "=== catalog"
q -d postgres <<'SQL'
SELECT coalesce(d.datname, '*'), coalesce(r.rolname, '*'), array_to_string(s.setconfig, ',')
  FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
  LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1, 2;
SELECT r.rolname, m.rolname, a.admin_option FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member ORDER BY 1, 2;
SELECT datname, pg_get_userbyid(datdba), datconnlimit, datallowconn, datistemplate,
       shobj_description(oid, 'pg_database'), datacl FROM pg_database ORDER BY 1;
SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
       rolbypassrls, rolconnlimit, rolvaliduntil, shobj_description(oid, 'pg_authid')
  FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1;
SQL
echo "=== globals"
pg_dumpall --globals-only | grep -Ev '^\\(un)?restrict '
dbs | while IFS= read -r db; do
    echo "=== database $db"
    pg_dump --create -d "$(conninfo "$db")" | grep -Ev '^\\(un)?restrict ' || echo "!!! pg_dump of $db failed"
done
