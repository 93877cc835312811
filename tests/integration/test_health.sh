#!/usr/bin/env bash
# Issue 4, health/status/metrics after failures: `pgtier health` is unhealthy (exit 1) with no
# successful run yet, healthy after a full (a full covers the smaller tiers), unhealthy naming the
# failure after a failed run (one-shot backup with the server down, and a failing daemon run),
# healthy again after a successful (or skipped) one, and unhealthy when the newest success is
# older than the tier's interval plus its grace. The daemon part also serves /metrics and /healthz
# (daemon.metrics_listen) and posts its backup_failed and recovered events to a webhook.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start hl
pg_quiet
psql_q -d postgres -c "CREATE DATABASE app"
psql_db app -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g"
settle
B="$WORK/backups"
S="$B/.pgtier/status.json"
M="$B/.pgtier/metrics.prom"
metric() { grep -E "^$1\{tier=\"$2\"\} " "$M" | awk '{print $2}'; }

# expect_health TAG WANT_RC REGEX... — health exits WANT_RC and its output matches every REGEX
expect_health() {
    local tag=$1 want=$2 re
    shift 2
    run_pgtier "$tag" --dir "$B" health
    expect_rc "$tag" "$want" "health"
    for re in "$@"; do
        grep -Eq -- "$re" "$WORK/$tag.out" || fail_run "$tag" "health output does not match /$re/"
    done
}

# ---- nothing yet --------------------------------------------------------------------------------
run_pgtier h-missing --dir "$B" health
expect_rc h-missing 1 "health with no backup directory"
grep -q "backup directory $B does not exist" "$WORK/h-missing.err" || fail_run h-missing "health does not say that the backup directory is missing"
mkdir -p "$B"
expect_health h0 1 '^unhealthy: no successful full run yet' '^unhealthy: no successful incremental run yet'
! grep -q '^healthy' "$WORK/h0.out" || fail_run h0 "says healthy and unhealthy"
pass "empty repository: unhealthy ($(head -n1 "$WORK/h0.out"))"

# ---- one full: healthy for every tier (default schedules) --------------------------------------------
run_pgtier f1 --dir "$B" backup full
expect_rc f1 0 "backup full"
expect_health h1 0 '^healthy: '
[ "$(wc -l <"$WORK/h1.out")" = 1 ] || fail_run h1 "more than one line when healthy"
[ "$(metric pgtier_last_run_success full)" = 1 ] || fail "metrics after a one-shot full: last_run_success{full} != 1"
[ "$(metric pgtier_runs_total full)" = 1 ] || fail "metrics after a one-shot full: runs_total{full} != 1"
pass "after one full: healthy (a full counts for differential and incremental)"

# ---- a failed one-shot run --------------------------------------------------------------------------
pg_stop hl
run_pgtier i1 --dir "$B" backup incr
expect_rc i1 1 "backup incr with the server down"
expect_health h2 1 '^unhealthy: the last incremental run \([0-9T:-]+Z\) failed: .*(connect|server|socket)'
! grep -Eq 'unhealthy: .*(full|differential)' "$WORK/h2.out" || fail_run h2 "full/differential are reported unhealthy, only the incremental failed"
run_pgtier s2 --dir "$B" status --json
jq -e '.tiers.incremental.last_run.result == "failed" and .tiers.incremental.failed == 1 and (.tiers.incremental.last_run.detail | test("connect|server|socket"))' "$WORK/s2.out" >/dev/null \
    || fail_run s2 "status --json does not show the failed incremental with its error"
