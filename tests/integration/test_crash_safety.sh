#!/usr/bin/env bash
# Issue 2, test 4 (docs/design.md, Publishing): kill -9 of pgtier during a dump, and of its pg_dump
# child, leave no archive under a final name and the latest_* links untouched; the next run sweeps
# the leftovers (and an archive whose publication was cut short) and succeeds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

ROWS=${CRASH_ROWS:-300000}
pg_start cr
pg_quiet
B="$WORK/backups"
for db in small1 small2 big; do psql_q -d postgres -c "CREATE DATABASE $db"; done
psql_db small1 -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
psql_db small2 -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
psql_db big -c "CREATE TABLE bigt (id int, a text, b text, ts timestamptz)"
settle

run_pgtier full1 --dir "$B" backup full
expect_rc full1 0 "first full"
F1=$(new_archive "$B" full "")
check_archive "$F1" full

# Enough incompressible-ish text that a dump takes a few seconds.
psql_db big -c "INSERT INTO bigt SELECT g, md5(g::text) || md5((-g)::text), md5((g * 7)::text), '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g"
settle
t0=$(date +%s%N)
run_pgtier incr1 --dir "$B" backup incr
expect_rc incr1 0 "incremental with the big table"
I1=$(new_archive "$B" incremental "")
check_archive "$I1" incremental
manifest_dbs "$I1" | grep -qx big || fail "incremental lacks the big database"
pass "setup: full $(basename "$F1"), incremental $(basename "$I1") ($(stat -c %s "$I1") bytes in $((($(date +%s%N) - t0) / 1000000)) ms)"

# Files under final (non-hidden) names, with hashes and link targets.
published() { tree_state "$B" | grep -v '/\.[^/]*$' || true; }
f1_sum=$(sha256sum <"$F1")
i1_sum=$(sha256sum <"$I1")
check_untouched() { # WHAT
    published >"$WORK/pub.now"
    diff "$WORK/pub.before" "$WORK/pub.now" >&2 || fail "$1: files under final names changed (< before, > after)"
    [ "$(readlink -f "$B/full/latest_full.sql.bz2")" = "$(readlink -f "$F1")" ] || fail "$1: latest_full moved"
    [ "$(readlink -f "$B/incremental/latest_incremental.sql.bz2")" = "$(readlink -f "$I1")" ] || fail "$1: latest_incremental moved"
    [ "$(sha256sum <"$F1")" = "$f1_sum" ] && [ "$(sha256sum <"$I1")" = "$i1_sum" ] || fail "$1: an older archive changed"
}
# ---- kill -9 pgtier during an incremental ------------------------------------------------------
psql_db big -c "INSERT INTO bigt VALUES (0, 'one more row', '', now())"
settle
published >"$WORK/pub.before"
start_pgtier kill-incr --dir "$B" backup incr
kill9_mid_dump "$BG_PID" kill-incr "$B" incremental
# shellcheck disable=SC2086
check_orphans_gone $KILLED_KIDS
check_untouched "kill -9 during an incremental"
pass "kill -9 of pgtier during an incremental: nothing under a final name, latest_incremental untouched"

# ---- kill -9 pgtier during a full -----------------------------------------------------------------
start_pgtier kill-full --dir "$B" backup full --force
kill9_mid_dump "$BG_PID" kill-full "$B" full
# shellcheck disable=SC2086
check_orphans_gone $KILLED_KIDS
check_untouched "kill -9 during a full"
LEFT=$(partials "$B")
pass "kill -9 of pgtier during a full: nothing under a final name, latest_full untouched (left: $(echo "$LEFT" | xargs -n1 basename 2>/dev/null | tr '\n' ' '))"

# ---- kill -9 of the pg_dump child ------------------------------------------------------------------
start_pgtier kill-dump --dir "$B" backup full --force
pid=$BG_PID
await_partial "$pid" kill-dump "$B" full
killed=""
i=0
while [ "$i" -lt 600 ] && [ -z "$killed" ]; do
    i=$((i + 1))
    kill -0 "$pid" 2>/dev/null || break
    for c in $(descendants "$pid"); do
        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = pg_dump ] || continue
        st=$(awk '{print $3}' "/proc/$c/stat" 2>/dev/null || true)
        [ -n "$st" ] && [ "$st" != Z ] || continue
        cmd=$({ tr '\0' ' ' <"/proc/$c/cmdline"; } 2>/dev/null || true)
        # Prefer the big database's dump: it is the one surely still running.
        if [[ $cmd == *big* ]] || [ "$i" -gt 40 ]; then
            if kill -9 "$c" 2>/dev/null; then killed="$c $cmd"; fi
        fi
    done
    [ -n "$killed" ] || sleep 0.05
