#!/usr/bin/env bash
# Issue 2, test 2 (docs/design.md, Change detection): the next incremental holds exactly the
# databases that changed, whatever the kind of change; read-only activity and reconnects make it
# skip; role changes bring the globals section; created, dropped and renamed databases, a statistics
# reset and a server crash are handled (an extra dump at worst, never a missed one).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start cd
pg_quiet # autovacuum's ANALYZE writes catalog rows, which would be (correctly) seen as changes
B="$WORK/backups"

MATRIX=(d_insert d_update d_delete d_truncate d_create d_alter d_drop d_comment d_lo_new d_lo_put d_setval d_nextval)
# Later steps reuse these databases once their matrix change has been taken (fewer databases keep
# the test fast). GRANT and ALTER DATABASE also write shared catalogs (pg_shdepend, pg_database ...),
# so a globals section beside them is tolerated; the matrix changes touch only their own database.
D_GRANT=d_create D_DBSET=d_alter D_DBOWNER=d_drop D_DBCOMMENT=d_comment D_DBGRANT=d_lo_new D_ROLEINDB=d_setval
DBLEVEL=("$D_GRANT" "$D_DBSET" "$D_DBOWNER" "$D_DBCOMMENT" "$D_DBGRANT" "$D_ROLEINDB")
D_RESET=d_insert D_CRASH=d_update D_RENAME=d_delete D_DROP=d_truncate
OTHERS=(d_idle)

psql_q -d postgres -c "CREATE ROLE r_grantee NOLOGIN" -c "CREATE ROLE r_owner2 NOLOGIN"
for db in "${MATRIX[@]}" "${OTHERS[@]}"; do
    psql_q -d postgres -c "CREATE DATABASE $db"
    psql_db "$db" >/dev/null <<'SQL'
CREATE TABLE t (id serial PRIMARY KEY, v text);
INSERT INTO t (v) SELECT 'row-' || g || '-end' FROM generate_series(1, 20) g;
CREATE TABLE t_drop (x int);
CREATE SEQUENCE sq;
SELECT nextval('sq');
SELECT lo_from_bytea(424242, 'original large object');
SQL
done
pass "setup: ${#MATRIX[@]} + ${#OTHERS[@]} databases"

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# take_incr TAG — run `backup incr`, which must write a new incremental; sets NEW to its path.
take_incr() {
    local tag=$1 before
    before=$(archives "$B" incremental)
    run_pgtier "$tag" --dir "$B" backup incr
    expect_rc "$tag" 0 "backup incr ($tag)"
    if grep -qi skipped "$WORK/$tag.out"; then fail_run "$tag" "backup incr skipped although something changed ($tag)"; fi
    NEW=$(new_archive "$B" incremental "$before")
    grep -qF "$(basename "$NEW")" "$WORK/$tag.out" || fail_run "$tag" "result line does not name $(basename "$NEW")"
    check_archive "$NEW" incremental
}

# expect_skip TAG — `backup incr` must skip and leave every file as it was.
expect_skip() {
    local tag=$1
    tree_state "$B" >"$WORK/before.state"
    run_pgtier "$tag" --dir "$B" backup incr
    expect_rc "$tag" 0 "backup incr ($tag)"
    grep -qi "skipped" "$WORK/$tag.out" || fail_run "$tag" "backup incr did not skip ($tag)"
    tree_state "$B" >"$WORK/after.state"
    diff "$WORK/before.state" "$WORK/after.state" >&2 || fail_run "$tag" "a skipped run changed the backup folder ($tag)"
}

# expect_dbs ARCHIVE NAME... — the database sections are exactly these names.
expect_dbs() {
    local a=$1
    shift
    diff <(printf '%s\n' "$@" | sed '/^$/d' | sort) <(manifest_dbs "$a") >"$WORK/sections.diff" \
        || { cat "$WORK/sections.diff" >&2; fail "$(basename "$a"): database sections differ (< expected, > manifest)"; }
}

# ---- baseline -------------------------------------------------------------------------------
settle
run_pgtier full --dir "$B" backup full
expect_rc full 0 "backup full"
FULL=$(new_archive "$B" full "")
check_archive "$FULL" full
pass "full backup $(basename "$FULL")"

settle
expect_skip after-full
pass "incr right after the full skips (pgtier's own queries and pg_dump are not changes)"

# ---- read-only activity and reconnects --------------------------------------------------------
for db in "${MATRIX[@]}" "${OTHERS[@]}" postgres; do
    psql_db "$db" >/dev/null <<'SQL'
