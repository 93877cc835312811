#!/usr/bin/env bash
# Manifests are untrusted text. A database named with a terminal escape and a line feed
# ("a<ESC>[2Jb<LF>FAKE LINE", forged into a manifest) is printed escaped by every text output
# (`restore list-databases`, `restore plan`, `list`, `verify`): no raw ESC and no extra line; the
# JSON output keeps the exact name. A manifest dated in the year 2900 is shown as such and kept
# by retention as dated in the future (it once wrapped past 2262 and was deleted as ancient);
# `prune --at` outside 1970..2999 is refused (exit 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
export TZ=UTC

start_source_cluster
for db in alpha beta; do make_table_db "$db" 50; done
settle
take_backup f1 full --force
F1=$ARCHIVE
take_backup f2 full --force
F2=$ARCHIVE
take_backup f3 full --force
F3=$ARCHIVE
ESC=$'\e'
ODD=$'a\e[2Jb\nFAKE LINE'
ODD_SHOWN='a\x1b[2Jb\nFAKE LINE'

# edit_manifest ARCHIVE JQ-ARGS... — rewrite ARCHIVE's manifest with jq
edit_manifest() {
    local m="$1.json"
    shift
    jq "$@" "$m" >"$WORK/m.json"
    cat "$WORK/m.json" >"$m"
}
# clean_text TAG FILE — FILE (an output of run TAG) holds no raw ESC and no line of the name's tail
clean_text() {
    ! grep -q "$ESC" "$2" || fail_run "$1" "a raw ESC in $(basename "$2")"
    ! grep -q '^FAKE LINE' "$2" || fail_run "$1" "the name's line feed made a line of its own in $(basename "$2")"
    grep -qF "$ODD_SHOWN" "$2" || fail_run "$1" "$(basename "$2") does not show the name escaped ($ODD_SHOWN)"
}

# ---- a database name with ESC and LF, in the newest full's manifest ---------------------------------
# shellcheck disable=SC2016  # $n is jq's
edit_manifest "$F3" --arg n "$ODD" '(.sections[] | select(.database == "alpha") | .database) = $n
    | (.fingerprint.databases[] | select(.name == "alpha") | .name) = $n'
[ "$(jq -r --arg n "$ODD" '[.sections[].database] | index($n) != null' "$F3.json")" = true ] || fail "setup: the name was not forged"

run_pgtier ldb --dir "$B" restore list-databases "$F3"
expect_rc ldb 0 "restore list-databases"
clean_text ldb "$WORK/ldb.out"
run_pgtier ldbjson --dir "$B" restore list-databases "$F3" --json
expect_rc ldbjson 0 "restore list-databases --json"
[ "$(jq -r --arg n "$ODD" '.databases | map(.database) | index($n) != null' "$WORK/ldbjson.out")" = true ] || fail_run ldbjson "the JSON output does not hold the exact name"
pass "restore list-databases: the name shown as $ODD_SHOWN, no ESC, no extra line; JSON exact"

run_pgtier plan --dir "$B" restore plan
expect_rc plan 0 "restore plan"
clean_text plan "$WORK/plan.out"
grep -qF "database \"$ODD_SHOWN\" from full/$(basename "$F3")" "$WORK/plan.out" || fail_run plan "no plan line for the forged name"
pass "restore plan: $(grep -F "$ODD_SHOWN" "$WORK/plan.out")"

run_pgtier ver --dir "$B" verify "$F3"
expect_rc ver 1 "verify of the relabelled archive"
clean_text ver "$WORK/ver.out"
[ "$(wc -l <"$WORK/ver.out")" = 1 ] || fail_run ver "verify printed more than its one line"
pass "verify: one FAILED line, the name escaped"

# An archive whose manifest names another (forged) archive: `list` and `verify` print why.
FOREIGN="$B/full/20200101_000000_full.sql.bz2"
cp "$F2" "$FOREIGN"
(cd "$B/full" && sha256sum "$(basename "$FOREIGN")" >"$FOREIGN.sha256")
jq --arg n "$ODD" '.name = $n' "$F2.json" >"$FOREIGN.json"
run_pgtier list --dir "$B" list
expect_rc list 0 "list"
clean_text list "$WORK/list.out"
run_pgtier verall --dir "$B" verify
expect_rc verall 1 "verify of all (one relabelled, one foreign)"
clean_text verall "$WORK/verall.out"
[ "$(grep -c '^FAILED ' "$WORK/verall.out")" = 2 ] || fail_run verall "expected two FAILED lines"
[ "$(grep -vc '^FAILED \|^OK ' "$WORK/verall.out")" = 0 ] || fail_run verall "a line that is neither OK nor FAILED"
pass "list and verify of a foreign manifest naming \"$ODD_SHOWN\": escaped"
rm -f "$FOREIGN" "$FOREIGN.sha256" "$FOREIGN.json"

# ---- a manifest dated in the year 2900 --------------------------------------------------------------
FUTURE=2900-01-01T00:00:00.000000Z
# shellcheck disable=SC2016  # $t is jq's
edit_manifest "$F1" --arg t "$FUTURE" '.started_at = $t | .finished_at = $t'
run_pgtier list2 --dir "$B" list
expect_rc list2 0 "list"
grep -E "^full +2900-01-01T00:00:00Z .* full/$(basename "$F1")$" "$WORK/list2.out" >/dev/null || fail_run list2 "list does not show $(basename "$F1") as started in 2900"
run_pgtier dry --dir "$B" prune --dry-run
expect_rc dry 0 "prune --dry-run"
grep -Eq "^keep +full +$(basename "$F1") +dated in the future \(${FUTURE%.000000Z}Z\)" "$WORK/dry.out" || fail_run dry "the archive dated 2900 is not kept as dated in the future"
pass "dated 2900: list shows 2900, prune --dry-run keeps it as dated in the future"
for at in 9999-01-01T00:00:00Z 3000-01-01T00:00:00Z 1969-12-31T23:59:59Z 0001-01-01T00:00:00Z; do
    run_pgtier "at$at" --dir "$B" prune --dry-run --at "$at"
    expect_rc "at$at" 2 "prune --dry-run --at $at"
    grep -qF -- "--at '$at' is outside the times retention decides at" "$WORK/at$at.err" || fail_run "at$at" "the refusal does not name --at $at"
    [ ! -s "$WORK/at$at.out" ] || fail_run "at$at" "a refused --at printed decisions"
done
run_pgtier at2999 --dir "$B" prune --dry-run --at 2999-12-31T00:00:00Z
expect_rc at2999 0 "prune --dry-run --at 2999-12-31"
pass "prune --at 9999, 3000, 1969, 0001: exit 2; 2999-12-31 decides"
run_pgtier prune --dir "$B" prune
expect_rc prune 0 "prune"
for f in "$F1" "$F1.sha256" "$F1.json"; do [ -f "$f" ] || fail_run prune "prune deleted $(basename "$f") of the archive dated 2900"; done
pass "prune keeps the archive dated 2900"
