#!/usr/bin/env bash
# Issue 11: a database dropped between the listing and its pg_dump does not fail the full: it is
# logged and recorded in the manifest's "dropped" list, the rest of the full is published, and the
# archive describes the cluster without it (restore plan works, the next differential skips). Any
# other pg_dump failure (here: a database that stops accepting connections) still fails the run.
# Deterministic: pg_dump of a_held waits on a table lock the test holds while the later database
# is dropped. One dump at a time (--jobs 1); test_parallel_backup.sh drops one during a parallel run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start dr
pg_quiet
B="$WORK/backups"
for db in a_held b_gone c_kept; do
    psql_q -d postgres -c "CREATE DATABASE $db"
    psql_db "$db" -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
done
settle

lock_held() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = '$1' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -ge 1 ]; }
# hold_lock DB — ACCESS EXCLUSIVE on DB.t in a transaction open until release_lock.
hold_lock() {
    rm -f "$WORK/holder.fifo"
    mkfifo "$WORK/holder.fifo"
    psql -X -q -d "$1" <"$WORK/holder.fifo" >/dev/null 2>&1 &
    HOLDER=$!
    exec 9>"$WORK/holder.fifo"
    echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;" >&9
    wait_until 10 lock_held "$1" || fail "setup: the lock on $1.t is not held"
}
release_lock() {
    echo "ROLLBACK;" >&9
    exec 9>&-
    wait "$HOLDER" || true
}
dump_waits() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND application_name LIKE 'pgtier-dump-%' AND wait_event_type = 'Lock'")" -ge 1 ]; }

# ---- a database dropped while an earlier one is being dumped -----------------------------------------
hold_lock a_held
"$PGTIER" --dir "$B" backup full --jobs 1 >"$WORK/full.out" 2>"$WORK/full.err" &
pid=$!
kill_on_exit "$pid"
wait_until 60 dump_waits a_held || { cat "$WORK/full.err" >&2; fail "pg_dump of a_held never waited for the lock"; }
psql_q -d postgres -c "DROP DATABASE b_gone"
release_lock
set +e
wait "$pid"
RC=$?
set -e
_RUN_CMD[full]="$PGTIER --dir $B backup full --jobs 1"
expect_rc full 0 "the full during which b_gone was dropped"
F=$(new_archive "$B" full "")
check_archive "$F" full
[ "$(manifest_dbs "$F" | tr '\n' ' ')" = "a_held c_kept postgres template1 " ] || fail "the full holds: $(manifest_dbs "$F" | tr '\n' ' ')"
jq -e '.dropped == ["b_gone"]' "$F.json" >/dev/null || fail "the manifest does not record b_gone as dropped: $(jq -c .dropped "$F.json")"
jq -e '[.fingerprint.databases[].name] | index("b_gone") == null' "$F.json" >/dev/null || fail "the manifest's fingerprint still lists b_gone"
grep -i 'b_gone' "$WORK/full.err" | grep -qi dropped || fail_run full "the log does not say that b_gone was dropped"
pass "b_gone dropped during the full: logged, in the manifest's dropped list, the rest published"

run_pgtier plan --dir "$B" restore plan
expect_rc plan 0 "restore plan after the full"
grep -q b_gone "$WORK/plan.out" && fail_run plan "the plan mentions b_gone"
settle
run_pgtier diff --dir "$B" backup diff
expect_rc diff 0 "differential after the full"
grep -qi skipped "$WORK/diff.out" || fail_run diff "the differential was not skipped: the full's fingerprint does not describe the cluster"
pass "restore plan works and the next differential skips (the fingerprint is the cluster's without b_gone)"

# ---- any other pg_dump failure still fails the run ---------------------------------------------------
before=$(archives "$B" full)
hold_lock a_held
"$PGTIER" --dir "$B" backup full --jobs 1 >"$WORK/full2.out" 2>"$WORK/full2.err" &
pid=$!
kill_on_exit "$pid"
wait_until 60 dump_waits a_held || { cat "$WORK/full2.err" >&2; fail "pg_dump of a_held never waited for the lock"; }
psql_q -d postgres -c "ALTER DATABASE c_kept ALLOW_CONNECTIONS false"
release_lock
set +e
wait "$pid"
RC=$?
set -e
_RUN_CMD[full2]="$PGTIER --dir $B backup full --jobs 1"
expect_rc full2 1 "a full whose pg_dump of an existing database fails"
grep -i c_kept "$WORK/full2.err" | grep -qi pg_dump || fail_run full2 "the error does not name pg_dump and c_kept"
[ "$(archives "$B" full)" = "$before" ] || fail "a full was published although pg_dump of c_kept failed"
pass "pg_dump failing for a database that still exists fails the run, nothing published"
