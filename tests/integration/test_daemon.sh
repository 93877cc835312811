#!/usr/bin/env bash
# Issue 4, daemon: against a real server with a seconds-resolution schedule (incremental every 3 s,
# full/differential far away) the daemon takes a full at start, an incremental after a change,
# none without one (skipped, counted in status and metrics); a `backup full` started by hand while
# it runs is serialized with the daemon's jobs; SIGHUP with a broken configuration keeps the old
# schedule, SIGHUP with a valid one applies the new schedule.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start dm
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE big"
psql_db shop -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g"
# Big enough that a full takes a moment, so that the daemon's 3-second ticks fall inside a manual one.
psql_db big -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((-g)::text) AS a FROM generate_series(1, ${DAEMON_ROWS:-200000}) g"
settle
B="$WORK/backups"
CFG="$WORK/pgtier.toml"
write_cfg() {
    daemon_toml "$B" UTC "0 0 1 1 *" "0 0 2 1 *" "$1" 2 >"$CFG"
}
write_cfg '*/3 * * * * *'
L="$WORK/d.log"
start_daemon d --config "$CFG"
alive() { kill -0 "$DPID" 2>/dev/null || { show_log "$L"; fail "the daemon exited: $*"; }; }
# the scheduled incremental runs logged so far, as "HH:MM:SS"
incr_ticks() { grep -E 'running incremental backup \(scheduled\)' "$L" | grep -oE 'T[0-9]{2}:[0-9]{2}:[0-9]{2}' | tr -d T; }

# ---- a full at start ---------------------------------------------------------------------------------
have_full() { [ "$(count_archives "$B" full)" -ge 1 ] && [ "$(log_count "$L" 'full/[^ ]+ published')" -ge 1 ]; }
wait_until 60 have_full || { show_log "$L"; fail "no full within 60 s of the daemon's start"; }
alive "after the first full"
[ "$(count_archives "$B" full)" = 1 ] || fail "expected one full, have $(count_archives "$B" full)"
F1=$(archives "$B" full)
check_archive "$F1" full
grep -q 'no full backup exists yet' "$L" || { show_log "$L"; fail "the start full was not logged as 'no full backup exists yet'"; }
[ "$(jq -r .reason "$F1.json")" != null ] || fail "start full has no reason"
pass "full at start: $(basename "$F1")"

