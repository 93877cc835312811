#!/usr/bin/env bash
# Issue 23 item 4, against the real gateway (lib_s3.sh): with the daemon running (its schedules far
# away, its start-up sync done, so its uploader would next sync in an hour), a one-shot
# `pgtier backup incr` while the gateway is down publishes locally and its own upload fails. The
# daemon notices the new archive by the tier folder's modification time within seconds (it logs
# "the backup directory changed"), and once the gateway is back it uploads the archive within
# seconds, not at its hourly sync. Both delays are measured and printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

B="$WORK/backups" CFG="$WORK/pgtier.toml" BUCKET=pgtier-notice PREFIX=node1
offsite_bucket
offsite_toml "$B" >"$CFG"
cat >>"$CFG" <<TOML
[schedule]
timezone = "UTC"
full = "0 0 1 1 *"
differential = "0 0 2 1 *"
incremental = "0 0 3 1 *"
TOML
pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g"
settle
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# A full first (uploaded by the one-shot itself), so the daemon has nothing to catch up.
run_pgtier full --config "$CFG" backup full
expect_rc full 0 "backup full"
bucket_matches_local

start_daemon d --config "$CFG"
L="$WORK/d.log"
# Its start-up sync has run once offsite.json records an attempt after the daemon started.
t_start=$(date -u +%Y-%m-%dT%H:%M:%S)
synced_since_start() {
    local at
    at=$(jq -r '.last_attempt_at // ""' "$B/.pgtier/offsite.json" 2>/dev/null) || return 1
    [[ ${at:0:19} > "$t_start" || ${at:0:19} == "$t_start" ]] && [ "$(jq -r .last_error "$B/.pgtier/offsite.json")" = "" ]
}
wait_until 30 synced_since_start || { show_log "$L"; fail "the daemon's start-up sync did not succeed"; }
sleep 1

# ---- the gateway down: a one-shot incremental whose own upload fails -------------------------------
s3_stop_gateway
psql_db shop -c "INSERT INTO t VALUES (-1, 'beside the daemon')"
settle
before=$(archives "$B" incremental)
run_pgtier incr --config "$CFG" backup incr
expect_rc incr 0 "backup incr with the gateway down"
t_done=$EPOCHREALTIME
I=$(new_archive "$B" incremental "$before")
grep -qE "warn.*offsite: .*stay pending for the next sync" "$WORK/incr.err" || fail_run incr "no warning about the failed upload"
# The daemon notices: a "changed" log line stamped after the archive was published (finished_at);
# the sync it starts fails, the gateway being still down. (It may also have noticed the .partial.)
published_s=$(date -d "$(jq -r .finished_at "$I.json")" +%s.%N)
noticed_after_publish() {
    local ts t
    while read -r ts _; do
        t=$(date -d "$ts" +%s.%N)
        if awk -v a="$t" -v b="$published_s" 'BEGIN { exit !(a >= b) }'; then
            echo "$t"
            return 0
        fi
    done < <(grep 'offsite: the backup directory changed' "$L" || true)
    return 1
}
wait_until 15 noticed_after_publish >/dev/null || { show_log "$L"; fail "the daemon did not notice the new archive within 15 s"; }
notice=$(awk -v a="$(noticed_after_publish)" -v b="$published_s" 'BEGIN { printf "%.1f", a - b }')
pass "the daemon noticed the new archive (log: 'offsite: the backup directory changed') ${notice}s after it was published (polling every 2 s)"

# ---- the gateway back: the daemon uploads within seconds ------------------------------------------
s3_start_gateway
t_back=$EPOCHREALTIME
uploaded() { bucket_state | grep -q "^$PREFIX/incremental/$(basename "$I").json "; }
wait_until 40 uploaded || { show_log "$L"; fail "the daemon did not upload $(basename "$I") within 40 s of the gateway's return (before issue 23 it waited for its hourly sync)"; }
delay=$(elapsed "$t_back")
total=$(elapsed "$t_done")
grep -qF "offsite: uploaded incremental/$(basename "$I")" "$L" || { show_log "$L"; fail "the daemon's log does not show the upload"; }
bucket_matches_local
kill -0 "$DPID" 2>/dev/null || { show_log "$L"; fail "the daemon exited"; }
stop_pid "$DPID" 10
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "daemon exit $STOP_RC after SIGTERM"; }
pass "the daemon uploaded $(basename "$I") ${delay}s after the gateway came back (${total}s after the one-shot backup ended; the gateway was down meanwhile)"

pass "test_offsite_daemon_notice in $(elapsed "$T0")s"
