#!/usr/bin/env bash
# Issue 4, `pgtier schedule EXPR [--timezone TZ] [--from ISO] [--count N]`: the fire times the
# daemon will use, computed in the zone and printed in UTC (ISO 8601 with Z, as every time pgtier
# prints); across DST a missing local time runs at the first instant
# after it and a repeated one runs once; a bad expression, zone or time exits 2 naming the problem.
# No database needed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
unset TZ PGTIER_SCHEDULE_TIMEZONE

# expect_fires TAG "EXPECTED LINES" ARGS... — schedule ARGS prints exactly these lines
expect_fires() {
    local tag=$1 want=$2
    shift 2
    run_pgtier "$tag" schedule "$@"
    expect_rc "$tag" 0 "schedule $*"
    [ "$(cat "$WORK/$tag.out")" = "$want" ] || {
        show_run "$tag"
        printf 'expected:\n%s\n' "$want" >&2
        fail "schedule $*: wrong fire times"
    }
}

# the issue's example: 02:30 does not exist on 2026-03-29 in Berlin -> 03:00 (+02:00), 01:00Z
expect_fires berlin-spring $'2026-03-29T01:00:00Z\n2026-03-30T00:30:00Z' \
    '30 2 * * *' --timezone Europe/Berlin --from 2026-03-28T12:00:00Z --count 2
# 02:30 occurs twice on 2026-10-25: once
expect_fires berlin-autumn $'2026-10-25T00:30:00Z\n2026-10-26T01:30:00Z' \
    '30 2 * * *' --timezone Europe/Berlin --from 2026-10-24T12:00:00Z --count 2
# both missing times of 02:xx collapse into one run at 03:00
expect_fires berlin-spring-2 $'2026-03-29T01:00:00Z\n2026-03-30T00:00:00Z\n2026-03-30T00:30:00Z' \
    '*/30 2 * * *' --timezone Europe/Berlin --from 2026-03-28T12:00:00Z --count 3
pass "DST in Europe/Berlin: missing 02:30 -> 03:00 once, repeated 02:30 once"

expect_fires secs $'2026-01-01T00:00:03Z\n2026-01-01T00:00:06Z\n2026-01-01T00:00:09Z' \
    '*/3 * * * * *' --timezone UTC --from 2026-01-01T00:00:00Z --count 3
expect_fires secs-list $'2026-01-01T00:00:01Z\n2026-01-01T00:00:04Z\n2026-01-01T00:00:07Z' \
    '1-59/3 * * * * *' --timezone UTC --from 2026-01-01T00:00:00Z --count 3
expect_fires after-exact '2026-01-02T03:00:00Z' '0 3 * * *' --timezone UTC --from 2026-01-01T03:00:00Z --count 1
expect_fires frac '2026-01-01T03:00:00Z' '0 3 * * *' --timezone UTC --from 2026-01-01T02:59:59.5Z --count 1
pass "seconds field, and 'after' is strict"

expect_fires sunday7 $'2026-01-04T03:00:00Z\n2026-01-11T03:00:00Z' '0 3 * * 7' --timezone UTC --from 2026-01-01T00:00:00Z --count 2
expect_fires sunname $'2026-01-04T03:00:00Z\n2026-01-11T03:00:00Z' '0 3 * * sun' --timezone UTC --from 2026-01-01T00:00:00Z --count 2
expect_fires weekly $'2026-01-04T00:00:00Z\n2026-01-11T00:00:00Z' '@weekly' --timezone UTC --from 2026-01-01T00:00:00Z --count 2
expect_fires hourly $'2026-01-01T01:00:00Z\n2026-01-01T02:00:00Z' '@hourly' --timezone UTC --from 2026-01-01T00:00:00Z --count 2
expect_fires names $'2026-03-30T12:00:00Z\n2026-03-31T12:00:00Z\n2027-01-01T12:00:00Z' \
    '0 12 * JAN-MAR mon-fri' --timezone UTC --from 2026-03-30T00:00:00Z --count 3
# day-of-month and day-of-week both restricted: either matches (as cron does)
expect_fires dom-or-dow $'2026-02-02T00:00:00Z\n2026-02-09T00:00:00Z\n2026-02-13T00:00:00Z\n2026-02-16T00:00:00Z' \
    '0 0 13 * 1' --timezone UTC --from 2026-02-01T00:00:00Z --count 4
expect_fires dow-step $'2026-02-03T00:00:00Z\n2026-02-05T00:00:00Z\n2026-02-07T00:00:00Z\n2026-02-08T00:00:00Z' \
    '0 0 * * */2' --timezone UTC --from 2026-02-01T00:00:00Z --count 4
