#!/usr/bin/env bash
# A dump that waits for a lock says so: while another session holds an ACCESS EXCLUSIVE lock on a
# table, the backup's log names the table and the holder (pid, user, application, statement)
# instead of "0.0 MiB so far", and the backup completes once the lock is released.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start lw
pg_quiet
psql_q -d postgres -c "CREATE DATABASE data"
psql_db data -c "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g"
B="$WORK/backups"

# hold_lock SECONDS — in the background; the test ends it early with pg_terminate_backend.
hold_lock() {
    PGAPPNAME=lock-holder psql_db data -c "BEGIN" \
        -c "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep($1)" -c "COMMIT" >/dev/null 2>&1 || true
}
await_lock() {
    local _
    for _ in $(seq 1 100); do
        [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lock-holder' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && return 0
        sleep 0.1
    done
    fail "the lock holder never got its lock"
}

# The holder keeps its lock until the backup has logged the wait (or 90 s pass), so the test does
# not depend on how long the backup takes to reach the database on a loaded machine.
for jobs in 1 2; do
    hold_lock 600 &
    holder=$!
    await_lock
    holder_pid=$(psql_q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'lock-holder'")
    start_pgtier "full$jobs" --dir "$B" backup full --force --jobs "$jobs"
    waited=yes
    wait_log "$WORK/full$jobs.err" "waiting for a lock on public.orders" 1 90 || waited=no
    psql_q -d postgres -c "SELECT pg_terminate_backend($holder_pid)" >/dev/null
    wait "$holder"
    set +e
    wait "$BG_PID"
    RC=$?
    set -e
    [ "$waited" = yes ] || fail_run "full$jobs" "no lock wait logged within 90 s (--jobs $jobs)"
    expect_rc "full$jobs" 0 "a backup that waited for a lock (--jobs $jobs)"
    grep -q "dumping database data: waiting for a lock on public.orders (held by pid $holder_pid: user postgres, application lock-holder, active, transaction open for [0-9]* s, statement \"SELECT pg_sleep(600)\")" "$WORK/full$jobs.err" ||
        fail_run "full$jobs" "the log does not name the lock and its holder (--jobs $jobs)"
    if grep -q "dumping database data: 0.0 MiB so far" "$WORK/full$jobs.err"; then
        fail_run "full$jobs" "a progress line of 0.0 MiB while the dump waited for a lock"
    fi
    pass "--jobs $jobs: the wait for the lock on public.orders and its holder (pid $holder_pid) logged"
done

# Nothing waits: no lock line.
run_pgtier quiet --dir "$B" backup full --force
expect_rc quiet 0 "a backup with no lock held"
if grep -q "waiting for a lock" "$WORK/quiet.err"; then fail_run quiet "a lock wait logged with no lock held"; fi
pass "no lock line when nothing waits"