jq -e '.tiers.full.last_run.result == "published"' "$WORK/s2.out" >/dev/null || fail_run s2 "status: full is no longer published"
run_pgtier s2t --dir "$B" status
grep -Eq '^incremental +[0-9T:-]+Z +failed' "$WORK/s2t.out" || fail_run s2t "text status has no failed incremental row"
grep -Eq '^  .*(connect|server|socket)' "$WORK/s2t.out" || fail_run s2t "text status does not give the error of the failed run"
[ "$(metric pgtier_last_run_success incremental)" = 0 ] || fail "metrics: last_run_success{incremental} != 0 after a failure"
[ "$(metric pgtier_failures_total incremental)" = 1 ] || fail "metrics: failures_total{incremental} != 1"
[ "$(metric pgtier_last_run_success full)" = 1 ] || fail "metrics: last_run_success{full} changed by an incremental failure"
pass "failed incremental: health exit 1 ('$(head -n1 "$WORK/h2.out" | cut -c1-150)')"

# ---- a successful (skipped) run clears it -----------------------------------------------------------
pg_start hl
run_pgtier i2 --dir "$B" backup incr
expect_rc i2 0 "backup incr with the server back"
grep -q 'skipped' "$WORK/i2.out" || fail_run i2 "expected a skipped incremental (nothing changed)"
expect_health h3 0 '^healthy: '
[ "$(metric pgtier_last_run_success incremental)" = 1 ] || fail "metrics: last_run_success{incremental} != 1 after a skipped run"
[ "$(metric pgtier_failures_total incremental)" = 1 ] || fail "metrics: failures_total{incremental} is not kept (1)"
[ "$(metric pgtier_skips_total incremental)" = 1 ] || fail "metrics: skips_total{incremental} != 1"
pass "skipped incremental after the failure: healthy again"

# ---- a failed differential names the differential --------------------------------------------------
pg_stop hl
run_pgtier d1 --dir "$B" backup diff
expect_rc d1 1 "backup diff with the server down"
expect_health h4 1 '^unhealthy: the last differential run \([0-9T:-]+Z\) failed: '
pg_start hl
psql_db app -c "INSERT INTO t VALUES (100)"
settle
run_pgtier d2 --dir "$B" backup diff
expect_rc d2 0 "backup diff"
grep -q 'wrote differential/' "$WORK/d2.out" || fail_run d2 "expected a differential"
expect_health h5 0 '^healthy: '
pass "failed differential -> unhealthy; published differential -> healthy"

# ---- overdue: a fire time after the newest success passed by more than the grace ---------------------
# (grace = max(interval / 10, 1 h)). Ages are set by rewriting every manifest and status.json.
age() {
    local f
    for f in $(archives "$B" full) $(archives "$B" differential) $(archives "$B" incremental); do
        jq --arg t "$1" '.started_at = $t' "$f.json" >"$WORK/m.json" && cat "$WORK/m.json" >"$f.json"
    done
    jq --arg t "$1" '(.last_run // {} | .[]).started_at = $t | (.last_success // {} | .[]).started_at = $t' "$S" >"$WORK/s.json" && cat "$WORK/s.json" >"$S"
}
iso_at() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000000Z; }
NEVER='0 0 29 2 *'   # last fired 2024-02-29: never due in this test
# health_sched TAG FULL DIFF INCR — health with these schedules (UTC)
health_sched() {
    local tag=$1
    PGTIER_SCHEDULE_TIMEZONE=UTC PGTIER_SCHEDULE_FULL=$2 PGTIER_SCHEDULE_DIFFERENTIAL=$3 PGTIER_SCHEDULE_INCREMENTAL=$4 \
        run_pgtier "$tag" --dir "$B" health
}

# 10 days old with the default schedules: every tier is overdue, and says how old its success is
age "$(iso_at $(($(date +%s) - 10 * 86400)))"
expect_health h6 1 '^unhealthy: .*full.*10\.0 days' '^unhealthy: .*incremental.*10\.0 days' '^unhealthy: .*differential.*10\.0 days'
pass "10 days old: unhealthy ($(grep -m1 'full' "$WORK/h6.out" | cut -c1-160))"

