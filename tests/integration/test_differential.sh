#!/usr/bin/env bash
# Issue 2, test 3 (docs/design.md, Overview): with no full present, diff and incr take a full; a
# differential is skipped when nothing changed since the newest full and taken otherwise, with
# globals and every database; --force takes it anyway; `list` shows the archives newest first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start df
pg_quiet
for db in alpha beta "gam ma"; do
    psql_q -d postgres -c "CREATE DATABASE \"$db\""
    psql_db "$db" -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g"
done
settle
mapfile -t ALL_DBS < <(db_list)

# ---- no full present: diff and incr each take a full ----------------------------------------------
for kind in diff incr; do
    D="$WORK/empty-$kind"
    run_pgtier "first-$kind" --dir "$D" backup "$kind"
    expect_rc "first-$kind" 0 "backup $kind into an empty folder"
    A=$(new_archive "$D" full "")
    check_archive "$A" full
    [ "$(count_archives "$D" differential)" = 0 ] || fail "backup $kind with no full wrote a differential as well"
    [ "$(count_archives "$D" incremental)" = 0 ] || fail "backup $kind with no full wrote an incremental as well"
    diff <(printf '%s\n' "${ALL_DBS[@]}") <(manifest_dbs "$A") >/dev/null || fail "the full taken by backup $kind lacks databases"
    manifest_has_globals "$A" || fail "the full taken by backup $kind has no globals"
    grep -qF "$(basename "$A")" "$WORK/first-$kind.out" || fail_run "first-$kind" "result line does not name $(basename "$A")"
    pass "backup $kind with no full present took a full: $(result_line "first-$kind")"
done
# The long names work too.
run_pgtier first-long --dir "$WORK/empty-long" backup differential
expect_rc first-long 0 "backup differential into an empty folder"
[ "$(count_archives "$WORK/empty-long" full)" = 1 ] || fail "backup differential with no full did not take a full"
run_pgtier first-long-i --dir "$WORK/empty-long-i" backup incremental
expect_rc first-long-i 0 "backup incremental into an empty folder"
[ "$(count_archives "$WORK/empty-long-i" full)" = 1 ] || fail "backup incremental with no full did not take a full"
pass "'differential' and 'incremental' are accepted as type names"

# ---- differential skipped / forced / taken ---------------------------------------------------------
B="$WORK/empty-diff" # holds one full now
FULL1=$(archives "$B" full)
settle
tree_state "$B" >"$WORK/s1"
run_pgtier nochange-diff --dir "$B" backup diff
expect_rc nochange-diff 0 "backup diff with nothing changed"
grep -qi skipped "$WORK/nochange-diff.out" || fail_run nochange-diff "backup diff did not skip although nothing changed since the full"
tree_state "$B" >"$WORK/s2"
diff "$WORK/s1" "$WORK/s2" >&2 || fail "a skipped differential changed the backup folder"
[ -d "$B/differential" ] && [ "$(count_archives "$B" differential)" != 0 ] && fail "a differential file appeared"
pass "backup diff with nothing changed since the full: $(result_line nochange-diff)"

