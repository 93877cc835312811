#!/usr/bin/env bash
# Issue 11: `pgtier verify` judges every section of an archive on its own bytes. After one
# corrupt section the later, intact sections are reported intact (they were all blamed with a
# "SHA-256 mismatch"), and a manifest with wrong offsets or lengths gets messages that are true
# (it said "archive is truncated: N bytes, manifest says N").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start vs
psql_q -d postgres -c "CREATE DATABASE a" -c "CREATE DATABASE b" -c "CREATE DATABASE c"
for db in a b c; do
    psql_db "$db" -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g"
done
B="$WORK/backups"
run_pgtier full --dir "$B" backup full
expect_rc full 0 "full"
A=$(archives "$B" full)
check_archive "$A" full
N=$(basename "$A")
LABELS=$(jq -r '.sections[] | if .kind == "globals" then "globals" else "database \"\(.database)\"" end' "$A.json")
[ "$(printf '%s\n' "$LABELS" | wc -l)" -ge 5 ] || fail "expected globals and at least 4 database sections: $LABELS"

# copy NAME — a copy of the archive, its sidecar and manifest in $WORK/NAME/full; prints its path
copy() {
    mkdir -p "$WORK/$1/full"
    cp "$A" "$A.sha256" "$A.json" "$WORK/$1/full/"
    echo "$WORK/$1/full/$N"
}
flip() { # FILE OFFSET — invert one byte in place
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
    # shellcheck disable=SC2059  # the format is the octal escape of the byte to write
    printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}
# section_field DB FIELD — a field of database DB's section in the original manifest
section_field() { jq -r --arg db "$1" ".sections[] | select(.database == \$db) | .$2" "$A.json"; }
# edit_manifest PATH JQ_FILTER — rewrite a copy's manifest
edit_manifest() { jq "$2" "$1.json" >"$1.json.new" && mv "$1.json.new" "$1.json"; }
# intact TAG — the sections the FAILED line lists as intact, one per line
intact() { sed -n 's/^FAILED .*\[intact: \(.*\)\]$/\1/p' "$WORK/$1.out" | sed 's/, /\n/g'; }
# no_false_sizes TAG — no "X bytes, manifest says X" with equal numbers (a message that is untrue)
no_false_sizes() {
    local x y
    while read -r x y; do
        [ "$x" != "$y" ] || fail_run "$1" "untrue message: '$x bytes, manifest says $y'"
    done < <(grep -oE '[0-9]+ bytes, manifest says [0-9]+' "$WORK/$1.out" | sed 's/ bytes, manifest says / /' || true)
}

# ---- one corrupt section: only it is blamed ----------------------------------------------------------
X=$(copy onebad)
off=$(section_field b offset)
len=$(section_field b length)
flip "$X" $((off + len / 2))
run_pgtier onebad --dir "$WORK/none" verify "$X"
[ "$RC" -eq 1 ] || fail_run onebad "verify of an archive with a corrupt section: exit $RC (want 1)"
grep -qE "^FAILED .*$N" "$WORK/onebad.out" || fail_run onebad "no FAILED line"
grep -qF 'section database "b": ' "$WORK/onebad.out" || fail_run onebad "the corrupt section b is not named"
while IFS= read -r label; do
    [ "$label" = 'database "b"' ] && continue
    grep -qF "section $label:" "$WORK/onebad.out" && fail_run onebad "intact section $label is blamed"
done <<<"$LABELS"
while IFS= read -r label; do
    [ "$label" = 'database "b"' ] && continue
    intact onebad | grep -qxF "$label" || fail_run onebad "intact section $label is not listed as intact"
done <<<"$LABELS"
intact onebad | grep -qxF 'database "b"' && fail_run onebad "the corrupt section b is listed as intact"
no_false_sizes onebad
pass "one corrupt section: only it is blamed, the others are intact: $(cut -c1-300 "$WORK/onebad.out")"

