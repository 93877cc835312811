#!/usr/bin/env bash
# Issue 2, test 6: two backups at once are serialized by the advisory lock <dir>/.pgtier/lock:
# the second waits (and logs "waiting for lock"), both succeed with distinct, valid archives, and
# there is never more than one dump in progress.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start lk
pg_quiet
psql_q -d postgres -c "CREATE DATABASE data"
psql_db data -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((-g)::text) AS a FROM generate_series(1, ${LOCK_ROWS:-250000}) g"
settle
B="$WORK/backups"

# watch_partials PID... — the most .partial files seen at once while any PID runs.
watch_partials() {
    local max=0 n p alive
    while :; do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 1 ] || break
        # An archive's .partial, not the section spools of a parallel run (one run has several).
        n=$(partials "$B" | grep -vc '\.section-[0-9]*\.partial$' || true)
        [ "$n" -gt "$max" ] && max=$n
        sleep 0.02
    done
    echo "$max"
}

# ---- A holds the lock (its dump is running), then B starts ---------------------------------------
start_pgtier a --dir "$B" backup full --force
pa=$BG_PID
await_partial "$pa" a "$B" full
"$PGTIER" --dir "$B" backup full --force >"$WORK/b.out" 2>"$WORK/b.err" &
pb=$!
maxp=$(watch_partials "$pa" "$pb")
set +e
wait "$pa"
ra=$?
wait "$pb"
rb=$?
set -e
[ "$ra" -eq 0 ] || { cat "$WORK/a.out" "$WORK/a.err" >&2; fail "first backup exited $ra"; }
[ "$rb" -eq 0 ] || { cat "$WORK/b.out" "$WORK/b.err" >&2; fail "second backup exited $rb"; }
grep -qi 'waiting for lock' "$WORK/b.err" || { cat "$WORK/b.err" >&2; fail "the second backup did not log 'waiting for lock'"; }
[ "$maxp" -le 1 ] || fail "$maxp dumps were in progress at the same time"
mapfile -t FULLS < <(archives "$B" full)
[ "${#FULLS[@]}" = 2 ] || fail "expected 2 fulls, found ${#FULLS[@]}: ${FULLS[*]}"
[ "${FULLS[0]}" != "${FULLS[1]}" ] || fail "same name twice"
for a in "${FULLS[@]}"; do check_archive "$a" full; done
A=$(grep -oE '[0-9]{8}_[0-9]{6}(-[0-9]+)?_full\.sql\.bz2' "$WORK/a.out" | head -n1)
Bn=$(grep -oE '[0-9]{8}_[0-9]{6}(-[0-9]+)?_full\.sql\.bz2' "$WORK/b.out" | head -n1)
[ -n "$A" ] && [ -n "$Bn" ] && [ "$A" != "$Bn" ] || fail "result lines do not name two distinct archives: '$(cat "$WORK/a.out")' '$(cat "$WORK/b.out")'"
[ "$(readlink -f "$B/full/latest_full.sql.bz2")" = "$B/full/$Bn" ] || fail "latest_full does not point to the later archive $Bn"
pass "second backup waited for the lock ('$(grep -i 'waiting for lock' "$WORK/b.err" | head -n1 | cut -c1-120)'), both valid: $A, $Bn"

# ---- started together, three at once ----------------------------------------------------------------
for x in 1 2 3; do
    "$PGTIER" --dir "$B" backup full --force >"$WORK/t$x.out" 2>"$WORK/t$x.err" &
    eval "p$x=\$!"
done
# shellcheck disable=SC2154
maxp=$(watch_partials "$p1" "$p2" "$p3")
for x in 1 2 3; do
    pid_var="p$x"
    set +e
    wait "${!pid_var}"
    r=$?
    set -e
    [ "$r" -eq 0 ] || { cat "$WORK/t$x.out" "$WORK/t$x.err" >&2; fail "concurrent backup $x exited $r"; }
done
[ "$maxp" -le 1 ] || fail "$maxp dumps were in progress at the same time"
mapfile -t FULLS < <(archives "$B" full)
[ "${#FULLS[@]}" = 5 ] || fail "expected 5 fulls, found ${#FULLS[@]}"
[ "$(printf '%s\n' "${FULLS[@]}" | sort -u | wc -l)" = 5 ] || fail "duplicate names"
for a in "${FULLS[@]}"; do check_archive "$a" full; done
waits=$(cat "$WORK"/t?.err | grep -ci 'waiting for lock' || true)
[ "$waits" -ge 2 ] || fail "expected at least 2 of 3 simultaneous runs to log 'waiting for lock', saw $waits"
[ -z "$(partials "$B")" ] || fail "partials left: $(partials "$B")"
pass "three backups started together: all succeed, 5 distinct valid archives, never two dumps at once"

# ---- a skipped incremental also takes the lock, and does not disturb a running full ----------------------
start_pgtier c --dir "$B" backup full --force
pc=$BG_PID
await_partial "$pc" c "$B" full
run_pgtier incr-while --dir "$B" backup incr
expect_rc incr-while 0 "incr while a full runs"
kill -0 "$pc" 2>/dev/null && fail_run incr-while "backup incr returned while the full still held the lock"
wait "$pc" || fail "the full exited non-zero"
grep -qi 'waiting for lock' "$WORK/incr-while.err" || fail_run incr-while "incr did not wait for the lock"
pass "an incr started during a full waited for it ($(result_line incr-while))"