run_pgtier forced-diff --dir "$B" backup diff --force
expect_rc forced-diff 0 "backup diff --force"
DIFF1=$(new_archive "$B" differential "")
check_archive "$DIFF1" differential
diff <(printf '%s\n' "${ALL_DBS[@]}") <(manifest_dbs "$DIFF1") >/dev/null || fail "forced differential lacks databases: $(manifest_dbs "$DIFF1" | tr '\n' ' ')"
manifest_has_globals "$DIFF1" || fail "forced differential has no globals section"
L="$B/differential/latest_differential.sql.bz2"
[ -L "$L" ] && [[ $(readlink "$L") != /* ]] && [ "$(readlink -f "$L")" = "$(readlink -f "$DIFF1")" ] \
    || fail "latest_differential.sql.bz2 is not a relative link to $(basename "$DIFF1")"
pass "backup diff --force with nothing changed wrote $(basename "$DIFF1") (globals + all databases)"

run_pgtier forced-incr --dir "$B" backup incr --force
expect_rc forced-incr 0 "backup incr --force"
INCR1=$(new_archive "$B" incremental "")
check_archive "$INCR1" incremental
pass "backup incr --force with nothing changed wrote $(basename "$INCR1")"

# A full is always taken, change or not.
run_pgtier nochange-full --dir "$B" backup full
expect_rc nochange-full 0 "backup full with nothing changed"
FULL2=$(new_archive "$B" full "$FULL1")
check_archive "$FULL2" full
[ "$(readlink -f "$B/full/latest_full.sql.bz2")" = "$(readlink -f "$FULL2")" ] || fail "latest_full does not point to the newest full"
pass "backup full with nothing changed still wrote $(basename "$FULL2")"

settle
run_pgtier nochange-diff2 --dir "$B" backup diff
expect_rc nochange-diff2 0 "backup diff after a new full"
grep -qi skipped "$WORK/nochange-diff2.out" || fail_run nochange-diff2 "backup diff did not skip (nothing changed since the newest full)"

# A change in one database: the differential holds globals and every database.
psql_db beta -c "INSERT INTO t VALUES (999, 'marker-diff-5e2')"
settle
run_pgtier change-diff --dir "$B" backup diff
expect_rc change-diff 0 "backup diff after a change"
grep -qi skipped "$WORK/change-diff.out" && fail_run change-diff "backup diff skipped although beta changed"
DIFF2=$(new_archive "$B" differential "$DIFF1")
check_archive "$DIFF2" differential
diff <(printf '%s\n' "${ALL_DBS[@]}") <(manifest_dbs "$DIFF2") >/dev/null || fail "differential lacks databases: $(manifest_dbs "$DIFF2" | tr '\n' ' ')"
manifest_has_globals "$DIFF2" || fail "differential has no globals section"
bz_contains "$DIFF2" marker-diff-5e2 || fail "differential does not contain the change"
[ "$(readlink -f "$B/differential/latest_differential.sql.bz2")" = "$(readlink -f "$DIFF2")" ] || fail "latest_differential not repointed"
pass "after a change, backup diff wrote $(basename "$DIFF2") with globals + all ${#ALL_DBS[@]} databases"

# A change taken by an incremental is still a change since the newest full: the next diff is taken.
psql_db alpha -c "INSERT INTO t VALUES (998, 'marker-incr-5e2')"
settle
run_pgtier incr-before-diff --dir "$B" backup incr
expect_rc incr-before-diff 0 "backup incr after a change"
INCR2=$(new_archive "$B" incremental "$INCR1")
expect_one() { diff <(echo "$2") <(manifest_dbs "$1") >/dev/null || fail "$(basename "$1") should hold only $2, has: $(manifest_dbs "$1" | tr '\n' ' ')"; }
expect_one "$INCR2" alpha
settle
run_pgtier diff-after-incr --dir "$B" backup diff
expect_rc diff-after-incr 0 "backup diff after an incremental"
grep -qi skipped "$WORK/diff-after-incr.out" && fail_run diff-after-incr "backup diff skipped: the cluster changed since the newest full (the change is in an incremental, not in a full)"
DIFF3=$(new_archive "$B" differential "$(printf '%s\n' "$DIFF1" "$DIFF2")")
check_archive "$DIFF3" differential
bz_contains "$DIFF3" marker-incr-5e2 || fail "the differential lacks the change taken earlier by an incremental"
pass "a change already in an incremental still makes the next diff ($(basename "$DIFF3")): diffs are against the newest full"

# The differential holds every database, so an incremental right after it has nothing to take.
settle
run_pgtier incr-after-diff --dir "$B" backup incr
expect_rc incr-after-diff 0 "backup incr after a differential"
grep -qi skipped "$WORK/incr-after-diff.out" || fail_run incr-after-diff "incr after a differential did not skip"
pass "incr right after the differential skips"

# A differential replays like a full.
pg_start df2
bzcat "$DIFF2" | psql -X -q -v ON_ERROR_STOP=1 -f - postgres >/dev/null 2>"$WORK/replay.err" \
    || { tail "$WORK/replay.err" >&2; fail "the differential does not replay into an empty cluster"; }
[ "$(psql_db beta -c "SELECT v FROM t WHERE id = 999")" = marker-diff-5e2 ] || fail "replayed differential lacks the change"
pg_use df
pass "the differential replays into an empty cluster with psql -v ON_ERROR_STOP=1"

# ---- list --------------------------------------------------------------------------------------
run_pgtier list --dir "$B" list
expect_rc list 0 "list"
mapfile -t ROWS < <(for a in $(archives "$B" full) $(archives "$B" differential) $(archives "$B" incremental); do
    printf '%s %s\n' "$(jq -r .started_at "$a.json")" "$(basename "$a")"
done | sort -r)
EXPECT=()
for row in "${ROWS[@]}"; do EXPECT+=("${row#* }"); done
[ "${#EXPECT[@]}" = 7 ] || fail "expected 7 archives in $B, found ${#EXPECT[@]}"
declare -A LINE=()
for name in "${EXPECT[@]}"; do
    ln=$(grep -nF "$name" "$WORK/list.out" | head -n1 | cut -d: -f1)
    [ -n "$ln" ] || fail_run list "list does not show $name"
    LINE[$name]=$ln
done
# Newest first (archives started in the same instant may come in either order).
for ((i = 0; i + 1 < ${#ROWS[@]}; i++)); do
    t1=${ROWS[i]%% *} t2=${ROWS[i + 1]%% *} n1=${ROWS[i]#* } n2=${ROWS[i + 1]#* }
    if [[ $t1 > $t2 ]] && [ "${LINE[$n1]}" -gt "${LINE[$n2]}" ]; then
        fail_run list "list is not newest first: $n1 ($t1, line ${LINE[$n1]}) is shown after $n2 ($t2, line ${LINE[$n2]})"
    fi
done
pass "list shows all ${#EXPECT[@]} archives, newest first"

run_pgtier listjson --dir "$B" list --json
expect_rc listjson 0 "list --json"
jq -e . "$WORK/listjson.out" >/dev/null || fail_run listjson "list --json is not valid JSON"
for name in "${EXPECT[@]}"; do
    jq -r '.. | strings' "$WORK/listjson.out" | grep -cF "$name" >/dev/null || fail_run listjson "list --json does not mention $name"
done
pass "list --json is valid JSON naming every archive"

# list needs no database connection (README.md, Inspection on the host).
pg_stop df
run_pgtier list-down --dir "$B" list
expect_rc list-down 0 "list with the server down"
for name in "${EXPECT[@]}"; do grep -qF "$name" "$WORK/list-down.out" || fail_run list-down "list (server down) lacks $name"; done
run_pgtier verify-down --dir "$B" verify
expect_rc verify-down 0 "verify with the server down"
pass "list and verify work with the server down"
