#!/usr/bin/env bash
# Offsite copies, disaster recovery: a cluster with several databases and roles is backed up
# (full, then an incremental after changes) and synced to the bucket; the backup directory is
# then lost (emptied, the folder kept) and a fresh empty cluster stands in for the server.
#   1. `pgtier restore latest --if-empty --jobs 4` restores the newest state from the bucket
#      alone, four databases at once (each reading through an S3 client of its own): the
#      cluster equals the source (pg_dumpall --globals-only, pg_dump --create of every database,
#      catalog rows), and nothing is downloaded into the backup directory.
#   2. `pgtier daemon` with `daemon.auto_restore = true` and [offsite] does the same on its own at
#      start (another fresh cluster, the directory emptied again), then starts its schedule (a
#      first full, since the directory has none, uploaded by its background uploader while the
#      objects it restored from stay), and stops cleanly on SIGTERM.
# The credentials come from offsite.access_key_id_file / secret_access_key_file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

s3_start
BUCKET=pgtier-dr
PREFIX=prod/cluster-1
s3_mb "$BUCKET"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ACCESS_KEY_ID_FILE AWS_SECRET_ACCESS_KEY_FILE AWS_SESSION_TOKEN
printf '%s\n' "$S3_ACCESS_KEY" >"$WORK/s3.key"
printf '%s\n' "$S3_SECRET_KEY" >"$WORK/s3.secret"
chmod 600 "$WORK/s3.key" "$WORK/s3.secret"

B="$WORK/backups"
CFG="$WORK/pgtier.toml"
cat >"$CFG" <<TOML
[storage]
dir = "$B"
[schedule]
timezone = "UTC"
full = "0 0 1 1 *"
differential = "0 0 2 1 *"
incremental = "0 0 3 1 *"
[daemon]
auto_restore = true
[offsite]
url = "s3://$BUCKET/$PREFIX"
endpoint = "$S3_ENDPOINT"
path_style = true
access_key_id_file = "$WORK/s3.key"
secret_access_key_file = "$WORK/s3.secret"
TOML

# ---- the source cluster: roles, several databases, a full, changes, an incremental, a sync -----------
pg_start src
pg_quiet
make_sample_cluster
settle
run_pgtier full --config "$CFG" backup full
expect_rc full 0 "backup full"
sample_content app after-full
sample_content "my db" after-full
psql_q -d postgres -c "CREATE ROLE r_late LOGIN CONNECTION LIMIT 2" -c "CREATE DATABASE late OWNER r_late"
psql_db late -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g"
settle
run_pgtier incr --config "$CFG" backup incr
expect_rc incr 0 "backup incr"
grep -q 'wrote incremental/' "$WORK/incr.out" || fail_run incr "expected an incremental"
run_pgtier sync --config "$CFG" offsite sync
expect_rc sync 0 "offsite sync"
run_pgtier lr --config "$CFG" list --remote --json
expect_rc lr 0 "list --remote --json"
[ "$(jq -r '[.archives[] | select(.state == "complete") | .tier] | sort | join(" ")' "$WORK/lr.out")" = "full incremental" ] \
    || fail_run lr "the bucket should hold one full and one incremental"
snapshot src source
s3_ls "$BUCKET" "$PREFIX/" | sort >"$WORK/objects.synced"
[ "$(wc -l <"$WORK/objects.synced")" = 6 ] || fail "the bucket should hold 6 objects (2 archives), has: $(cat "$WORK/objects.synced")"
pg_stop src
pass "source: ${#SAMPLE_DBS[@]}+1 databases, roles; full + incremental synced to s3://$BUCKET/$PREFIX ($(elapsed) s)"

# lose_backups — the backup directory emptied, the folder itself kept
lose_backups() {
    find "$B" -mindepth 1 -delete
    [ -d "$B" ] && [ -z "$(ls -A "$B")" ] || fail "setup: $B is not an empty folder"
}
# no_local_archives TAG — nothing was downloaded into the backup directory
no_local_archives() {
    local found
    found=$(find "$B" -path "$B/.pgtier" -prune -o \( -type f -o -type l \) -print)
    [ -z "$found" ] || fail "$1: files in the backup directory: $found"
}

# ---- 1. the command: restore latest --if-empty, from the bucket alone ------------------------------------
lose_backups
pg_start dst1
run_pgtier dry --config "$CFG" restore latest --dry-run
expect_rc dry 0 "restore latest --dry-run with an empty directory"
grep -qF "$(jq -r '.archives[] | select(.tier == "incremental") | .name' "$WORK/lr.out")" "$WORK/dry.out" \
    || fail_run dry "the plan does not name the remote incremental"