expect_fires day31 $'2026-03-31T00:00:00Z\n2026-05-31T00:00:00Z' '0 0 31 * *' --timezone UTC --from 2026-01-31T00:00:00Z --count 2
expect_fires leap $'2028-02-29T00:00:00Z\n2032-02-29T00:00:00Z' '0 0 29 2 *' --timezone UTC --from 2026-01-01T00:00:00Z --count 2
pass "names, @macros, Sunday as 7, day-of-month OR day-of-week, steps, 31st, 29 February"

# zone from --timezone, else schedule.timezone, else TZ; --from with an offset
expect_fires kathmandu $'2026-12-05T21:15:00Z' '0 3 * * 0' --from 2026-12-01T04:00:00+01:00 --timezone Asia/Kathmandu --count 1
TZ=America/New_York expect_fires tz-env '2026-01-01T08:00:00Z' '0 3 * * *' --from 2026-01-01T00:00:00Z --count 1
PGTIER_SCHEDULE_TIMEZONE=Asia/Tokyo TZ=America/New_York expect_fires tz-cfg '2026-01-01T18:00:00Z' '0 3 * * *' --from 2026-01-01T00:00:00Z --count 1
PGTIER_SCHEDULE_TIMEZONE=Asia/Tokyo expect_fires tz-opt '2026-01-01T03:00:00Z' '0 3 * * *' --timezone UTC --from 2026-01-01T00:00:00Z --count 1
expect_fires default-utc '2026-01-01T03:00:00Z' '0 3 * * *' --from 2026-01-01T00:00:00Z --count 1
run_pgtier count5 schedule '0 3 * * *'
expect_rc count5 0 "schedule without --count"
[ "$(wc -l <"$WORK/count5.out")" = 5 ] || fail_run count5 "expected 5 lines by default"
pass "time zone: --timezone > schedule.timezone > TZ > UTC; default count 5"

# ---- errors: exit 2 naming the problem --------------------------------------------------------------
# expect_bad TAG REGEX ARGS...
expect_bad() {
    local tag=$1 re=$2
    shift 2
    run_pgtier "$tag" schedule "$@"
    expect_rc "$tag" 2 "schedule $*"
    [ ! -s "$WORK/$tag.out" ] || fail_run "$tag" "printed fire times for a bad input"
    grep -Eq -- "$re" "$WORK/$tag.err" || fail_run "$tag" "the message does not match /$re/"
}
expect_bad b-min 'minute.*61' '61 2 * * *'
expect_bad b-hour 'hour.*25' '0 25 * * *'
expect_bad b-dom 'day-of-month.*32' '0 0 32 * *'
expect_bad b-mon 'month.*13' '0 0 * 13 *'
expect_bad b-dow 'day-of-week.*8' '0 0 * * 8'
expect_bad b-sec 'second.*60' '60 * * * * *'
expect_bad b-step 'minute.*step' '*/0 * * * *'
expect_bad b-back 'minute.*5-1' '5-1 * * * *'
expect_bad b-word 'day-of-week.*funday' '0 0 * * funday'
expect_bad b-4 '5 fields.*got 4' '* * * *'
expect_bad b-7 'got 7' '1 2 3 4 5 6 7'
expect_bad b-empty 'got 0' ''
expect_bad b-macro '@fortnightly' '@fortnightly'
expect_bad b-never 'never' '0 0 30 2 *'
expect_bad b-zone 'Mars/Base' '0 3 * * *' --timezone Mars/Base
expect_bad b-from 'yesterday' '0 3 * * *' --from yesterday
expect_bad b-from2 '2026-13-01' '0 3 * * *' --from 2026-13-01T00:00:00Z
expect_bad b-feb30 '2026-02-30' '0 3 * * *' --from 2026-02-30T00:00:00Z
PGTIER_SCHEDULE_TIMEZONE=Nowhere/Land expect_bad b-cfgzone 'Nowhere/Land' '0 3 * * *'
# Issue 11: a file of that name is not enough (they were accepted and silently meant UTC).
expect_bad b-zonedir "'Europe'.*directory" '0 3 * * *' --timezone Europe
expect_bad b-zonetab "'zone.tab'.*not a TZif" '0 3 * * *' --timezone zone.tab
expect_bad b-zonedots "'\.\./\.\./\.\./etc/passwd'.*'\.\.' component" '0 3 * * *' --timezone ../../../etc/passwd
expect_bad b-zoneabs "'/etc/localtime'.*path" '0 3 * * *' --timezone /etc/localtime
PGTIER_SCHEDULE_TIMEZONE=Europe expect_bad b-cfgzonedir 'PGTIER_SCHEDULE_TIMEZONE.*directory' '0 3 * * *'
TZ=zone.tab expect_bad b-tzzonetab 'variable TZ.*not a TZif' '0 3 * * *'
pass "bad expression / zone / time: exit 2 naming the field or value"