SELECT count(*) FROM t;
SELECT * FROM t WHERE id < 5 ORDER BY v;
SELECT last_value FROM sq;
SELECT lo_get(424242);
SELECT * FROM pg_stat_user_tables;
SQL
done 2>/dev/null || true
for i in $(seq 1 15); do psql_q -d d_idle -c "SELECT $i" >/dev/null; done
for i in $(seq 1 5); do psql_q -d postgres -c "SELECT count(*) FROM pg_database" >/dev/null; done
settle
# A session that is busy reading while the backup runs.
psql_q -d d_idle -c "SELECT count(*) FROM t, pg_sleep(3)" >/dev/null &
reader=$!
sleep 0.3
expect_skip read-only
wait "$reader"
pass "read-only activity (SELECTs, lo_get, 20 reconnects, a running reader) -> incr skipped"

# ---- one change per database, then one incremental ----------------------------------------------
psql_db d_insert -c "INSERT INTO t (v) VALUES ('marker-insert-7c1')"
psql_db d_update -c "UPDATE t SET v = 'marker-update-7c1' WHERE id = 3"
psql_db d_delete -c "DELETE FROM t WHERE id = 5"
psql_db d_truncate -c "TRUNCATE t"
psql_db d_create -c "CREATE TABLE t_new_7c1 (x int)"
psql_db d_alter -c "ALTER TABLE t ADD COLUMN added_col_7c1 int"
psql_db d_drop -c "DROP TABLE t_drop"
psql_db d_comment -c "COMMENT ON TABLE t IS 'marker-comment-7c1'"
psql_db d_lo_new -c "SELECT lo_from_bytea(0, 'marker-lo-new-7c1')" >/dev/null
psql_db d_lo_put -c "SELECT lo_put(424242, 0, 'ZZZZ')" >/dev/null
psql_db d_setval -c "SELECT setval('sq', 4242)" >/dev/null
psql_db d_nextval -c "SELECT nextval('sq'), nextval('sq'), nextval('sq')" >/dev/null
NEXTVAL=$(psql_db d_nextval -c "SELECT last_value FROM sq")
settle
take_incr matrix
expect_dbs "$NEW" "${MATRIX[@]}"
if manifest_has_globals "$NEW"; then
    fail "$(basename "$NEW"): globals section although no role changed (sections: $(jq -c '[.sections[] | .database]' "$NEW.json"))"
fi
pass "incremental holds exactly the ${#MATRIX[@]} changed databases: ${MATRIX[*]}"

# The sections hold the changes themselves.
section_sql() { # ARCHIVE DB -> that database's SQL on stdout
    local off len
    read -r off len < <(jq -r --arg d "$2" '.sections[] | select(.database == $d) | "\(.offset) \(.length)"' "$1.json")
    dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | bzip2 -dc
}
has() { section_sql "$NEW" "$1" >"$WORK/sec.sql" && grep -qF -- "$2" "$WORK/sec.sql" || fail "section $1 of $(basename "$NEW") lacks '$2'"; }
hasnt() { section_sql "$NEW" "$1" >"$WORK/sec.sql" && ! grep -qF -- "$2" "$WORK/sec.sql" || fail "section $1 of $(basename "$NEW") still has '$2'"; }
has d_insert marker-insert-7c1
has d_update marker-update-7c1
has d_delete "row-4-end"
hasnt d_delete "row-5-end"
hasnt d_truncate "row-1-end"
has d_create "CREATE TABLE public.t_new_7c1"
has d_alter "added_col_7c1"
hasnt d_drop "t_drop"
has d_comment "marker-comment-7c1"
has d_lo_new "$(hex marker-lo-new-7c1)"
has d_lo_put "$(hex ZZZZ)"
has d_setval "setval('public.sq', 4242, true)"
has d_nextval "setval('public.sq', $NEXTVAL, true)"
pass "each section holds its change (rows, DDL, comment, large objects, sequences)"

settle
expect_skip after-matrix
pass "the next incr skips: changes already taken are not taken again"

