#!/usr/bin/env bash
# Issue 15, part 1 (docs/design.md, Parallel dumps): `backup --jobs N` dumps several databases at
# once, each section compressed into its own spool file in the tier folder and appended to the
# archive in pg_dumpall order.
#  1. --jobs 1 and --jobs 4 of one cluster (odd names, unequal sizes): valid archives (bzip2 -t,
#     sha256sum -c, contiguous sections) with manifests of the same form, the same SQL section by
#     section, and both restore to the source's pg_dump output. --jobs 1 writes no spool.
#  2. kill -9 of pgtier with several dumps in flight publishes nothing; the next run removes the
#     spools it left and leaves none of its own.
#  3. one pg_dump failing while others are in flight fails the run at once: the others are
#     stopped (their pg_dump children gone while the locks they wait for are still held),
#     nothing is published, no spool is left.
#  4. a database dropped before its turn is recorded as dropped, as in a serial run.
# Deterministic: dumps are held "in flight" by table locks the test holds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_sample_cluster
# Unequal sizes, so that the start order (largest first) differs from the archive order.
make_table_db "big one" 150000
make_table_db mid 60000
make_table_db small-ish 20000
settle
mapfile -t SRC_DBS < <(db_list)

spools() { find "$B" -name '.*.section-*.partial' 2>/dev/null | sort; }
published() { tree_state "$B" | grep -v '/\.[^/]*$' || true; }

# hold_lock DB — ACCESS EXCLUSIVE on DB.t in a transaction open until release_locks: a pg_dump of
# DB waits (in flight, having written nothing) until then.
declare -a HOLDERS=() HOLDER_FDS=()
lock_held() { [ "$(psql_q -d postgres -v d="$1" <<<"SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = :'d' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -ge 1 ]; }
hold_lock() {
    local fifo fd
    fifo="$WORK/holder.${#HOLDERS[@]}.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    psql -X -q -d "$(_conninfo_db "$1")" <"$fifo" >/dev/null 2>&1 &
    HOLDERS+=("$!")
    kill_on_exit "$!"
    exec {fd}>"$fifo"
    HOLDER_FDS+=("$fd")
    echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;" >&"$fd"
    wait_until 10 lock_held "$1" || fail "setup: the lock on $1.t is not held"
}
release_locks() {
    local fd p
    for fd in "${HOLDER_FDS[@]}"; do
        echo "ROLLBACK;" >&"$fd"
        exec {fd}>&-
    done
    for p in "${HOLDERS[@]}"; do wait "$p" || true; done
    HOLDERS=()
    HOLDER_FDS=()
}
# Sessions of pg_dump waiting for a lock, one per line: "database pid".
waiting_dumps() { psql_q -d postgres -F ' ' -c "SELECT datname, pid FROM pg_stat_activity WHERE application_name LIKE 'pgtier-dump-%' AND wait_event_type = 'Lock' ORDER BY 1"; }
dumps_waiting() { [ "$(waiting_dumps | sed '/^$/d' | wc -l)" -ge "$1" ]; }
dump_sessions() { psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgtier-dump-%'"; }
no_dump_sessions() { [ "$(dump_sessions)" = 0 ]; }
pg_dump_children() {
    local c
    for c in $(descendants "$1"); do
        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = pg_dump ] && echo "$c"
    done
    return 0
}

# ---- 1. serial and parallel backups of the same cluster ------------------------------------------
t0=$(date +%s%N)
take_backup serial full --jobs 1
S=$ARCHIVE
serial_ms=$((($(date +%s%N) - t0) / 1000000))
check_archive "$S" full
grep -q 'at once' "$WORK/serial.err" && fail_run serial "--jobs 1 ran dumps at once"
sleep 1 # a new second for the next archive's name
t0=$(date +%s%N)
PGTIER_LOG_LEVEL=debug take_backup parallel full --force --jobs 4
P=$ARCHIVE
parallel_ms=$((($(date +%s%N) - t0) / 1000000))
check_archive "$P" full
n=$(jq '.sections | length' "$P.json")
grep -q "dumping $n sections, 4 at once" "$WORK/parallel.err" || fail_run parallel "the log does not say that 4 dumps ran at once"
[ -z "$(spools)" ] || fail "spool files left after a successful run: $(spools)"
# Started largest first (after the globals): the first database dump started is "big one".
first=$(grep -m1 -oE 'dumping database .* \([0-9]+ of [0-9]+ in the archive\)' "$WORK/parallel.err" || true)
[[ $first == "dumping database big one ("* ]] || fail_run parallel "the first database dump started is not the largest: '$first'"
pass "--jobs 1 in $serial_ms ms, --jobs 4 in $parallel_ms ms; the parallel run started 'big one' first"

