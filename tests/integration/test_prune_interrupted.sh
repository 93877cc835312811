#!/usr/bin/env bash
# A local deletion killed (SIGKILL) in the middle heals. `prune` runs under strace, which holds
# the unlinkat of the oldest full's archive file for 60 s; pgtier is killed there: the oldest
# full has lost its manifest but not its archive, `list` shows it INCOMPLETE and `verify` fails
# for it. The next `prune` completes that deletion (no file of it left, the log says so), verify
# fails for nothing but an old script's archive with its sidecar and no manifest, which stays
# untouched, as do the other archives. Then the same kill in the retention after a backup, healed by the next
# backup's start-up sweep.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC
T0=$EPOCHREALTIME
command -v strace >/dev/null || fail "strace is required (scripts/install-deps installs it)"

pg_start pi
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000) g"
settle
B="$WORK/backups"
NOW=$(date -u +%s)
take F1 full --force
take F2 full --force
take F3 full --force
set_age F1 100
set_age F2 60
OLD="$B/full/20200101_000000_full.sql.bz2"
echo "old script" | bzip2 >"$OLD"
(cd "$B/full" && sha256sum "$(basename "$OLD")" >"$(basename "$OLD").sha256")
untouched() { sha256sum "$OLD" "$OLD.sha256" "${ARCH[F3]}" "${ARCH[F3]}".*; }
untouched >"$WORK/untouched.before"

# killed_mid_deletion TAG KEY PGTIER_ARGS... — runs pgtier under strace (the unlinkat of KEY's
# archive held 60 s) and kills it once KEY's manifest is gone; checks the state a kill there
# leaves: KEY's archive still there without manifest, listed INCOMPLETE, verify exit 1.
killed_mid_deletion() {
    local tag=$1 key=$2 spid pid
    shift 2
    (
        # LeakSanitizer (the sanitizer build) cannot work under ptrace and fails the run.
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        # -P matches unlinkat's name argument as written: the bare file name.
        exec strace -f -qq -o "$WORK/$tag.trace" -P "$(name "$key")" -e trace=unlinkat \
            -e inject=unlinkat:delay_enter=60000000 "$PGTIER" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
    ) 2>/dev/null &
    spid=$!
    kill_on_exit "$spid"
    manifest_gone() { [ ! -e "${ARCH[$key]}.json" ]; }
    wait_until 120 manifest_gone || { cat "$WORK/$tag.err" >&2; fail "$tag: the manifest of $key was not deleted within 120 s"; }
    sleep 1 # the unlinkat of the archive, next, is held
    pid=$(pgrep -P "$spid") || fail "$tag: no pgtier under strace"
    kill -KILL "$pid"
    kill -KILL "$spid" 2>/dev/null || true
    wait "$spid" || true
    [ -f "${ARCH[$key]}" ] || fail "$tag: the kill came too late: the archive of $key is gone"
    run_pgtier "$tag-list" --dir "$B" list
    grep -Eq "INCOMPLETE +full/$(name "$key")\$" "$WORK/$tag-list.out" || fail_run "$tag-list" "$key is not INCOMPLETE after the kill"
    run_pgtier "$tag-verify" --dir "$B" verify
    expect_rc "$tag-verify" 1 "verify after the kill"
    grep -q "^FAILED .*/$(name "$key")" "$WORK/$tag-verify.out" || fail_run "$tag-verify" "verify has no FAILED line for $key"
    pass "$tag: killed with $key's manifest deleted: $(find "$B/full" -name "$(name "$key")*" -printf '%f ' | sort) left; INCOMPLETE, verify exit 1"
}
# healed TAG KEY — no file of KEY left, the log says the deletion was completed, verify passes,
# the old script's archive and F3 untouched
healed() {
    local f
    for f in "${ARCH[$2]}" "${ARCH[$2]}".*; do [ ! -e "$f" ] || fail "$1: $(basename "$f") of $2 is left"; done
    grep -qF "completed the interrupted deletion of ${ARCH[$2]}" "$WORK/$1.err" || fail_run "$1" "no log line for the completed deletion of $2"
    untouched >"$WORK/untouched.after"
    diff "$WORK/untouched.before" "$WORK/untouched.after" >&2 || fail "$1: the old script's archive or F3 changed"
    # verify: the old script's archive (no manifest) is its only failure, KEY is gone
    run_pgtier "$1-verify" --dir "$B" verify
    grep -qx "OK ${ARCH[F3]}" "$WORK/$1-verify.out" || fail_run "$1-verify" "verify: F3 is not OK"
    if grep '^FAILED' "$WORK/$1-verify.out" | grep -vF "$OLD: " >&2 || grep -qF "$(name "$2")" "$WORK/$1-verify.out"; then
        fail_run "$1-verify" "verify: a failure other than the old script's archive, or $2 still listed"
    fi
}

killed_mid_deletion kill1 F1 --dir "$B" prune
run_pgtier heal1 --dir "$B" prune
expect_rc heal1 0 "the prune after the kill"
healed heal1 F1
[ -f "${ARCH[F2]}" ] && [ -f "${ARCH[F2]}.json" ] || fail "F2 (kept by min_full) was deleted"
pass "the next prune completed F1's deletion; F2, F3 and the old script's archive untouched"

# The retention after a backup (min_full 1: F2, 60 days old, goes), healed by the next backup.
export PGTIER_RETENTION_MIN_FULL=1
killed_mid_deletion kill2 F2 --dir "$B" backup full --force
run_pgtier heal2 --dir "$B" backup incr --force
expect_rc heal2 0 "the backup after the kill"
healed heal2 F2
pass "the next backup's sweep completed F2's deletion"

pass "test_prune_interrupted in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
