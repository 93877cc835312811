#!/usr/bin/env bash
# Issue 3: `restore database` into a cluster that lacks the roles the database needs (its owner,
# owners of objects and a large object, grantees, a policy's role, default privileges, a
# role-in-database setting): they are created with the archived attributes (LOGIN, CREATEDB,
# connection limit, password, settings, comment); roles that already exist are not altered, and
# roles the database does not need are not created. From a full (its own globals) and from an
# incremental (globals of the newest older archive that has them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

B="$WORK/backups"
DB='owned "db".x'
pg_start src
pg_quiet
psql_q -d postgres <<'SQL'
CREATE ROLE r_owner LOGIN CREATEDB CONNECTION LIMIT 4 PASSWORD 'owner-pw' VALID UNTIL '2099-01-01 00:00:00+00';
ALTER ROLE r_owner SET statement_timeout = '7s';
COMMENT ON ROLE r_owner IS 'owns the database';
CREATE ROLE r_tables LOGIN;
CREATE ROLE "Rôle ""grantee""" NOLOGIN;
CREATE ROLE r_policy NOLOGIN;
CREATE ROLE r_defaults NOLOGIN;
CREATE ROLE r_settings LOGIN;
CREATE ROLE r_lo NOLOGIN;
CREATE ROLE r_existing LOGIN CREATEDB CONNECTION LIMIT 9;
CREATE ROLE r_unrelated LOGIN SUPERUSER;
SQL
psql_q -d postgres -v n="$DB" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER r_owner', :'n') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'n', 'Rôle "grantee"') \gexec
SELECT format('ALTER ROLE r_settings IN DATABASE %I SET work_mem = %L', :'n', '2MB') \gexec
SQL
psql_db "$DB" >/dev/null <<'SQL'
CREATE SCHEMA s AUTHORIZATION r_tables;
CREATE TABLE s.t (id int PRIMARY KEY, owner_name text);
INSERT INTO s.t SELECT g, 'user' || g FROM generate_series(1, 20) g;
ALTER TABLE s.t OWNER TO r_tables;
GRANT SELECT ON s.t TO "Rôle ""grantee""";
GRANT SELECT, UPDATE ON s.t TO r_existing;
ALTER TABLE s.t ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_mine ON s.t FOR SELECT TO r_policy USING (owner_name = current_user);
ALTER DEFAULT PRIVILEGES FOR ROLE r_tables IN SCHEMA s GRANT SELECT ON TABLES TO r_defaults;
SELECT lo_create(424242);
ALTER LARGE OBJECT 424242 OWNER TO r_lo;
SQL
settle
take_backup full full
FULL=$ARCHIVE
psql_db "$DB" -c "INSERT INTO s.t VALUES (100, 'late')"
settle
take_backup incr incr
INCR=$ARCHIVE
manifest_has_globals "$INCR" && fail "setup: the incremental should not carry globals"
NEEDED=(r_owner r_tables 'Rôle "grantee"' r_policy r_defaults r_settings r_lo)
pass "source: database '$DB' needing roles ${NEEDED[*]} and r_existing; full and incremental (no globals)"

role_rows() { # CLUSTER ROLE... — pg_authid attributes, password hash, settings and comment
    local cluster=$1
    shift
    local r
    for r in "$@"; do
        printf '%s\n' "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil, shobj_description(a.oid, 'pg_authid'),
                (SELECT array_agg(c ORDER BY c) FROM pg_db_role_setting s, unnest(s.setconfig) c
                  WHERE s.setrole = a.oid AND s.setdatabase = 0)
           FROM pg_authid a WHERE rolname = :'r';" | with_pg "$cluster" psql_q -d postgres -v r="$r"
    done
}
role_exists() { [ "$(printf '%s\n' "SELECT count(*) FROM pg_roles WHERE rolname = :'r';" | psql_q -d postgres -v r="$1")" = 1 ]; }

check_restored() { # TAG ARCHIVE DUMPFILE
    local tag=$1 archive=$2 want=$3 r
    pg_use dst
    run_pgtier "$tag" --dir "$B" restore database "$archive" "$DB"
    expect_rc "$tag" 0 "restore database into a cluster without its roles ($tag)"
    for r in "${NEEDED[@]}"; do role_exists "$r" || fail_run "$tag" "role '$r' (needed by the database) was not created"; done
    diff <(role_rows src "${NEEDED[@]}") <(role_rows dst "${NEEDED[@]}") >&2 \
        || fail_run "$tag" "created roles do not have the archived attributes (< source, > restored)"
    [ "$(role_rows dst r_owner | cut -d'|' -f6)" = t ] || fail "r_owner cannot log in"
    diff "$WORK/existing-before.txt" <(role_rows dst r_existing) >&2 || fail_run "$tag" "the existing role r_existing was altered"
    ! role_exists r_unrelated || fail_run "$tag" "r_unrelated, which the database does not need, was created"
    printf '%s\n' "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'n';" | psql_q -d postgres -v n="$DB" >"$WORK/owner.txt"
    [ "$(cat "$WORK/owner.txt")" = r_owner ] || fail "the restored database is owned by $(cat "$WORK/owner.txt"), not r_owner"
    same_dump "$want" <(dump_db dst "$DB" --create) "the restored '$DB' differs from the source ($tag)"
    [ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
}

# ---- from the full, into a fresh cluster with only r_existing (other attributes) ------------------
dump_db src "$DB" --create >"$WORK/at-incr.sql"
pg_start dst
psql_q -d postgres -c "CREATE ROLE r_existing NOLOGIN CONNECTION LIMIT 1" -c "COMMENT ON ROLE r_existing IS 'local'"
role_rows dst r_existing >"$WORK/existing-before.txt"
# The source at the full: the incremental's row removed for the comparison.
sed '/^100\tlate$/d' "$WORK/at-incr.sql" >"$WORK/at-full.sql"
check_restored from-full "$FULL" "$WORK/at-full.sql"
pass "from the full: ${NEEDED[*]} created with the archived attributes; r_existing untouched; r_unrelated not created"

# ---- from the incremental (globals from the full) ---------------------------------------------------
psql_q -d postgres -v n="$DB" <<'SQL'
SELECT format('DROP DATABASE %I', :'n') \gexec
SQL
for r in "${NEEDED[@]}"; do
    printf '%s\n' "SELECT format('DROP OWNED BY %I', :'r') \gexec" | psql_q -d postgres -v r="$r"
    printf '%s\n' "SELECT format('DROP ROLE %I', :'r') \gexec" | psql_q -d postgres -v r="$r"
done
check_restored from-incr "$INCR" "$WORK/at-incr.sql"
pass "from the incremental: the roles are created from the full's globals, same attributes"