# a fire time X minutes ago, "M H * * *" daily (grace 2.4 h) / "M * * * *" hourly (grace 1 h);
# the newest success 5 minutes before it (due since) or 5 minutes after it (nothing due since)
now=$(date +%s)
daily() { date -u -d "@$1" '+%-M %-H * * *'; }
hourly() { date -u -d "@$1" '+%-M * * * *'; }
X=$((now / 60 * 60 - 3 * 3600))
age "$(iso_at $((X - 300)))"
health_sched h7 "$(daily $X)" "$NEVER" "$NEVER"
expect_rc h7 1 "daily full due 3 h ago (grace 2.4 h), newest success 5 min before it"
grep -q '^unhealthy: .*full' "$WORK/h7.out" || fail_run h7 "the full is not named"
! grep -Eq '^unhealthy: .*(differential|incremental)' "$WORK/h7.out" || fail_run h7 "differential/incremental (never due) are reported"
age "$(iso_at $((X + 300)))"
health_sched h8 "$(daily $X)" "$NEVER" "$NEVER"
expect_rc h8 0 "daily full due 3 h ago, newest success 5 min after it"
X=$((now / 60 * 60 - 2 * 3600))
age "$(iso_at $((X - 300)))"
health_sched h9 "$(daily $X)" "$NEVER" "$NEVER"
expect_rc h9 0 "daily full due 2 h ago (within the 2.4 h grace)"
pass "daily full: due 3 h ago and missed -> unhealthy; taken after it -> healthy; due 2 h ago -> within grace"

X=$((now / 60 * 60 - 70 * 60))
age "$(iso_at $((X - 300)))"
health_sched h10 "$NEVER" "$NEVER" "$(hourly $X)"
expect_rc h10 1 "hourly incremental due 70 min ago (grace 1 h), newest success 5 min before it"
grep -q '^unhealthy: .*incremental' "$WORK/h10.out" || fail_run h10 "the incremental is not named"
X=$((now / 60 * 60 - 50 * 60))
age "$(iso_at $((X - 300)))"
health_sched h11 "$NEVER" "$NEVER" "$(hourly $X)"
expect_rc h11 0 "hourly incremental due 50 min ago (within the 1 h grace)"
pass "hourly incremental: due 70 min ago and missed -> unhealthy; due 50 min ago -> within grace"

