#!/usr/bin/env bash
# Issue 3: `restore latest --if-empty` (what the daemon runs at start with auto_restore) does
# nothing on a cluster with a user database or with user tables in postgres (exit 0, says why,
# nothing changed), and restores on an empty one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
psql_q -d postgres -c "CREATE ROLE r_owner LOGIN"
for db in "shop db" "Ünï"; do
    psql_q -d postgres -v n="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER r_owner', :'n') \gexec
SQL
    psql_db "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" -c "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g"
done
psql_q -d postgres -c "CREATE TABLE pg_side (x int)" -c "INSERT INTO pg_side VALUES (7)"
settle
take_backup full full
pass "source with 2 databases and a table in postgres; full $(basename "$ARCHIVE")"

pg_start t
# not_empty TAG WHAT WHY-REGEX — --if-empty must exit 0, say 'not restoring (--if-empty): WHY' and
# change nothing.
not_empty() {
    local tag=$1 what=$2 why=$3
    snapshot t "$tag"
    run_pgtier "$tag" --dir "$B" restore latest --if-empty
    expect_rc "$tag" 0 "restore latest --if-empty on a cluster with $what"
    grep -q '^not restoring (--if-empty): ' "$WORK/$tag.out" || fail_run "$tag" "no 'not restoring (--if-empty): …' line"
    grep -Eq "^not restoring \(--if-empty\): .*($why)" "$WORK/$tag.out" || fail_run "$tag" "the reason does not match /$why/"
    same_snapshot t "$tag" "restore latest --if-empty on a cluster with $what"
    [ -z "$(work_dbs t)" ] || fail "leftover work databases: $(work_dbs t)"
    pass "--if-empty with $what: exit 0, '$(grep '^not restoring' "$WORK/$tag.out")', nothing changed"
}

# A user database (even an empty one, even one with a name the archive does not have).
psql_q -d postgres -c 'CREATE DATABASE "other db"'
not_empty ie-db "a user database" '"other db"'
psql_q -d postgres -c 'DROP DATABASE "other db"'
# A user database the archive has, holding something else.
psql_q -d postgres -c 'CREATE DATABASE "shop db"'
psql_db "shop db" -c "CREATE TABLE mine (x int)"
not_empty ie-same "a database of the archive's name" '"shop db"'
psql_q -d postgres -c 'DROP DATABASE "shop db"'
# No user database, but a user table in postgres.
psql_q -d postgres -c "CREATE TABLE local_stuff (x int)"
not_empty ie-pg "a user table in postgres" 'postgres'
psql_q -d postgres -c "DROP TABLE local_stuff"
# A user table in another schema of postgres counts too.
psql_q -d postgres -c "CREATE SCHEMA app" -c "CREATE TABLE app.t (x int)"
not_empty ie-schema "a user table in a schema of postgres" 'postgres'
psql_q -d postgres -c "DROP TABLE app.t" -c "DROP SCHEMA app"

# ---- empty: restores ----------------------------------------------------------------------------
run_pgtier ie-empty --dir "$B" restore latest --if-empty
expect_rc ie-empty 0 "restore latest --if-empty on an empty cluster"
! grep -q '^not restoring' "$WORK/ie-empty.out" || fail_run ie-empty "--if-empty did not restore an empty cluster"
compare_clusters src t "restore latest --if-empty on an empty cluster"
pass "--if-empty on an empty cluster restores: the cluster equals the source"

# And once restored, the next start does nothing.
not_empty ie-again "the restored databases" '"shop db"|"Ünï"'

# The daemon's very first start (it creates the directory first): an empty cluster and no archive
# at all is nothing to restore, not an error. A directory that is not there (a wrong mount) is.
pg_start fresh
run_pgtier ie-missing --dir "$WORK/no-backups" restore latest --if-empty
expect_rc ie-missing 1 "restore latest --if-empty with no backup directory"
grep -q "backup directory $WORK/no-backups does not exist" "$WORK/ie-missing.err" || fail_run ie-missing "--if-empty does not say that the backup directory is missing"
mkdir "$WORK/no-backups"
run_pgtier ie-none --dir "$WORK/no-backups" restore latest --if-empty
expect_rc ie-none 0 "restore latest --if-empty with no archive"
grep -q '^not restoring (--if-empty): no full or differential archive' "$WORK/ie-none.out" \
    || fail_run ie-none "--if-empty with no archive does not say why it does nothing"
run_pgtier ie-none-plain --dir "$WORK/no-backups" restore latest
expect_rc ie-none-plain 1 "restore latest with no archive"
pass "--if-empty with no archive at all: exit 0, says why; without --if-empty: exit 1"