# ---- GRANT and database-level properties (shared catalogs are written too) ----------------------
psql_db "$D_GRANT" -c "GRANT SELECT ON t TO r_grantee"
psql_q -d postgres -c "ALTER DATABASE $D_DBSET SET work_mem = '7MB'"
psql_q -d postgres -c "ALTER DATABASE $D_DBOWNER OWNER TO r_owner2"
psql_q -d postgres -c "COMMENT ON DATABASE $D_DBCOMMENT IS 'marker-dbcomment-7c1'"
psql_q -d postgres -c "GRANT CONNECT, TEMPORARY ON DATABASE $D_DBGRANT TO r_grantee"
psql_q -d postgres -c "ALTER ROLE r_grantee IN DATABASE $D_ROLEINDB SET work_mem = '9MB'"
settle
take_incr dblevel
for pair in "$D_GRANT|GRANT SELECT ON TABLE public.t TO r_grantee" "$D_DBSET|work_mem TO '7MB'" "$D_DBOWNER|OWNER TO r_owner2" \
    "$D_DBCOMMENT|marker-dbcomment-7c1" "$D_DBGRANT|ON DATABASE $D_DBGRANT TO r_grantee" \
    "$D_ROLEINDB|IN DATABASE $D_ROLEINDB SET work_mem TO '9MB'"; do
    db=${pair%%|*}
    text=${pair#*|}
    manifest_dbs "$NEW" | grep -qx "$db" || fail "$(basename "$NEW"): $db changed (${text}) but has no section"
    has "$db" "$text"
done
expect_dbs "$NEW" "${DBLEVEL[@]}"
pass "GRANT ON TABLE, ALTER DATABASE SET/OWNER, COMMENT ON DATABASE, GRANT ON DATABASE, ALTER ROLE IN DATABASE SET -> their databases are re-dumped"

# ---- globals: a new role, a membership, a role setting -------------------------------------------
globals_only_step() { # TAG SQL TEXT
    psql_q -d postgres -c "$2"
    settle
    take_incr "$1"
    manifest_has_globals "$NEW" || fail "$(basename "$NEW"): no globals section after: $2"
    expect_dbs "$NEW"
    bz_contains "$NEW" "$3" || fail "$(basename "$NEW"): globals lack '$3'"
    pass "$2 -> incremental with only the globals section"
}
globals_only_step role "CREATE ROLE r_new_7c1 LOGIN" "CREATE ROLE r_new_7c1"
globals_only_step membership "GRANT r_grantee TO r_new_7c1" "GRANT r_grantee TO r_new_7c1"
globals_only_step rolesetting "ALTER ROLE r_new_7c1 SET work_mem = '11MB'" "ALTER ROLE r_new_7c1 SET work_mem TO '11MB'"
settle
expect_skip after-globals

# ---- a new database ---------------------------------------------------------------------------
psql_q -d postgres -c "CREATE DATABASE d_new"
psql_db d_new -c "CREATE TABLE fresh (v text)" -c "INSERT INTO fresh VALUES ('marker-new-db-7c1')"
settle
take_incr newdb
manifest_dbs "$NEW" | grep -qx d_new || fail "$(basename "$NEW"): the new database d_new is missing"
expect_dbs "$NEW" d_new
has d_new marker-new-db-7c1
pass "CREATE DATABASE -> the new database is in the next incremental (and nothing else)"

# ---- a dropped database -----------------------------------------------------------------------
psql_q -d postgres -c "DROP DATABASE $D_DROP"
settle
take_incr dropdb
manifest_dbs "$NEW" | grep -qx "$D_DROP" && fail "$(basename "$NEW"): has a section for the dropped database"
jq -r '.fingerprint.databases[].name' "$NEW.json" | grep -qx "$D_DROP" && fail "$(basename "$NEW"): fingerprint still lists $D_DROP"
manifest_has_globals "$NEW" || fail "$(basename "$NEW"): no globals section after DROP DATABASE (contract: globals when a database was dropped)"
pass "DROP DATABASE -> the run succeeds, writes globals, the fingerprint forgets the database"

# ---- a renamed database -----------------------------------------------------------------------
psql_q -d postgres -c "ALTER DATABASE $D_RENAME RENAME TO \"d renamed\""
settle
take_incr rename
manifest_dbs "$NEW" | grep -qx "d renamed" || fail "$(basename "$NEW"): the renamed database 'd renamed' is missing"
manifest_dbs "$NEW" | grep -qx "$D_RENAME" && fail "$(basename "$NEW"): still a section for the old name $D_RENAME"
pass "ALTER DATABASE RENAME -> the database is dumped under its new name"

# ---- statistics reset: a change whose counters were wiped is still taken --------------------------
psql_db "$D_RESET" -c "INSERT INTO t (v) VALUES ('marker-reset-7c1')"
settle
psql_db "$D_RESET" -c "SELECT pg_stat_reset()" >/dev/null
settle
take_incr statreset
manifest_dbs "$NEW" | grep -qx "$D_RESET" || fail "$(basename "$NEW"): $D_RESET changed, then its statistics were reset, and it was missed"
has "$D_RESET" marker-reset-7c1
pass "INSERT then pg_stat_reset() -> the database is still taken"

# ---- a crash loses the statistics: the change must still be taken ------------------------------------
psql_db "$D_CRASH" -c "SET synchronous_commit = on" -c "INSERT INTO t (v) VALUES ('marker-crash-7c1')" -c "CHECKPOINT"
settle
pg_crash cd
pg_start cd
settle
take_incr crash
manifest_dbs "$NEW" | grep -qx "$D_CRASH" || fail "$(basename "$NEW"): $D_CRASH changed before a crash and was missed"
has "$D_CRASH" marker-crash-7c1
pass "INSERT then server crash (statistics lost) -> the database is still taken ($(manifest_dbs "$NEW" | wc -l) sections)"
settle
expect_skip after-crash
pass "after the crash, with nothing new, incr skips again"