run_pgtier rl --config "$CFG" restore latest --if-empty --jobs 4
expect_rc rl 0 "restore latest --if-empty from the bucket"
grep -qE "restored globals and $((${#SAMPLE_DBS[@]} + 3)) databases" "$WORK/rl.out" "$WORK/rl.err" \
    || fail_run rl "no 'restored globals and $((${#SAMPLE_DBS[@]} + 3)) databases' line"
same_snapshot dst1 source "restore latest --if-empty from the bucket"
no_local_archives "restore latest"
[ ! -e "$B/.pgtier/restoring" ] || fail "the restore marker is left"
run_pgtier rl2 --config "$CFG" restore latest --if-empty
expect_rc rl2 0 "a second restore latest --if-empty"
grep -q 'not restoring (--if-empty)' "$WORK/rl2.out" "$WORK/rl2.err" || fail_run rl2 "a second --if-empty restore did not decline"
pg_stop dst1
pass "restore latest --if-empty from the bucket: the cluster equals the source; nothing downloaded into $B ($(elapsed) s)"

# ---- 2. the daemon: auto_restore from the bucket, then the schedule ------------------------------------
lose_backups
pg_start dst2
start_daemon dr --config "$CFG"
L="$WORK/dr.log"
wait_log "$L" 'auto_restore' 1 20 || { show_log "$L"; fail "no auto_restore log"; }
wait_log "$L" 'restored globals and [0-9]+ databases|auto_restore failed' 1 120 || { show_log "$L"; fail "the auto_restore did not finish within 120 s"; }
grep -q 'auto_restore failed' "$L" && { show_log "$L"; fail "the daemon's auto_restore from the bucket failed"; }
grep -qE "restored globals and $((${#SAMPLE_DBS[@]} + 3)) databases" "$L" || { show_log "$L"; fail "the daemon did not restore every database"; }
# Then the schedule starts: the directory has no full, so the daemon takes one at once, after
# the restore, and its uploader sends it to the bucket.
wait_log "$L" 'running full backup' 1 30 || { show_log "$L"; fail "the schedule did not start (no full backup run) after the auto_restore"; }
[ "$(grep -nE 'restored globals and' "$L" | cut -d: -f1)" -lt "$(grep -nE 'running [a-z]+ backup' "$L" | head -n1 | cut -d: -f1)" ] \
    || { show_log "$L"; fail "a backup ran before the auto_restore finished"; }
wait_log "$L" 'offsite: uploaded full/' 1 60 || { show_log "$L"; fail "the daemon's new full was not uploaded within 60 s"; }
NEW=$(archives "$B" full)
[ "$(grep -c . <<<"$NEW")" = 1 ] || fail "expected one local full after the daemon's first run, have: $NEW"
kill -0 "$DPID" 2>/dev/null || { show_log "$L"; fail "the daemon exited after the auto_restore"; }
! grep -Eq ' (error|critical) ' "$L" || { show_log "$L"; fail "errors in the daemon log"; }
stop_pid "$DPID" 20
[ "$STOP_RC" = 0 ] || { show_log "$L"; fail "the daemon: exit $STOP_RC after SIGTERM (want 0)"; }
grep -q 'stop requested: daemon exiting' "$L" || { show_log "$L"; fail "no 'stop requested: daemon exiting' log"; }
# The bucket kept what it was restored from, and holds the new full (same bytes as the local one).
s3_ls "$BUCKET" "$PREFIX/" | sort >"$WORK/objects.after"
comm -23 "$WORK/objects.synced" "$WORK/objects.after" >"$WORK/objects.lost"
[ ! -s "$WORK/objects.lost" ] || fail "the daemon changed or deleted objects it restored from: $(cat "$WORK/objects.lost")"
[ "$(comm -13 "$WORK/objects.synced" "$WORK/objects.after" | awk '{print $1}' | tr '\n' ' ')" = "$PREFIX/full/$(basename "$NEW") $PREFIX/full/$(basename "$NEW").json $PREFIX/full/$(basename "$NEW").sha256 " ] \
    || fail "the bucket should have gained exactly the new full's 3 objects: $(comm -13 "$WORK/objects.synced" "$WORK/objects.after")"
s3_get "$BUCKET" "$PREFIX/full/$(basename "$NEW")" "$WORK/new.bin"
cmp -s "$WORK/new.bin" "$NEW" || fail "the uploaded new full differs from the local one"
same_snapshot dst2 source "the daemon's auto_restore from the bucket"
pass "daemon auto_restore from the bucket: the cluster equals the source; then a first full, uploaded; the restored-from objects kept; SIGTERM -> exit 0 ($(elapsed) s)"
