#!/usr/bin/env bash
# Issue 14, a daemon Swarm can live with: a failed scheduled run is retried with back-off
# (daemon.retry_delays; logged and counted), never past the tier's next fire time, and a failed
# run found at start is retried too; `health --live` (the container's health check) asks only
# whether the daemon is alive: fresh during a run blocked for longer than its max age, stale while
# the process is stopped (SIGSTOP), fresh again after SIGCONT, and "no heartbeat" after SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start rt
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
B="$WORK/backups"
CFG="$WORK/pgtier.toml"
NEVER='0 0 1 1 *'
NEVER2='0 0 2 1 *'
# write_cfg INCREMENTAL RETRY_DELAYS
write_cfg() {
    daemon_toml "$B" UTC "$NEVER" "$NEVER2" "$1" 2 >"$CFG"
    printf '[daemon]\nretry_delays = "%s"\n' "$2" >>"$CFG"
}
live() { run_pgtier "$1" --dir "$B" health --live "${@:2}"; }

run_pgtier full --dir "$B" backup full
expect_rc full 0 "backup full"
live l0
expect_rc l0 1 "health --live without a daemon"
grep -q '^not alive: no daemon heartbeat' "$WORK/l0.out" || fail_run l0 "health --live does not say there is no heartbeat"

# The backup directory is untrusted: a planted heartbeat.json link to a fresh-looking file outside
# is not followed by health --live, and the daemon replaces the link, never writing through it.
OUTSIDE="$WORK/outside-heartbeat.json"
printf '{"pid": 1, "at": "%s", "activity": "planted"}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" >"$OUTSIDE"
cp "$OUTSIDE" "$WORK/outside.orig"
ln -s "$OUTSIDE" "$B/.pgtier/heartbeat.json"
live l0b
expect_rc l0b 1 "health --live with heartbeat.json a planted link"

# ---- a scheduled run fails (server down): retries after 2 s, then every 5 s, until it succeeds ------
write_cfg '*/30 * * * * *' '2s 5s'
start_daemon d1 --config "$CFG"
L="$WORK/d1.log"
wait_until 10 test -f "$B/.pgtier/heartbeat.json" -a ! -L "$B/.pgtier/heartbeat.json" || { show_log "$L"; fail "no heartbeat file (replacing the planted link) within 10 s of the daemon's start"; }
cmp -s "$OUTSIDE" "$WORK/outside.orig" || fail "the daemon wrote through the planted heartbeat.json link"
pass "a planted heartbeat.json link: health --live exit 1 (not followed); the daemon replaced the link, the file outside untouched"
_waiting() { "$PGTIER" --dir "$B" health --live | grep -q 'waiting for the next run: incremental'; }
wait_until 10 _waiting || { show_log "$L"; fail "the daemon does not wait for the next incremental"; }
live l1
expect_rc l1 0 "health --live with the daemon waiting"
grep -Eq '^alive: pid [0-9]+, waiting for the next run: incremental at ' "$WORK/l1.out" || fail_run l1 "health --live does not say what the daemon waits for"
pg_stop rt
wait_log "$L" 'incremental backup: retry 2 at ' 1 45 || { show_log "$L"; fail "no second retry scheduled after two failed runs"; }
grep -q 'running incremental backup (retry 1 of the incremental backup after a failed run)' "$L" || { show_log "$L"; fail "retry 1 was not run"; }
# The back-off as configured: retry 1 is 2 s after the failure, retry 2 5 s after retry 1's.
at1=$(grep -o 'incremental backup: retry 1 at [0-9T:-]*' "$L" | head -n1 | sed 's/.* at //')
at2=$(grep -o 'incremental backup: retry 2 at [0-9T:-]*' "$L" | head -n1 | sed 's/.* at //')
gap=$(($(date -u -d "${at2/T/ }" +%s) - $(date -u -d "${at1/T/ }" +%s)))
[ "$gap" -ge 5 ] && [ "$gap" -le 6 ] || { show_log "$L"; fail "retry 2 is ${gap} s after retry 1 (expected 5 s plus the failed run's length)"; }
live l2
expect_rc l2 0 "health --live while a run waits for its retry (the server is down)"
run_pgtier h2 --dir "$B" health
expect_rc h2 1 "health (backups fresh?) after the failed incremental"
pg_start rt
wait_log "$L" 'incremental: (skipped|wrote)' 1 20 || { show_log "$L"; fail "no successful retry within 20 s of the server's return"; }
run_pgtier s2 --dir "$B" status --json
jq -e '.tiers.incremental.last_run.retry >= 2 and .tiers.incremental.last_run.result != "failed"' "$WORK/s2.out" >/dev/null ||
    fail_run s2 "the last incremental run is not a successful retry"