done
[ -n "$killed" ] || { wait "$pid" || true; fail "found no running pg_dump child of pgtier to kill"; }
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -ne 0 ] || { cat "$WORK/kill-dump.out" "$WORK/kill-dump.err" >&2; fail "pgtier exited 0 although its pg_dump ($killed) was killed"; }
[ "$rc" -eq 1 ] || { tail "$WORK/kill-dump.err" >&2; fail "pgtier exited $rc after its pg_dump was killed (contract: 1 on failure)"; }
grep -qi 'pg_dump' "$WORK/kill-dump.err" || { tail "$WORK/kill-dump.err" >&2; fail "the error does not mention pg_dump"; }
check_untouched "kill -9 of pg_dump"
pass "kill -9 of pg_dump: pgtier exits $rc ($(grep -i pg_dump "$WORK/kill-dump.err" | tail -n1 | cut -c1-160)), nothing published"
# That run was alive: it must not leave its own partial behind (and it swept the older ones at start).
[ -z "$(partials "$B")" ] || fail "partial files left after a failed (not killed) run: $(partials "$B")"
pass "the failed run removed its partial and swept those of the killed runs"

# ---- an archive-looking file without manifest is not a published archive -------------------------------
CUT="$B/incremental/$(date -u +%Y%m%d)_000000_incremental.sql.bz2"
cp "$I1" "$CUT"
(cd "$B/incremental" && sha256sum "$(basename "$CUT")" >"$(basename "$CUT").sha256")
run_pgtier list-cut --dir "$B" list
expect_rc list-cut 0 "list"
if grep -F "$(basename "$CUT")" "$WORK/list-cut.out" | grep -qw complete; then
    fail_run list-cut "list shows an archive without manifest as complete"
fi
run_pgtier list-cut-json --dir "$B" list --json
jq -e --arg n "$(basename "$CUT")" '[.archives[] | select(.name == $n and .state == "complete")] | length == 0' "$WORK/list-cut-json.out" >/dev/null \
    || fail_run list-cut-json "list --json calls an archive without manifest complete"
pass "an archive without manifest is not listed as complete"
rm -f "$CUT" "$CUT.sha256"

# A kill -9 during a full once more, so there is a fresh partial to sweep.
start_pgtier kill-full2 --dir "$B" backup full --force
await_partial "$BG_PID" kill-full2 "$B" full
kill9 "$BG_PID"
[ -n "$(partials "$B")" ] || fail "expected a partial left by kill -9"
# Files pgtier did not make are never touched.
echo "operator notes" >"$B/full/NOTES.txt"
cp "$F1" "$B/full/my-own-dump.sql.bz2"

# ---- the next run sweeps and succeeds ----------------------------------------------------------------
sleep 1 # a new second for the new archive's name
run_pgtier final --dir "$B" backup full
expect_rc final 0 "backup full after the crashes"
F2=$(new_archive "$B" full "$F1")
check_archive "$F2" full
[ "$(readlink -f "$B/full/latest_full.sql.bz2")" = "$(readlink -f "$F2")" ] || fail "latest_full does not point to the new full"
[ -z "$(partials "$B")" ] || fail "partial files left after a successful run: $(partials "$B")"
grep -qi 'partial' "$WORK/final.err" || fail_run final "the log does not say that a partial file was swept"
[ "$(cat "$B/full/NOTES.txt")" = "operator notes" ] && cmp -s "$F1" "$B/full/my-own-dump.sql.bz2" || fail "a file pgtier did not make was changed"
[ "$(sha256sum <"$F1")" = "$f1_sum" ] && [ "$(sha256sum <"$I1")" = "$i1_sum" ] || fail "an older archive changed"
pass "the next full succeeded ($(basename "$F2")), swept the partials, kept foreign files"

run_pgtier verify --dir "$B" verify
expect_rc verify 0 "verify after the crashes"
for a in "$F1" "$I1" "$F2"; do grep -qE "^OK .*$(basename "$a")" "$WORK/verify.out" || fail_run verify "verify does not report OK for $(basename "$a")"; done
pass "verify: every published archive OK"

# ---- a change committed while a dump runs is not in that dump, so the next run must take it ---------
# (the fingerprint must describe the state the dump started from, not the state after it)
psql_db big -c "INSERT INTO bigt VALUES (-1, 'before', '', now())"
settle
before=$(archives "$B" incremental)
start_pgtier mid --dir "$B" backup incr
pid=$BG_PID
await_partial "$pid" mid "$B" incremental 1048576
psql_db big -c "INSERT INTO bigt VALUES (-2, 'marker-during-dump-9d4', '', now())"
kill -0 "$pid" 2>/dev/null || fail "the incremental finished before the concurrent change was committed (more data: CRASH_ROWS)"
wait "$pid" || { cat "$WORK/mid.err" >&2; fail "the incremental with a concurrent change failed"; }
MID=$(new_archive "$B" incremental "$before")
check_archive "$MID" incremental
bz_contains "$MID" "marker-during-dump-9d4" && fail "setup: the change committed during the dump is in that dump"
settle
run_pgtier after-mid --dir "$B" backup incr
expect_rc after-mid 0 "incr after a change made during the previous dump"
grep -qi skipped "$WORK/after-mid.out" && fail_run after-mid "incr skipped: the change committed during the previous dump is lost"
AFTER=$(new_archive "$B" incremental "$(printf '%s\n' "$before" "$MID")")
manifest_dbs "$AFTER" | grep -qx big || fail "$(basename "$AFTER") lacks big"
bz_contains "$AFTER" "marker-during-dump-9d4" || fail "$(basename "$AFTER") lacks the change made during the previous dump"
pass "a change committed during a dump is taken by the next incremental ($(basename "$AFTER"))"