# ---- no change: skipped ----------------------------------------------------------------------------
n0=$(log_count "$L" 'incremental: skipped')
wait_log "$L" 'incremental: skipped' $((n0 + 2)) 15 || { show_log "$L"; fail "no two skipped incrementals within 15 s"; }
# Each result is logged once: the result line, not also run_backup's "incremental skipped: …".
[ "$(log_count "$L" 'incremental skipped:')" = 0 ] || { show_log "$L"; fail "a skipped run is logged twice ('incremental skipped: …' beside 'incremental: skipped: …')"; }
alive "while idle"
[ "$(count_archives "$B" incremental)" = 0 ] || fail "an incremental was written although nothing changed: $(archives "$B" incremental)"
run_pgtier st1 --config "$CFG" status --json
expect_rc st1 0 "status --json"
jq -e . "$WORK/st1.out" >/dev/null || fail_run st1 "status --json is not JSON"
J="$WORK/st1.out"
[ "$(jq -r .tiers.incremental.last_run.result "$J")" = skipped ] || fail_run st1 "incremental last_run.result is not skipped"
[ "$(jq -r .tiers.incremental.skipped "$J")" -ge 2 ] || fail_run st1 "incremental skipped counter < 2"
[ "$(jq -r .tiers.incremental.published "$J")" = 0 ] || fail_run st1 "incremental published counter != 0"
[ "$(jq -r .tiers.incremental.failed "$J")" = 0 ] || fail_run st1 "incremental failed counter != 0"
jq -e '.tiers.incremental | .runs == .published + .skipped + .failed' "$J" >/dev/null || fail_run st1 "incremental runs != published + skipped + failed"
jq -e '.tiers.incremental.last_run.detail | length > 0' "$J" >/dev/null || fail_run st1 "a skipped run has no detail (reason)"
[ "$(jq -r .tiers.full.published "$J")" = 1 ] || fail_run st1 "full published counter != 1"
[ "$(jq -r .tiers.full.last_run.result "$J")" = published ] || fail_run st1 "full last_run.result != published"
[ "$(jq -r .tiers.full.last_run.archive "$J")" = "full/$(basename "$F1")" ] || fail_run st1 "full last_run.archive is not full/$(basename "$F1")"
[ "$(jq -r .tiers.full.last_run.size "$J")" = "$(stat -c %s "$F1")" ] || fail_run st1 "full last_run.size != archive size"
[ "$(jq -r .tiers.incremental.schedule "$J")" = '*/3 * * * * *' ] || fail_run st1 "incremental schedule is not '*/3 * * * * *'"
[ "$(jq -r .tiers.full.schedule "$J")" = '0 0 1 1 *' ] || fail_run st1 "full schedule is not '0 0 1 1 *'"
nr=$(jq -r .tiers.incremental.next_run "$J")
[[ $nr =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail_run st1 "next_run '$nr' is not UTC ISO 8601 with Z"
nr_s=$(date -d "$nr" +%s)
# Against the time status itself read (under ASan on a loaded machine the command takes seconds).
now=$(jq -r .now "$J")
now_s=$(date -d "$now" +%s)
[ $((nr_s - now_s)) -ge 0 ] && [ $((nr_s - now_s)) -le 3 ] || fail_run st1 "incremental next_run $nr is not within 3 s after status's now ($now)"
[ $((10#$(date -d "$nr" +%S) % 3)) = 0 ] || fail_run st1 "incremental next_run $nr is not on a multiple of 3 s"
[ "$(jq -r .tiers.full.next_run "$J")" = "$(($(date -u +%Y) + 1))-01-01T00:00:00Z" ] || fail_run st1 "full next_run is not next 1 January"
pass "unchanged cluster: incrementals skipped ($(jq -r .tiers.incremental.skipped "$J") so far: '$(jq -r .tiers.incremental.last_run.detail "$J")')"

run_pgtier st1t --config "$CFG" status
expect_rc st1t 0 "status"
grep -Eq '^incremental +[0-9-]+T[0-9:]+Z +skipped' "$WORK/st1t.out" || fail_run st1t "text status has no 'incremental … skipped' row"
grep -Eq '^full +[0-9-]+T[0-9:]+Z +published' "$WORK/st1t.out" || fail_run st1t "text status has no 'full … published' row"
grep -Eq '^differential .*never run' "$WORK/st1t.out" || fail_run st1t "text status: differential should be 'never run'"
pass "status text form"

# ---- metrics.prom --------------------------------------------------------------------------------
M="$B/.pgtier/metrics.prom"
[ -f "$M" ] || fail "no $M"
metric() { grep -E "^$1\{tier=\"$2\"\} " "$M" | awk '{print $2}'; }
for name in pgtier_last_success_timestamp_seconds pgtier_last_run_success pgtier_runs_total pgtier_skips_total pgtier_failures_total; do
    grep -q "^# TYPE $name " "$M" || fail "metrics.prom has no '# TYPE $name'"
done
bad=$(grep -vE '^(# (HELP|TYPE) [a-z_]+ .*|[a-z_]+\{tier="(full|differential|incremental)"\} -?[0-9.e+]+)$' "$M" || true)
[ -z "$bad" ] || fail "metrics.prom lines not in Prometheus text format: $bad"
[ "$(metric pgtier_failures_total incremental)" = 0 ] || fail "failures_total{incremental} != 0"
[ "$(metric pgtier_last_run_success full)" = 1 ] || fail "last_run_success{full} != 1"
[ "$(metric pgtier_skips_total incremental)" -ge 2 ] || fail "skips_total{incremental} < 2"
ts=$(metric pgtier_last_success_timestamp_seconds full)
fs_=$(date -d "$(jq -r .started_at "$F1.json")" +%s)
awk -v a="$ts" -v b="$fs_" 'BEGIN { d = a - b; exit !(d > -1.5 && d < 1.5) }' || fail "last_success_timestamp{full} $ts != manifest started_at ($fs_)"
[ "$(metric pgtier_last_archive_bytes full)" = "$(stat -c %s "$F1")" ] || fail "last_archive_bytes{full} $(metric pgtier_last_archive_bytes full) != size of $(basename "$F1")"
[ "$(metric pgtier_published_total full)" = 1 ] || fail "published_total{full} != 1"
[ -n "$(metric pgtier_last_duration_seconds full)" ] || fail "no last_duration_seconds{full}"
r1=$(metric pgtier_runs_total incremental)
wait_until 10 bash -c "[ \"\$(grep -E '^pgtier_runs_total\{tier=\"incremental\"\} ' '$M' | awk '{print \$2}')\" -gt $r1 ]" \
    || fail "pgtier_runs_total{incremental} did not grow after a run (stays $r1)"
pass "metrics.prom: runs/skips/failures/last_success per tier, rewritten after each run"

# ---- a change: an incremental with only the changed database ------------------------------------------
psql_db shop -c "INSERT INTO t VALUES (1000, 'changed')"
settle
has_incr() { [ "$(count_archives "$B" incremental)" -ge 1 ] && [ "$(log_count "$L" 'incremental/[^ ]+ published')" -ge 1 ]; }
wait_until 15 has_incr || { show_log "$L"; fail "no incremental within 15 s of a change"; }
I1=$(archives "$B" incremental)
[ "$(printf '%s\n' "$I1" | wc -l)" = 1 ] || fail "more than one incremental after one change: $I1"
check_archive "$I1" incremental
[ "$(manifest_dbs "$I1" | tr '\n' ' ')" = "shop " ] || fail "incremental holds '$(manifest_dbs "$I1" | tr '\n' ' ')', expected only shop"
bz_contains "$I1" changed || fail "the incremental lacks the new row"
# and then skipping again
n1=$(log_count "$L" 'incremental: skipped')
wait_log "$L" 'incremental: skipped' $((n1 + 1)) 10 || { show_log "$L"; fail "no skipped run after the incremental"; }
[ "$(count_archives "$B" incremental)" = 1 ] || fail "a second incremental without a change"
run_pgtier st2 --config "$CFG" status --json
jq -e '.tiers.incremental.published == 1 and .tiers.incremental.last_success.result != "failed"' "$WORK/st2.out" >/dev/null \
    || fail_run st2 "status: incremental published counter != 1 after one incremental"
[ "$(metric pgtier_failures_total full)" = 0 ] || fail "failures_total{full} != 0"
pass "change -> incremental $(basename "$I1") with only shop, then skipped again"

# ---- a manual full while the daemon runs is serialized ------------------------------------------------
psql_db shop -c "INSERT INTO t VALUES (1001, 'during-manual')"   # the daemon's next tick wants to dump
settle
nf_before=$(archives "$B" full)
run_pgtier manual --config "$CFG" backup full --force
expect_rc manual 0 "manual backup full while the daemon runs"
FM=$(new_archive "$B" full "$nf_before")
check_archive "$FM" full
# The insert is in the manual full (taken first) or in the daemon's incremental (taken before it).
in_some_incr() { local a; for a in $(archives "$B" incremental); do bz_contains "$a" during-manual && return 0; done; return 1; }
bz_contains "$FM" during-manual || wait_until 10 in_some_incr || { show_log "$L"; fail "the change made before the manual full is in no archive"; }
for a in $(archives "$B" incremental); do check_archive "$a" incremental; done
# Dump intervals [started, published] from both logs must not overlap.
{
    grep -hE ' (full|differential|incremental) backup [^ ]+ started:| [a-z]+/[^ ]+ published in ' "$L" "$WORK/manual.err" |
        sed -E 's/^([^ ]+) [a-z]+ ([a-z]+) backup ([^ ]+) started:.*/\1 S \3/; s/^([^ ]+) [a-z]+ [a-z]+\/([^ ]+) published in .*/\1 E \2/'
} | sort >"$WORK/intervals"
awk '
    { t = $1; sub(/Z$/, "", t) }
    $2 == "S" { if (open != "") { bad = bad " " open "&" $3 } open = $3 }
    $2 == "E" { if ($3 == open) open = ""; else bad = bad " end-of-" $3 "-while-" open }
    END { if (bad != "") { print bad; exit 1 } }' "$WORK/intervals" \
    || { cat "$WORK/intervals" >&2; show_log "$L"; fail "two dumps overlapped (see the intervals above)"; }
[ "$(grep -c ' S ' "$WORK/intervals")" -ge 3 ] || { cat "$WORK/intervals" >&2; fail "expected at least 3 dump start lines in the logs"; }
how="ran between the daemon's jobs"
grep -qi 'waiting for lock' "$WORK/manual.err" && how="waited for the daemon's lock"
grep -qi 'waiting for lock' "$L" && how="$how; the daemon waited for the manual full"
alive "after the manual full"
pass "manual full $(basename "$FM") while the daemon runs: both valid, no overlapping dumps ($how)"

# Fire times that passed while a run waited or ran are not made up: scheduled runs are never closer
# than the 3-second period, and each one is on a multiple of 3 s.
prev=
for t in $(incr_ticks); do
    s_=$((10#${t:0:2} * 3600 + 10#${t:3:2} * 60 + 10#${t:6:2}))
    [ $((s_ % 3)) = 0 ] || { show_log "$L"; fail "a scheduled incremental at $t, not on the */3 schedule"; }
    [ -z "$prev" ] || [ $((s_ - prev)) -ge 3 ] || { show_log "$L"; fail "two scheduled incrementals $((s_ - prev)) s apart (at $t): missed fire times were made up"; }
    prev=$s_
done
pass "scheduled runs at least 3 s apart, on the schedule ($(incr_ticks | wc -l) runs)"

# ---- SIGHUP with a broken configuration: refused, the old schedule goes on -----------------------------
cp "$CFG" "$WORK/good.toml"
printf '[schedule]\nincremental = "*/3 * * *"\n[storage]\ndir = "%s"\n' "$B" >"$CFG"
kill -HUP "$DPID"
wait_log "$L" 'SIGHUP: the new configuration is refused, keeping the old one' 1 5 || { show_log "$L"; fail "no refusal logged after SIGHUP with a broken config"; }
grep 'SIGHUP: the new configuration is refused' "$L" | grep -q 'incremental' || { show_log "$L"; fail "the refusal does not name schedule.incremental"; }
sleep 0.5
alive "after SIGHUP with a broken config"
ni=$(count_archives "$B" incremental)
psql_db shop -c "INSERT INTO t VALUES (1002, 'after-bad-hup')"
settle
wait_until 15 bash -c "[ \$(find '$B/incremental' -name '*_incremental.sql.bz2' | wc -l) -gt $ni ]" || { show_log "$L"; fail "no incremental after a change once a broken config was refused"; }
ticks_before=$(incr_ticks | tail -n 4)
for t in $ticks_before; do [ $((10#${t:6:2} % 3)) = 0 ] || { show_log "$L"; fail "after the refused reload, a run at $t is off the */3 schedule"; }; done
pass "SIGHUP with a broken config: refused ('$(grep -o 'SIGHUP: the new configuration is refused.*' "$L" | head -n1 | cut -c1-140)'), still running */3"

# ---- SIGHUP with a valid changed configuration: applied -------------------------------------------------
write_cfg '1-59/3 * * * * *'
nh=$(log_count "$L" 'SIGHUP: configuration reloaded')
kill -HUP "$DPID"
wait_log "$L" 'SIGHUP: configuration reloaded' $((nh + 1)) 5 || { show_log "$L"; fail "no 'configuration reloaded' after SIGHUP with a valid config"; }
line=$(grep -n 'SIGHUP: configuration reloaded' "$L" | tail -n1 | cut -d: -f1)
after_ticks() { tail -n +"$line" "$L" | grep -E 'running incremental backup \(scheduled\)' | grep -oE 'T[0-9]{2}:[0-9]{2}:[0-9]{2}' | tr -d T; }
wait_until 12 bash -c "[ \$(tail -n +$line '$L' | grep -c 'running incremental backup (scheduled)') -ge 3 ]" || { show_log "$L"; fail "fewer than 3 incremental runs within 12 s after the reload"; }
for t in $(after_ticks); do
    [ $((10#${t:6:2} % 3)) = 1 ] || { show_log "$L"; fail "after reloading '1-59/3 * * * * *', a run at $t is not on the new schedule"; }
done
alive "after a valid SIGHUP"
run_pgtier st3 --config "$CFG" status --json
[ "$(jq -r .tiers.incremental.schedule "$WORK/st3.out")" = '1-59/3 * * * * *' ] || fail_run st3 "status does not show the new schedule"
pass "SIGHUP with a valid config: the new schedule is applied (runs at $(after_ticks | tr '\n' ' '))"

# ---- stop -------------------------------------------------------------------------------------------
stop_pid "$DPID" 10
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "daemon exit status after SIGTERM: $STOP_RC"; }
grep -Eq 'stop requested.*daemon exiting' "$L" || { show_log "$L"; fail "no 'stop requested: daemon exiting' log"; }
[ -z "$(partials "$B")" ] || fail "partials left: $(partials "$B")"
errs=$(grep -E '^[^ ]+ (error|critical) ' "$L" | grep -v 'SIGHUP: the new configuration is refused' || true)
[ -z "$errs" ] || fail "the daemon logged errors: $errs"
pass "SIGTERM while idle: exit 0 in ${STOP_MS} ms"

# ---- the log: one line per event, every line "TIME LEVEL message" (docs/design.md, Daemon) -------
raw=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (trace|debug|info|warning|error|critical) ' "$L" || true)
[ -z "$raw" ] || soft_fail "$(printf '%s\n' "$raw" | wc -l) daemon log lines are not log records (no time/level), e.g. '$(printf '%s\n' "$raw" | head -n1 | cut -c1-120)'"
[ "${#_SOFT_FAILS[@]}" != 0 ] || pass "every daemon log line is a log record"
soft_fail_check