# A fire time that has not come yet is never overdue, however short the schedule's next gap
# (a business-hours schedule like '0 9-17 * * 1-5' in the evening): incremental at H:00 and H:30
# only, H three hours from now; the newest success two hours ago.
H=$(((10#$(date -u +%H) + 3) % 24))
age "$(iso_at $((now - 7200)))"
PGTIER_SCHEDULE_TIMEZONE=UTC PGTIER_SCHEDULE_INCREMENTAL="0,30 $H * * *" run_pgtier h13 --dir "$B" health
if [ "$RC" = 0 ]; then
    pass "incremental '0,30 $H * * *' with a success 2 h ago: healthy"
else
    soft_fail "incremental '0,30 $H * * *' (last fire yesterday $H:30 UTC), newest success 2 h ago: health exit $RC: '$(head -n1 "$WORK/h13.out")' (bug 7)"
fi

# ---- a run in progress is on time; one that died is not --------------------------------------------
age "$(date -u -d '10 days ago' +%Y-%m-%dT%H:%M:%S.000000Z)"
psql_q -d postgres -c "CREATE DATABASE bulk"
psql_db bulk -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((-g)::text) AS a FROM generate_series(1, ${HEALTH_ROWS:-300000}) g"
start_pgtier long --dir "$B" backup full
LONG=$BG_PID
kill_on_exit "$LONG"
await_partial "$LONG" long "$B" full
expect_health h14 0 '^healthy: '
kill9 "$LONG"
# shellcheck disable=SC2086
check_orphans_gone $KILLED_KIDS
# Issue 14: the killed full is an interrupted run at once (status, health, list), before any
# restart; the next run records it for good (counted in status and metrics).
expect_health h15 1 '^unhealthy: the last full run \([0-9T:-]+Z\) failed: its process ended during the run'
run_pgtier st15 --dir "$B" status
grep -Eq '^full +[0-9T:-]+Z +interrupted ' "$WORK/st15.out" || fail_run st15 "status does not show the killed full as interrupted"
run_pgtier ls15 --dir "$B" list
grep -q 'its process ended during the run' "$WORK/ls15.out" || fail_run ls15 "list does not show the interrupted full"
psql_q -d postgres -c "DROP DATABASE bulk"
pass "a full in progress keeps health at 0; after kill -9 of it: 'interrupted' in health, status and list"

# a fresh successful full counts for the smaller tiers again
run_pgtier f2 --dir "$B" backup full
expect_rc f2 0 "backup full"
grep -q 'the full run started at .* was interrupted' "$WORK/f2.err" || fail_run f2 "the next run does not log the interrupted one it records"
expect_health h10 0 '^healthy: '
run_pgtier st16 --dir "$B" status --json
[ "$(jq '.tiers.full.interrupted' "$WORK/st16.out")" = 1 ] || fail_run st16 "the interrupted full is not counted"
grep -q '^pgtier_interrupted_total{tier="full"} 1$' "$B/.pgtier/metrics.prom" || fail "metrics.prom lacks pgtier_interrupted_total{tier=\"full\"} 1"
pass "a new full records the interrupted one (counted in status and metrics) and makes every tier healthy again"

# ---- the daemon fails a run, then succeeds ----------------------------------------------------------
# With daemon.metrics_listen (GET /metrics, /healthz) and a webhook ([notify]) that records what
# the daemon posts (tests/tools/webhook_listener.cpp).
LISTENER=${PGTIER_WEBHOOK_LISTENER:-$PGTIER_SOURCE_DIR/build/pgtier_webhook_listener}
mkdir -p "$WORK/hook"
"$LISTENER" "$WORK/hook/port" "$WORK/hook" >"$WORK/hook/listener.log" 2>&1 &
kill_on_exit $!
wait_until 10 test -s "$WORK/hook/port" || fail "the webhook listener did not start"
MPORT=$(_free_port)
MURL="http://127.0.0.1:$MPORT"
{
    daemon_toml "$B" UTC "0 0 1 1 *" "0 0 2 1 *" "*/2 * * * * *"
    printf '[daemon]\nmetrics_listen = "127.0.0.1:%s"\n' "$MPORT"
    printf '[notify]\nurls = ["http://127.0.0.1:%s/hook"]\ntimeout = 2\nretries = 0\n' "$(cat "$WORK/hook/port")"
} >"$WORK/d.toml"
start_daemon dm --config "$WORK/d.toml"
L="$WORK/dm.log"
wait_log "$L" 'incremental: skipped' 1 15 || { show_log "$L"; fail "the daemon's first incremental was not skipped"; }
wait_log "$L" 'serving /metrics and /healthz on http://127.0.0.1:' 1 1 || { show_log "$L"; fail "the daemon does not say where it serves metrics"; }
# http_get NAME PATH — GET $MURL/PATH: body -> $WORK/NAME.body, status -> $HTTP
http_get() { HTTP=$(curl -s -o "$WORK/$1.body" -w '%{http_code}' --max-time 10 "$MURL$2"); }
http_get m1 /metrics
[ "$HTTP" = 200 ] || fail "GET /metrics: HTTP $HTTP"
grep -q '^pgtier_last_run_success{tier="incremental"} 1$' "$WORK/m1.body" || fail "/metrics lacks pgtier_last_run_success{incremental} 1: $(head -c 600 "$WORK/m1.body")"
grep -Eq '^pgtier_last_run_duration_seconds\{tier="incremental"\} [0-9.]+$' "$WORK/m1.body" || fail "/metrics lacks pgtier_last_run_duration_seconds{incremental}"
grep -q '^pgtier_last_run_archive_bytes{tier="incremental"} 0$' "$WORK/m1.body" || fail "/metrics: a skipped run's pgtier_last_run_archive_bytes is not 0"
grep -q '^# TYPE pgtier_runs_total counter$' "$WORK/m1.body" || fail "/metrics lacks the TYPE lines"
http_get z1 /healthz
[ "$HTTP" = 200 ] || fail "GET /healthz while healthy: HTTP $HTTP: $(cat "$WORK/z1.body")"
grep -q '^healthy: the daemon is alive' "$WORK/z1.body" || fail "/healthz body: $(cat "$WORK/z1.body")"
http_get n1 /nothing
[ "$HTTP" = 404 ] || fail "GET /nothing: HTTP $HTTP"
# A second daemon on the same address stops at once, saying why (exit 1), and leaves the first's
# heartbeat alone.
run_pgtier dm2 --config "$WORK/d.toml" daemon
expect_rc dm2 1 "a second daemon with metrics_listen in use"
grep -q "cannot serve metrics on 127.0.0.1:$MPORT (.*daemon.metrics_listen): Address already in use" "$WORK/dm2.err" \
    || fail_run dm2 "no clear message for the address in use"
[ -f "$B/.pgtier/heartbeat.json" ] || fail "the second daemon removed the first's heartbeat"
pass "/metrics and /healthz (200) served; an address in use: '$(grep -o 'cannot serve.*' "$WORK/dm2.err")'"

pg_stop hl
wait_log "$L" 'incremental backup failed' 1 15 || { show_log "$L"; fail "no failed incremental logged by the daemon with the server down"; }
kill -0 "$DPID" || { show_log "$L"; fail "the daemon died after a failed run"; }
run_pgtier h11 --config "$WORK/d.toml" health
expect_rc h11 1 "health after the daemon's failed run"
grep -Eq '^unhealthy: the last incremental run .* failed: ' "$WORK/h11.out" || fail_run h11 "does not name the failed incremental"
http_get z2 /healthz
[ "$HTTP" = 503 ] || fail "GET /healthz after a failed run: HTTP $HTTP"
grep -Eq '^unhealthy: the last incremental run .* failed: ' "$WORK/z2.body" || fail "/healthz does not give the reason: $(cat "$WORK/z2.body")"
http_get m2 /metrics
grep -q '^pgtier_last_run_success{tier="incremental"} 0$' "$WORK/m2.body" || fail "/metrics: pgtier_last_run_success{incremental} is not 0 after a failure"
wait_until 10 test -s "$WORK/hook/1.json" || { show_log "$L"; fail "the daemon posted no backup_failed event"; }
jq -e '.event == "backup_failed" and .tier == "incremental" and (.error | length > 0)' "$WORK/hook/1.json" >/dev/null \
    || fail "unexpected event from the daemon: $(cat "$WORK/hook/1.json")"
pg_start hl
n=$(log_count "$L" 'incremental: skipped')
wait_log "$L" 'incremental: skipped' $((n + 1)) 15 || { show_log "$L"; fail "no successful run after the server came back"; }
run_pgtier h12 --config "$WORK/d.toml" health
expect_rc h12 0 "health after the daemon's next successful run"
http_get z3 /healthz
[ "$HTTP" = 200 ] || fail "GET /healthz after the recovery: HTTP $HTTP: $(cat "$WORK/z3.body")"
# every failed run (retries included) posts backup_failed; the first success after them, recovered
wait_until 10 grep -qs '"recovered"' "$WORK/hook/"*.json || { show_log "$L"; fail "the daemon posted no recovered event"; }
recovered=$(grep -l '"recovered"' "$WORK/hook/"*.json | head -n1)
jq -e '.event == "recovered" and .tier == "incremental" and .error == null' "$recovered" >/dev/null || fail "unexpected recovery event: $(cat "$recovered")"
stop_pid "$DPID" 5
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "daemon exit $STOP_RC"; }
curl -s --max-time 2 "$MURL/metrics" >/dev/null && fail "/metrics still answers after the daemon stopped"
pass "daemon: failed run -> unhealthy (/healthz 503, backup_failed posted), next run -> healthy (/healthz 200, recovered posted)"
soft_fail_check