form() { jq -c '{sections: [.sections[] | {kind, database, uncompressed_length}], dropped: (.dropped // []), uncompressed_size}' "$1.json"; }
[ "$(form "$S")" = "$(form "$P")" ] || fail "the manifests differ in form:
serial:   $(form "$S")
parallel: $(form "$P")"
diff <(printf '%s\n' "${SRC_DBS[@]}") <(manifest_dbs "$P") >&2 || fail "the parallel archive's databases differ from the cluster's"
pass "manifests of the same form: $n sections in pg_dumpall order, same kinds, databases and uncompressed lengths"

# Section by section the same SQL (pg_dump's \restrict key is random per run).
section_sql() { # ARCHIVE INDEX
    local off len
    read -r off len < <(jq -r --argjson i "$2" '.sections[$i] | "\(.offset) \(.length)"' "$1.json")
    dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | bzip2 -dc | strip_restrict
}
for ((i = 0; i < n; i++)); do
    cmp -s <(section_sql "$S" "$i") <(section_sql "$P" "$i") \
        || fail "section $i ($(jq -r --argjson i "$i" '.sections[$i].database // "globals"' "$P.json")) differs between the serial and the parallel archive"
done
pass "each of the $n sections holds the same SQL in both archives"

# Byte for byte: with pg_dump's random \restrict lines filtered out (a stand-in pg_dump and
# pg_dumpall on PATH) two dumps of the same data are the same, and so are the two archives.
mkdir -p "$WORK/bin"
for prog in pg_dump pg_dumpall; do
    printf '#!/bin/bash\nset -o pipefail\n%q "$@" | grep -Ev %q\n' "$(command -v "$prog")" '^\\(un)?restrict ' >"$WORK/bin/$prog"
    chmod 755 "$WORK/bin/$prog"
done
sleep 1
PATH="$WORK/bin:$PATH" take_backup det1 full --force --jobs 1
D1=$ARCHIVE
sleep 1
PATH="$WORK/bin:$PATH" take_backup det4 full --force --jobs 4
D4=$ARCHIVE
check_archive "$D4" full
cmp "$D1" "$D4" || fail "with deterministic dumps the --jobs 4 archive differs from the --jobs 1 archive"
[ "$(jq -c '[.sections, .sha256, .compressed_size, .uncompressed_size]' "$D1.json")" = "$(jq -c '[.sections, .sha256, .compressed_size, .uncompressed_size]' "$D4.json")" ] \
    || fail "with deterministic dumps the manifests' sections (offsets, lengths, SHA-256) differ"
pass "with deterministic dumps the --jobs 4 archive is byte for byte the --jobs 1 archive ($(stat -c %s "$D4") bytes), same section offsets, lengths and SHA-256"

for tag in S P; do
    a=${!tag}
    pg_start "dst$tag"
    bzcat "$a" | psql -X -q -v ON_ERROR_STOP=1 -f - postgres >"$WORK/replay-$tag.out" 2>"$WORK/replay-$tag.err" \
        || { tail -n 20 "$WORK/replay-$tag.err" >&2; fail "replaying $(basename "$a") failed"; }
    compare_clusters src "dst$tag" "after replaying $(basename "$a")"
    pg_stop "dst$tag"
done
pg_use src
pass "both archives replay (bzcat | psql) to the source's pg_dump output, database by database"

# ---- 2. kill -9 of pgtier with several dumps in flight ------------------------------------------------
published >"$WORK/pub.before"
latest=$(readlink -f "$B/full/latest_full.sql.bz2")
hold_lock "big one"
hold_lock mid
start_pgtier kill --dir "$B" backup full --force --jobs 4
wait_until 60 dumps_waiting 2 || { cat "$WORK/kill.err" >&2; fail "two pg_dump children never waited on the locks"; }
[ "$(pg_dump_children "$BG_PID" | wc -l)" -ge 2 ] || fail "fewer than 2 pg_dump children in flight"
in_flight=$(spools | wc -l)
[ "$in_flight" -ge 2 ] || fail "expected spool files of the dumps in flight, have: $(spools)"
kill9 "$BG_PID"
# shellcheck disable=SC2086
check_orphans_gone $KILLED_KIDS
published >"$WORK/pub.after"
diff "$WORK/pub.before" "$WORK/pub.after" >&2 || fail "kill -9 changed files under final names (< before, > after)"
[ "$(readlink -f "$B/full/latest_full.sql.bz2")" = "$latest" ] || fail "latest_full moved"
release_locks
# (A backend waiting for a lock notices its client's death only once it has the lock.)
wait_until 10 no_dump_sessions || fail "pg_dump sessions still on the server after kill -9 of pgtier"
pass "kill -9 with $(wc -l <<<"$KILLED_KIDS") processes below pgtier (2 pg_dump waiting), $in_flight spools: nothing published"

