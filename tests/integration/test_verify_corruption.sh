#!/usr/bin/env bash
# Issue 2, test 7: `pgtier verify` checks the sidecar SHA-256 and decodes every section: an intact
# archive is OK (exit 0); a flipped byte, a truncated archive, a flipped byte whose sidecar was
# recomputed (only decoding can catch it) are each reported FAILED by name, exit 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start vf
psql_q -d postgres -c "CREATE DATABASE data" -c 'CREATE DATABASE "other db"'
# Several bzip2 blocks, so "the middle" is inside compressed data.
psql_db data -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a, md5((-g)::text) AS b FROM generate_series(1, 60000) g"
psql_db "other db" -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g"
B="$WORK/backups"

for i in 1 2 3 4 5; do
    run_pgtier "full$i" --dir "$B" backup full --force
    expect_rc "full$i" 0 "full $i"
done
mapfile -t A < <(archives "$B" full)
[ "${#A[@]}" = 5 ] || fail "expected 5 archives, have ${#A[@]}"
run_pgtier incr --dir "$B" backup incr --force
expect_rc incr 0 "incr --force"
INC=$(archives "$B" incremental)
for a in "${A[@]}" "$INC"; do check_archive "$a" "$(basename "$(dirname "$a")")"; done
n() { basename "$1"; }

# ---- all intact ------------------------------------------------------------------------------------
run_pgtier verify-ok --dir "$B" verify
expect_rc verify-ok 0 "verify of intact archives"
for a in "${A[@]}" "$INC"; do grep -qE "^OK +.*$(n "$a")" "$WORK/verify-ok.out" || fail_run verify-ok "no 'OK $(n "$a")' line"; done
[ "$(grep -c . "$WORK/verify-ok.out")" -ge 6 ] || fail_run verify-ok "fewer than 6 lines"
grep -q FAILED "$WORK/verify-ok.out" && fail_run verify-ok "FAILED although every archive is intact"
pass "verify (all): $(grep -c '^OK' "$WORK/verify-ok.out") x OK, exit 0"

# ---- corruptions ------------------------------------------------------------------------------------
flip() { # FILE OFFSET — invert one byte in place
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
    # shellcheck disable=SC2059  # the format is the octal escape of the byte to write
    printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}
FLIP=${A[0]}
TRUNC=${A[1]}
RESUM=${A[2]}
INTACT=${A[3]}
size=$(stat -c %s "$FLIP")
flip "$FLIP" $((size / 2))
! bzip2 -t "$FLIP" 2>/dev/null || fail "setup: the flipped archive still passes bzip2 -t"
size=$(stat -c %s "$TRUNC")
truncate -s $((size / 2)) "$TRUNC"
size=$(stat -c %s "$RESUM")
flip "$RESUM" $((size / 3))
(cd "$B/full" && sha256sum "$(n "$RESUM")" >"$(n "$RESUM").sha256")
! bzip2 -t "$RESUM" 2>/dev/null || fail "setup: the re-summed archive still passes bzip2 -t"
pass "corrupted: $(n "$FLIP") (byte flipped), $(n "$TRUNC") (truncated to half), $(n "$RESUM") (byte flipped, sidecar recomputed)"

run_pgtier verify-bad --dir "$B" verify
[ "$RC" -eq 1 ] || fail_run verify-bad "verify with corrupt archives: exit $RC (want 1)"
for a in "$FLIP" "$TRUNC" "$RESUM"; do
    grep -qE "^FAILED +.*$(n "$a")" "$WORK/verify-bad.out" || fail_run verify-bad "no 'FAILED $(n "$a")' line"
    grep -qE "^OK +.*$(n "$a")" "$WORK/verify-bad.out" && fail_run verify-bad "$(n "$a") reported OK"
done
for a in "$INTACT" "${A[4]}" "$INC"; do
    grep -qE "^OK +.*$(n "$a")" "$WORK/verify-bad.out" || fail_run verify-bad "intact $(n "$a") not reported OK"
done
pass "verify (all) -> exit 1: $(grep FAILED "$WORK/verify-bad.out" | cut -c1-150 | tr '\n' ';')"

# ---- naming one archive: by path, by name --------------------------------------------------------------
run_pgtier v-intact-path --dir "$B" verify "$INTACT"
expect_rc v-intact-path 0 "verify of one intact archive by path"
grep -qE "^OK +.*$(n "$INTACT")" "$WORK/v-intact-path.out" || fail_run v-intact-path "no OK line"
[ "$(grep -c . "$WORK/v-intact-path.out")" = 1 ] || fail_run v-intact-path "verify of one archive printed more than one line"
run_pgtier v-intact-name --dir "$B" verify "$(n "$INTACT")"
expect_rc v-intact-name 0 "verify of one intact archive by name"
run_pgtier v-flip-name --dir "$B" verify "$(n "$FLIP")"
[ "$RC" -eq 1 ] || fail_run v-flip-name "verify of the flipped archive by name: exit $RC (want 1)"
grep -qE "^FAILED +.*$(n "$FLIP")" "$WORK/v-flip-name.out" || fail_run v-flip-name "no FAILED line"
run_pgtier v-trunc-path --dir "$B" verify "$TRUNC"
[ "$RC" -eq 1 ] || fail_run v-trunc-path "verify of the truncated archive by path: exit $RC (want 1)"
grep -qE "^FAILED +.*$(n "$TRUNC")" "$WORK/v-trunc-path.out" || fail_run v-trunc-path "no FAILED line"
run_pgtier v-resum --dir "$B" verify "$RESUM"
[ "$RC" -eq 1 ] || fail_run v-resum "verify of a corrupt archive with a matching sidecar: exit $RC (want 1, decoding must catch it)"
run_pgtier v-mixed --dir "$B" verify "$INTACT" "$FLIP"
[ "$RC" -eq 1 ] || fail_run v-mixed "verify of one intact and one corrupt archive: exit $RC (want 1)"
grep -qE "^OK +.*$(n "$INTACT")" "$WORK/v-mixed.out" && grep -qE "^FAILED +.*$(n "$FLIP")" "$WORK/v-mixed.out" || fail_run v-mixed "want one OK and one FAILED line"
pass "verify ARCHIVE by path or name: OK -> 0, FAILED -> 1, both named"

# ---- a path outside the configured backup folder ------------------------------------------------------
mkdir -p "$WORK/copy/full"
cp "$INTACT" "$INTACT.sha256" "$INTACT.json" "$WORK/copy/full/"
run_pgtier v-copy --dir "$WORK/elsewhere" verify "$WORK/copy/full/$(n "$INTACT")"
expect_rc v-copy 0 "verify PATH of a copy outside the backup folder"
grep -qE "^OK +.*$(n "$INTACT")" "$WORK/v-copy.out" || fail_run v-copy "no OK line"
pass "verify PATH works for a copy outside the backup folder"

# An archive that is not there is an error too.
run_pgtier v-missing --dir "$B" verify 20000101_000000_full.sql.bz2
[ "$RC" -ne 0 ] || fail_run v-missing "verify of a missing archive exited 0"
pass "verify of a missing archive exits $RC"
