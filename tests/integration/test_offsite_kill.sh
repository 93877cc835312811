#!/usr/bin/env bash
# `pgtier offsite sync` killed (SIGKILL) in the middle of an upload, against a real S3 server
# (Ceph RADOS Gateway, lib_s3.sh). strace holds the process at a chosen point without changing
# it: each read of the archive is slowed (a kill while its bytes are on the wire), or the read of
# the sidecar is held (a kill after the archive object is complete, before sidecar and manifest).
# After either kill no remote copy of that archive counts: no manifest in the bucket, `list
# --remote` shows it absent or INCOMPLETE, `restore latest --dry-run` over an empty local
# directory plans with the older complete full. The next sync completes it without sending the
# archive again (no read of the local archive at all; the log says "archive already there").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME
command -v strace >/dev/null || fail "strace is required (scripts/install-deps installs it)"

B="$WORK/backups" CFG="$WORK/pgtier.toml" BUCKET=pgtier-kill PREFIX=site-d/node4
offsite_bucket
offsite_toml "$B" >"$CFG"
# Backups that leave the upload to the traced syncs below (a one-shot backup syncs by itself).
printf '[storage]\ndir = "%s"\n' "$B" >"$WORK/local.toml"
# The same bucket seen from an empty backup directory (a replacement machine).
mkdir -p "$WORK/empty"
offsite_toml "$WORK/empty" >"$WORK/empty.toml"
# sync_traced TAG STRACE_ARGS... — `pgtier offsite sync` under strace in the background (in a
# subshell, which ends quietly whatever happens to strace); pids -> $SPID (the subshell),
# $STRACE_PID, $SYNC_PID (pgtier).
sync_traced() {
    local tag=$1 i
    shift
    # LeakSanitizer (the sanitizer build of `make test`) cannot work under ptrace and fails the run.
    (
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        strace -f -qq -s 0 -o "$WORK/$tag.trace" "$@" "$PGTIER" --config "$CFG" offsite sync >"$WORK/$tag.out" 2>"$WORK/$tag.err" || exit $?
    ) 2>/dev/null &
    SPID=$!
    kill_on_exit "$SPID"
    STRACE_PID='' SYNC_PID=''
    for i in $(seq 1 100); do
        STRACE_PID=$(pgrep -P "$SPID" -x strace || true)
        [ -z "$STRACE_PID" ] || SYNC_PID=$(pgrep -P "$STRACE_PID" || true)
        [ -z "$SYNC_PID" ] || return 0
        sleep 0.05
    done
    fail "$tag: no pgtier process under strace ($(cat "$WORK/$tag.err"))"
}
# kill_sync TAG — SIGKILL pgtier while it still runs, then strace (which may be sleeping out an
# injected delay).
kill_sync() {
    kill -0 "$SYNC_PID" 2>/dev/null || { cat "$WORK/$1.out" "$WORK/$1.err" >&2; fail "$1: pgtier ended before the kill"; }
    kill -KILL "$SYNC_PID"
    kill -KILL "$STRACE_PID" 2>/dev/null || true
    wait "$SPID" || true
    [ ! -s "$WORK/$1.out" ] || { cat "$WORK/$1.out" >&2; fail "$1: the sync printed its summary: it had ended"; }
}
# no_remote_copy TAG F — after a kill: F has no sidecar or manifest in the bucket, `list
# --remote` does not show it complete, and a restore over the empty directory plans with $F1.
no_remote_copy() {
    local tag=$1 f=$2 name
    name=$(basename "$f")
    if bucket_state | grep -E "/full/$name\.(json|sha256) " >&2; then fail "$tag: objects above are in the bucket after the kill"; fi
    run_pgtier "$tag-lr" --config "$CFG" list --remote --json
    expect_rc "$tag-lr" 0 "list --remote after the kill"
    [ "$(jq -r --arg n "$name" '[.archives[] | select(.name == $n and .state == "complete")] | length' "$WORK/$tag-lr.out")" = 0 ] \
        || fail_run "$tag-lr" "$name counts as complete in the bucket after the kill"
    [ "$(jq -r '[.archives[] | select(.state == "complete")] | map(.name) | join(" ")' "$WORK/$tag-lr.out")" = "$(basename "$F1")" ] \
        || fail_run "$tag-lr" "list --remote: the complete archives are not just $(basename "$F1")"
    run_pgtier "$tag-plan" --config "$WORK/empty.toml" restore latest --dry-run
    expect_rc "$tag-plan" 0 "restore latest --dry-run over the empty directory"
    grep -qF "base: full/$(basename "$F1")" "$WORK/$tag-plan.out" "$WORK/$tag-plan.err" || fail_run "$tag-plan" "the restore plan is not based on $(basename "$F1")"
    if grep -F "$name" "$WORK/$tag-plan.out" "$WORK/$tag-plan.err"; then fail_run "$tag-plan" "the restore plan uses $name"; fi
    run_pgtier "$tag-st" --config "$CFG" status --json
    jq -e '.offsite.pending == 1' "$WORK/$tag-st.out" >/dev/null || fail_run "$tag-st" "status: not 1 pending after the kill"
}

pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
# About 4 MB compressed (md5 text compresses to roughly half): the archive's upload is tens of
# reads of the file, each slowed by strace below.
psql_db shop -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(1, 120000) g"
settle