sleep 1
take_backup after-kill full --force --jobs 4
check_archive "$ARCHIVE" full
grep -q 'section-.*left by an interrupted run' "$WORK/after-kill.err" || fail_run after-kill "the next run does not say it removed the spools"
[ -z "$(spools)" ] && [ -z "$(partials "$B")" ] || fail "spool or partial files left after the next run: $(partials "$B")"
pass "the next run removed the $in_flight spools and the partial, published $(basename "$ARCHIVE"), left none"

# ---- 3. one failing pg_dump stops the others ---------------------------------------------------------
published >"$WORK/pub.before"
hold_lock "big one"
hold_lock mid
hold_lock small-ish
start_pgtier fail --dir "$B" backup full --force --jobs 3
pid=$BG_PID
kill_on_exit "$pid"
wait_until 60 dumps_waiting 3 || { cat "$WORK/fail.err" >&2; fail "three pg_dump children never waited on the locks"; }
mapfile -t KIDS < <(pg_dump_children "$pid")
[ "${#KIDS[@]}" -ge 3 ] || fail "expected 3 pg_dump children in flight, have ${#KIDS[@]}"
victim=$(waiting_dumps | awk '$1 == "mid" {print $2}')
[ -n "$victim" ] || fail "no waiting pg_dump session of mid"
psql_q -d postgres -c "SELECT pg_terminate_backend($victim)" >/dev/null
t0=$(date +%s%N)
for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$pid" 2>/dev/null && fail "pgtier still runs 10 s after one of its dumps failed (the others wait on locks still held)"
set +e
wait "$pid"
RC=$?
set -e
stop_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$RC" -eq 1 ] || fail_run fail "exit $RC after a failed pg_dump (want 1)"
grep -qE 'pg_dump failed for database mid' "$WORK/fail.err" || fail_run fail "the error does not name the failed dump of mid"
check_orphans_gone "${KIDS[@]}"
lock_held "big one" && lock_held small-ish || fail "setup: the locks were released early"
release_locks
wait_until 10 no_dump_sessions || fail "pg_dump sessions of the stopped dumps still on the server"
published >"$WORK/pub.after"
diff "$WORK/pub.before" "$WORK/pub.after" >&2 || fail "the failed run changed files under final names"
[ -z "$(partials "$B")" ] || fail "the failed run left partial or spool files: $(partials "$B")"
pass "a failed pg_dump (mid) ended the run in $stop_ms ms, exit 1, the 2 other dumps killed while still waiting, nothing published, no spool left"

# ---- 4. a database dropped before its turn -----------------------------------------------------------
psql_q -d postgres -c "CREATE DATABASE \"zz gone\""
settle
before=$(archives "$B" full)
hold_lock "big one"
hold_lock mid
start_pgtier drop --dir "$B" backup full --force --jobs 2
pid=$BG_PID
kill_on_exit "$pid"
# globals, then "big one" and mid (the largest) take both jobs and wait: "zz gone" has not started.
wait_until 60 dumps_waiting 2 || { cat "$WORK/drop.err" >&2; fail "two pg_dump children never waited on the locks"; }
psql_q -d postgres -c "DROP DATABASE \"zz gone\""
release_locks
set +e
wait "$pid"
RC=$?
set -e
expect_rc drop 0 "a full during which a waiting database was dropped"
D=$(new_archive "$B" full "$before")
check_archive "$D" full
jq -e '.dropped == ["zz gone"]' "$D.json" >/dev/null || fail "the manifest does not record 'zz gone' as dropped: $(jq -c .dropped "$D.json")"
diff <(printf '%s\n' "${SRC_DBS[@]}") <(manifest_dbs "$D") >&2 || fail "the archive's databases differ from the cluster's"
[ -z "$(spools)" ] || fail "spools left: $(spools)"
pass "a database dropped before its dump started: in the manifest's dropped list, the rest published"