retries=$(jq '.tiers.incremental.retries' "$WORK/s2.out")
[ "$retries" -ge 2 ] || fail_run s2 "retries counted: $retries (expected at least 2)"
grep -q "^pgtier_retries_total{tier=\"incremental\"} $retries\$" "$B/.pgtier/metrics.prom" || fail "metrics.prom does not count $retries retries"
pass "a failed scheduled run is retried (2 s, then 5 s apart), each logged; the retry that succeeds is recorded and $retries retries counted; health --live stays 0 throughout"

# ---- never past the tier's next fire time -----------------------------------------------------------
write_cfg '*/10 * * * * *' '20s'
kill -HUP "$DPID"
wait_log "$L" 'SIGHUP: configuration reloaded' 1 10 || { show_log "$L"; fail "SIGHUP not honoured"; }
pg_stop rt
wait_log "$L" 'incremental backup: no retry before its next scheduled run' 1 25 || { show_log "$L"; fail "a 20 s retry of a 10 s schedule was not dropped"; }
pg_start rt
pass "a retry that would reach the tier's next fire time is not scheduled (the schedule runs it)"

# ---- health --live: fresh during a long run, stale while stopped, none after SIGTERM ----------------
write_cfg '*/30 * * * * *' '2s'
kill -HUP "$DPID"
wait_log "$L" 'SIGHUP: configuration reloaded' 2 10 || { show_log "$L"; fail "second SIGHUP not honoured"; }
psql_db shop -c "INSERT INTO t VALUES (0)"
# pg_dump of shop waits for this lock: a run longer than --max-age 10
PGAPPNAME=pgtier-test-locker psql_db shop -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
kill_on_exit "$LOCKER"
n=$(log_count "$L" 'running incremental backup \(scheduled\)')
w=$(log_count "$L" 'incremental: wrote')
wait_log "$L" 'running incremental backup \(scheduled\)' $((n + 1)) 35 || { show_log "$L"; fail "no scheduled incremental"; }
sleep 13
live l3 --max-age 10
expect_rc l3 0 "health --live --max-age 10 in a run blocked for 13 s"
grep -q 'running the incremental backup (scheduled) since' "$WORK/l3.out" || fail_run l3 "health --live does not name the run"
psql_q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgtier-test-locker'" >/dev/null
wait "$LOCKER" || true
wait_log "$L" 'incremental: wrote' $((w + 1)) 30 || { show_log "$L"; fail "the blocked incremental did not finish after the lock"; }
pass "health --live --max-age 10 is 0 during a run blocked 13 s ($(cat "$WORK/l3.out"))"

kill -STOP "$DPID"
sleep 12
live l4 --max-age 10
kill -CONT "$DPID"
expect_rc l4 1 "health --live --max-age 10 after 12 s of SIGSTOP"
grep -Eq '^not alive: the daemon.s last heartbeat \(pid [0-9]+, .*\) is 1[0-9] s old, more than 10 s' "$WORK/l4.out" || fail_run l4 "health --live does not say the heartbeat is stale"
_alive() { "$PGTIER" --dir "$B" health --live --max-age 10 >/dev/null; }
wait_until 12 _alive || fail "health --live not 0 again within 12 s of SIGCONT"
pass "SIGSTOP for 12 s: health --live --max-age 10 exits 1 (stale heartbeat); 0 again after SIGCONT"

stop_pid "$DPID" 10
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "daemon exit $STOP_RC on SIGTERM"; }
[ ! -e "$B/.pgtier/heartbeat.json" ] || fail "the heartbeat file stays after the daemon's exit"
live l5
expect_rc l5 1 "health --live after the daemon's exit"
run_pgtier s5 --dir "$B" status
grep -q '^daemon: not running (no heartbeat)' "$WORK/s5.out" || fail_run s5 "status does not say the daemon is not running"
pass "after SIGTERM: no heartbeat file; health --live exits 1 and status says the daemon is not alive"

# ---- a failed run found at start is retried ---------------------------------------------------------
pg_stop rt
run_pgtier incr-down --dir "$B" backup incr
expect_rc incr-down 1 "backup incr with the server down"
pg_start rt
write_cfg "$NEVER" '3s'
start_daemon d2 --config "$CFG"
L2="$WORK/d2.log"
wait_log "$L2" 'incremental backup: retry 1 at ' 1 15 && grep -q 'the last incremental run failed' "$L2" || { show_log "$L2"; fail "the failed run found at start gets no retry"; }
wait_log "$L2" 'incremental: (skipped|wrote)' 1 20 || { show_log "$L2"; fail "the retry at start did not succeed"; }
run_pgtier s6 --dir "$B" status --json
jq -e '.tiers.incremental.last_run.retry == 1' "$WORK/s6.out" >/dev/null || fail_run s6 "the last incremental is not retry 1"
stop_pid "$DPID" 10
pass "a run that failed before the daemon started is retried by it (retry 1, 3 s after start)"
