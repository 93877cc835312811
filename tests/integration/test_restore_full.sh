#!/usr/bin/env bash
# Issue 3: `restore full` round trip. A sample cluster (awkward database names, roles with
# memberships and settings) → full backup → `restore full` into a fresh cluster → identical
# databases and roles. Onto the now non-empty cluster it refuses without --replace (nothing
# changed) and with --replace brings back the archived state; an incremental is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_sample_cluster
settle
take_backup full full
FULL=$ARCHIVE
snapshot src at-full
pass "source cluster with ${#SAMPLE_DBS[@]} sample databases; full backup $(basename "$FULL")"

# ---- into a fresh, empty cluster -------------------------------------------------------------
pg_start dst
run_pgtier r1 --dir "$B" restore full "$(basename "$FULL")"
expect_rc r1 0 "restore full into an empty cluster"
grep -q "restored globals" "$WORK/r1.out" || fail_run r1 "no summary line on stdout"
compare_clusters src dst "restore full into an empty cluster"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
[ "$(with_pg dst psql_db app -c "SELECT count(*) FROM pg_largeobject_metadata")" = 2 ] || fail "large objects missing after restore full"
pass "restore full into an empty cluster: every database and role identical (pg_dump --create, pg_dumpall -g, catalogs)"

# ---- onto the now non-empty cluster, without --replace: refused, nothing changed ----------------
pg_use dst
psql_db "my db" -c "INSERT INTO s.items (name, qty) VALUES ('only in dst', 1)"
psql_db app -c "DROP TABLE docs"
psql_q -d postgres -c "CREATE ROLE r_extra LOGIN" -c 'CREATE DATABASE "local only"'
snapshot dst before-refusal
run_pgtier r2 --dir "$B" restore full "$FULL"
expect_rc r2 nonzero "restore full onto non-empty databases without --replace"
grep -qi "exist" "$WORK/r2.err" || fail_run r2 "the refusal does not say the databases exist"
grep -qi "replace" "$WORK/r2.err" || fail_run r2 "the refusal does not mention --replace"
grep -qF '"my db"' "$WORK/r2.err" || fail_run r2 "the refusal does not name the conflicting databases"
same_snapshot dst before-refusal "restore full without --replace (refused)"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "restore full without --replace onto a non-empty cluster: exit $RC, '$(head -n1 "$WORK/r2.err" | cut -c1-150)', nothing changed"

# ---- an incremental is refused ------------------------------------------------------------------
pg_use src
sample_content app incr-row
settle
take_backup incr incr
INCR=$ARCHIVE
pg_use dst
run_pgtier r3 --dir "$B" restore full latest-incremental
expect_rc r3 nonzero "restore full of an incremental"
grep -qi "incremental" "$WORK/r3.err" || fail_run r3 "the refusal does not say the archive is an incremental"
same_snapshot dst before-refusal "restore full of an incremental (refused)"
run_pgtier r3b --dir "$B" restore full --replace "$INCR"
expect_rc r3b nonzero "restore full --replace of an incremental"
same_snapshot dst before-refusal "restore full --replace of an incremental (refused)"
pass "restore full of an incremental is refused (also with --replace), nothing changed"

# ---- with --replace: the archived state is back ------------------------------------------------
pg_use dst
run_pgtier r4 --dir "$B" restore full --replace latest-full
expect_rc r4 0 "restore full --replace onto the restored cluster"
# r_extra is not in the archive; restore full does not drop roles, so drop it for the comparison.
[ "$(with_pg dst psql_q -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = 'r_extra'")" = 1 ] \
    || fail "restore full --replace dropped a role that is not in the archive"
with_pg dst psql_q -d postgres -c "DROP ROLE r_extra"
# Likewise a database that is not in the archive stays.
[ "$(with_pg dst psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'local only'")" = 1 ] \
    || fail "restore full --replace dropped a database that is not in the archive"
with_pg dst psql_q -d postgres -c 'DROP DATABASE "local only"'
same_snapshot dst at-full "restore full --replace (against the source as the full saw it)"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "restore full --replace: the modified databases are back as archived, everything identical"

# ---- from a differential --------------------------------------------------------------------------
# The source has changed since the full (the incremental's row); a differential holds it all.
with_pg src take_backup diff diff
run_pgtier r5 --dir "$B" restore full --replace latest-differential
expect_rc r5 0 "restore full --replace of a differential"
compare_clusters src dst "restore full --replace of a differential"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "restore full of a differential: the cluster equals the source at the differential"