# ---- an older full, complete in the bucket ------------------------------------------------------
run_pgtier full1 --config "$CFG" backup full
expect_rc full1 0 "backup full"
F1=$(archives "$B" full)
[ "$(bucket_state | grep -c "/full/$(basename "$F1")")" = 3 ] || fail_run full1 "the first full did not upload itself: $(bucket_state)"
psql_db shop -c "INSERT INTO t VALUES (-1, 'in the second full')"
settle
run_pgtier full2 --config "$WORK/local.toml" backup full
expect_rc full2 0 "second backup full"
F2=$(new_archive "$B" full "$F1")
N2=$(basename "$F2")
SIZE2=$(stat -c %s "$F2")
[ "$SIZE2" -gt $((2 * 1024 * 1024)) ] || fail "the second full is only $SIZE2 bytes: too small for a kill in the middle of its upload"
pass "two fulls: $(basename "$F1") uploaded by its backup, $N2 ($SIZE2 bytes) pending"

# ---- kill while the archive's bytes are on the wire ----------------------------------------------
# Every pread of the archive waits 40 ms. Reads at offset 0: the first begins the Content-MD5
# pass, the second the body of the PUT; the kill comes a few body reads later.
sync_traced mid -P "$F2" -e trace=pread64 -e inject=pread64:delay_enter=40000
body_reads() { [ "$(grep -cE ', 0\) += ' "$WORK/mid.trace")" -ge 2 ] && [ "$(grep -cE 'pread64\(' "$WORK/mid.trace")" -ge "$1" ]; }
wait_until 30 body_reads 1 || fail "the upload's body did not start within 30 s: $(tail -n 3 "$WORK/mid.trace")"
started=$(grep -cE 'pread64\(' "$WORK/mid.trace")
wait_until 30 body_reads $((started + 5)) || fail "the upload's body did not progress"
kill_sync mid
if bucket_state | grep -F "/full/$N2" >&2; then fail "objects of $N2 are in the bucket after a kill during its archive's upload"; fi
no_remote_copy mid "$F2"
pass "killed during the archive's PUT (after $(grep -cE 'pread64\(' "$WORK/mid.trace") reads): no object of $N2 in the bucket; list --remote and restore latest --dry-run see only $(basename "$F1")"

# ---- kill after the archive object is complete, before sidecar and manifest -------------------------
# The read of the local sidecar (right after the archive's PUT) is held for 60 s.
sync_traced after -P "$F2.sha256" -e trace=read -e inject=read:delay_enter=60000000
archive_up() { bucket_state | grep -qxF "$PREFIX/full/$N2 $SIZE2"; }
wait_until 30 archive_up || fail "the archive object did not appear within 30 s: $(bucket_state)"
sleep 0.5 # were the sidecar's read not held, sidecar and manifest would be up by now
kill_sync after
[ "$(bucket_state | grep -cF "/full/$N2")" = 1 ] || fail "expected only the archive object of $N2: $(bucket_state)"
run_pgtier after-lr --config "$CFG" list --remote
grep -E "INCOMPLETE +full/$N2\$" "$WORK/after-lr.out" >/dev/null || fail_run after-lr "list --remote does not show $N2 as INCOMPLETE"
run_pgtier after-vr --config "$CFG" verify --remote "$N2"
expect_rc after-vr 1 "verify --remote of the incomplete archive"
grep -qF "FAILED s3://$BUCKET/$PREFIX/full/$N2" "$WORK/after-vr.out" || fail_run after-vr "verify --remote does not say FAILED"
no_remote_copy after "$F2"
pass "killed after the archive's PUT: only the archive object is there; list --remote INCOMPLETE, verify --remote FAILED, restore plans with $(basename "$F1")"

# ---- the next sync completes it, without sending the archive again -------------------------------
sync_traced resume -P "$F2" -e trace=pread64,read
rc=0
wait "$SPID" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/resume.out" "$WORK/resume.err" >&2; fail "the resuming sync exit $rc"; }
grep -qF ": 1 uploaded" "$WORK/resume.out" || { cat "$WORK/resume.out" >&2; fail "the resuming sync did not upload 1"; }
grep -qF "offsite: uploaded full/$N2 " "$WORK/resume.err" && grep -qF "archive already there" "$WORK/resume.err" \
    || { cat "$WORK/resume.err" >&2; fail "the log does not say the archive was already there"; }
if grep -E 'read' "$WORK/resume.trace" >&2; then fail "the resuming sync read the archive (above): it sent it again"; fi
while IFS= read -r f; do
    key="$PREFIX/${f#"$B"/}"
    s3_get "$BUCKET" "$key" "$WORK/object"
    cmp -s "$WORK/object" "$f" || fail "$key: the bucket's bytes differ from $f"
done < <(find "$B/full" -maxdepth 1 -type f ! -name '.*' | sort)
[ "$(bucket_state | wc -l)" = 6 ] || fail "expected the 6 objects of two fulls: $(bucket_state)"
run_pgtier vr --config "$CFG" verify --remote --deep
expect_rc vr 0 "verify --remote --deep after the resume"
[ "$(grep -c '^OK ' "$WORK/vr.out")" = 2 ] || fail_run vr "verify --remote --deep: not 2 OK"
run_pgtier plan --config "$WORK/empty.toml" restore latest --dry-run
grep -qF "base: full/$N2" "$WORK/plan.out" "$WORK/plan.err" || fail_run plan "the restore plan does not use $N2 now"
run_pgtier st --config "$CFG" status --json
jq -e '.offsite.pending == 0 and .offsite.last_error == ""' "$WORK/st.out" >/dev/null || fail_run st "status: still pending"
pass "resume: archive already there (not read again), sidecar and manifest added, bytes identical, verify --deep OK, restore plans with $N2"

pass "test_offsite_kill in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