# The first section corrupt too (globals): still every other section intact.
X=$(copy twobad)
flip "$X" $((off + len / 2))
flip "$X" 20
run_pgtier twobad --dir "$WORK/none" verify "$X"
[ "$RC" -eq 1 ] || fail_run twobad "exit $RC (want 1)"
[ "$(intact twobad | wc -l)" -eq $(($(printf '%s\n' "$LABELS" | wc -l) - 2)) ] || fail_run twobad "want all but two sections intact"
pass "two corrupt sections: the other $(intact twobad | wc -l) intact"

# ---- wrong offsets in the manifest: true messages ----------------------------------------------------
# Section c's offset moved by 100 bytes: a 100-byte gap, c decodes from the middle of a stream, and
# the section after c (if any) overlaps it. The file itself is intact.
X=$(copy shifted)
coff=$(section_field c offset)
edit_manifest "$X" '(.sections[] | select(.database == "c") | .offset) |= . + 100'
run_pgtier shifted --dir "$WORK/none" verify "$X"
[ "$RC" -eq 1 ] || fail_run shifted "verify with a shifted section offset: exit $RC (want 1)"
no_false_sizes shifted
grep -qF "truncated" "$WORK/shifted.out" && fail_run shifted "reports truncation of a file that has its full size"
grep -qF "100 bytes at offset $coff belong to no section of the manifest" "$WORK/shifted.out" || fail_run shifted "the gap is not reported as found"
grep -qF 'section database "c"' "$WORK/shifted.out" || fail_run shifted "section c is not named"
grep -qF "does not match the sidecar" "$WORK/shifted.out" && fail_run shifted "blames the file, which matches its sidecar"
[ "$(grep -o 'belong to no section' "$WORK/shifted.out" | wc -l)" = 1 ] || fail_run shifted "bytes that a section covers are said to belong to none"
while IFS= read -r label; do
    [ "$label" = 'database "c"' ] && continue
    intact shifted | grep -qxF "$label" || fail_run shifted "$label, whose bytes are untouched, is not listed as intact"
done <<<"$LABELS"
intact shifted | grep -qxF 'database "c"' && fail_run shifted "the moved section c is listed as intact"
pass "a moved section offset: $(cut -c1-600 "$WORK/shifted.out")"

# Section a's length 10 bytes short: a 10-byte gap after it, a ends inside its bzip2 stream.
X=$(copy short)
aoff=$(section_field a offset)
alen=$(section_field a length)
edit_manifest "$X" '(.sections[] | select(.database == "a") | .length) |= . - 10'
run_pgtier short --dir "$WORK/none" verify "$X"
[ "$RC" -eq 1 ] || fail_run short "verify with a short section length: exit $RC (want 1)"
no_false_sizes short
grep -qF "truncated" "$WORK/short.out" && fail_run short "reports truncation of a file that has its full size"
grep -qF "10 bytes at offset $((aoff + alen - 10)) belong to no section of the manifest" "$WORK/short.out" || fail_run short "the gap is not reported"
grep -qF 'section database "a": ' "$WORK/short.out" || fail_run short "section a is not named"
for label in 'database "b"' 'database "c"'; do
    intact short | grep -qxF "$label" || fail_run short "$label is not listed as intact"
done
pass "a short section length: $(cut -c1-400 "$WORK/short.out")"

# A manifest size larger than the file (the file intact): the numbers differ and are both given.
X=$(copy size)
size=$(stat -c %s "$X")
edit_manifest "$X" '.compressed_size |= . + 5'
run_pgtier size --dir "$WORK/none" verify "$X"
[ "$RC" -eq 1 ] || fail_run size "exit $RC (want 1)"
no_false_sizes size
grep -qF "archive is truncated: $size bytes, manifest says $((size + 5))" "$WORK/size.out" || fail_run size "the sizes are not reported"
pass "a manifest size 5 bytes too large: $(cut -c1-300 "$WORK/size.out")"

# The untouched original is still OK.
run_pgtier ok --dir "$B" verify "$N"
expect_rc ok 0 "verify of the intact original"
grep -qE "^OK .*$N" "$WORK/ok.out" || fail_run ok "no OK line"
pass "the original is OK"