# the daemon refuses a bad schedule at start (exit 2, naming the key), before touching anything
PGTIER_SCHEDULE_DIFFERENTIAL='0 3 * * wed-mon' RUN_TIMEOUT=20 run_pgtier d-bad --dir "$WORK/nob" daemon
expect_rc d-bad 2 "daemon with a bad schedule.differential"
grep -q 'schedule.differential' "$WORK/d-bad.out" "$WORK/d-bad.err" || fail_run d-bad "the message does not name schedule.differential"
[ ! -e "$WORK/nob" ] || fail_run d-bad "the daemon created the backup directory before refusing its configuration"
PGTIER_SCHEDULE_TIMEZONE=Nowhere/Land RUN_TIMEOUT=20 run_pgtier d-badtz --dir "$WORK/nob" daemon
expect_rc d-badtz 2 "daemon with a bad schedule.timezone"
grep -q 'Nowhere/Land' "$WORK/d-badtz.out" "$WORK/d-badtz.err" || fail_run d-badtz "the message does not name the zone"
pass "daemon: a bad schedule or zone exits 2 at start"

# ---- the daemon evaluates the schedule in schedule.timezone (also after SIGHUP) and names archives
# in it. An expression with seconds that matches only one instant a few seconds ahead, written in
# the zone's local time: evaluated in another zone it would fire hours away.
pg_start sc
pg_quiet
B="$WORK/backups"
CFG="$WORK/pgtier.toml"
# write_cfg ZONE INCREMENTAL
write_cfg() {
    daemon_toml "$B" "$1" "0 0 1 1 *" "0 0 2 1 *" "$2" >"$CFG"
}
# at_in ZONE EPOCH — a 6-field expression firing at EPOCH's local time in ZONE (every day)
at_in() { TZ=$1 date -d "@$2" '+%-S %-M %-H * * *'; }
write_cfg Asia/Kathmandu "$(at_in Asia/Kathmandu $(($(date +%s) + 3600)))"
start_daemon tzd --config "$CFG"
DPID_TZ=$DPID
L="$WORK/tzd.log"
wait_until 30 bash -c "ls '$B/full/' 2>/dev/null | grep -q '_full.sql.bz2.json$'" || { show_log "$L"; fail "no start full"; }
F=$(archives "$B" full)
want=$(TZ=Asia/Kathmandu date -d "$(jq -r .started_at "$F.json")" +%Y%m%d_%H%M%S)
[[ $(basename "$F") == "${want}"* ]] || fail "the full is named $(basename "$F"), expected ${want}_full… (Asia/Kathmandu local time)"
run_pgtier tzst --config "$CFG" status --json
nr=$(jq -r .tiers.full.next_run "$WORK/tzst.out")
[[ $nr =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail_run tzst "status next_run '$nr' is not UTC ISO 8601 with Z"
[ "$(TZ=Asia/Kathmandu date -d "$nr" +%m-%dT%H:%M:%S)" = 01-01T00:00:00 ] || fail_run tzst "status next_run $nr is not 1 January 00:00 in Asia/Kathmandu"
pass "archive named in Asia/Kathmandu local time; status next_run $nr (UTC) is 1 January 00:00 there"

# check_fire ZONE — reload with an expression for ZONE's local time 6 s ahead, expect a run then
check_fire() {
    local zone=$1 target n r line at
    r=$(log_count "$L" 'running incremental backup \(scheduled\)')
    target=$(($(date +%s) + 6))
    write_cfg "$zone" "$(at_in "$zone" "$target")"
    n=$(log_count "$L" 'SIGHUP: configuration reloaded')
    kill -HUP "$DPID_TZ"
    wait_log "$L" 'SIGHUP: configuration reloaded' $((n + 1)) 5 || { show_log "$L"; fail "no reload for $zone"; }
    wait_log "$L" 'running incremental backup \(scheduled\)' $((r + 1)) 12 || { show_log "$L"; fail "no run at $(TZ=$zone date -d "@$target" +%T) $zone (schedule '$(at_in "$zone" "$target")')"; }
    line=$(grep 'running incremental backup (scheduled)' "$L" | tail -n1)
    at=$(date -d "$(cut -d' ' -f1 <<<"$line")" +%s)
    [ "$at" = "$target" ] || { show_log "$L"; fail "$zone: the run started at $(cut -d' ' -f1 <<<"$line"), expected $(date -u -d "@$target" +%T) UTC"; }
}
check_fire Asia/Kathmandu
check_fire America/St_Johns
kill -0 "$DPID_TZ" || fail "the daemon exited"
stop_pid "$DPID_TZ" 5
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "exit $STOP_RC"; }
pass "the daemon fires '%S %M %H * * *' at the local time of Asia/Kathmandu, then (after SIGHUP) of America/St_Johns"
