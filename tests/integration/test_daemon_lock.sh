#!/usr/bin/env bash
# Issue 4, daemon and the repository lock: a scheduled run that finds the lock held by a manual
# backup waits for it; SIGTERM during that wait ends the daemon at once with exit 0 and records no
# failed run, and the manual backup completes; the same at start (the daemon's start sweep waits for
# the lock): SIGTERM -> exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start lk
pg_quiet
psql_q -d postgres -c "CREATE DATABASE big"
psql_db big -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((-g)::text) AS a FROM generate_series(1, ${LOCK_ROWS:-500000}) g"
settle
B="$WORK/backups"
CFG="$WORK/pgtier.toml"
daemon_toml "$B" UTC "0 0 1 1 *" "0 0 2 1 *" "*/2 * * * * *" 2 >"$CFG"
DPID=
MPID=

run_pgtier m1 --dir "$B" backup full
expect_rc m1 0 "first full"

# manual_full TAG — a manual full in the background ($MPID), once its .partial exists
manual_full() {
    start_pgtier "$1" --dir "$B" backup full --force
    MPID=$BG_PID
    kill_on_exit "$MPID"
    await_partial "$MPID" "$1" "$B" full
}
manual_done() {
    local rc
    set +e
    wait "$MPID"
    rc=$?
    set -e
    MPID=
    [ "$rc" = 0 ] || { cat "$WORK/$1.out" "$WORK/$1.err" >&2; fail "the manual full exited $rc"; }
    check_archive "$B/$(grep -oE 'full/[^ ]+\.sql\.bz2' "$WORK/$1.out")" full
}

# ---- a scheduled run waits for the lock; SIGTERM during the wait ---------------------------------------
start_daemon d1 --config "$CFG"
L="$WORK/d1.log"
wait_log "$L" 'incremental: skipped' 1 15 || { show_log "$L"; fail "no first scheduled incremental"; }
manual_full m2
wait_log "$L" 'waiting for lock' 1 6 || { show_log "$L"; fail "the daemon's next run did not wait for the manual full's lock (more data: LOCK_ROWS)"; }
kill -0 "$MPID" 2>/dev/null || fail "the manual full ended before the daemon's run waited (more data: LOCK_ROWS)"
stop_pid "$DPID" 5
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "SIGTERM while a scheduled run waits for the lock: exit $STOP_RC (expected 0 within 5 s)"; }
DPID=
grep -Eq 'stop requested.*daemon exiting' "$L" || { show_log "$L"; fail "no 'stop requested: daemon exiting'"; }
! jq -e '.last_run.incremental.result == "failed"' "$B/.pgtier/status.json" >/dev/null || fail "the interrupted wait was recorded as a failed incremental: $(jq -c .last_run.incremental "$B/.pgtier/status.json")"
manual_done m2
pass "SIGTERM while a scheduled run waits for the lock: exit 0 in ${STOP_MS} ms, no failure recorded; the manual full completed"

# ---- the daemon's start waits for the lock; SIGTERM during the wait -----------------------------------
manual_full m3
start_daemon d2 --config "$CFG"
L="$WORK/d2.log"
wait_log "$L" 'waiting for lock' 1 5 || { show_log "$L"; fail "the starting daemon did not wait for the lock"; }
kill -0 "$MPID" 2>/dev/null || fail "the manual full ended before the daemon waited (more data: LOCK_ROWS)"
stop_pid "$DPID" 5
DPID=
manual_done m3
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "SIGTERM while the starting daemon waits for the lock: exit $STOP_RC (expected 0; bug 1 in daemon-bugs.md)"; }
grep -Eq 'stop requested.*daemon exiting' "$L" || { show_log "$L"; fail "no 'stop requested: daemon exiting'"; }
pass "SIGTERM while the starting daemon waits for the lock: exit 0 in ${STOP_MS} ms"
