#!/usr/bin/env bash
# Offsite copies against a real S3 server (Ceph RADOS Gateway, lib_s3.sh), what the upload and
# remote deletion trust:
# - Upload checks the local file. Of three fulls taken before [offsite] is configured, one is
#   corrupted (a byte flipped, same size) before its first upload and another is replaced by a
#   hard link to a copy outside the backup directory (same bytes). `offsite sync` uploads the
#   sound one, exits 1 naming the corrupt archive (its SHA-256 computed while it was sent differs
#   from the manifest's) and the hard-linked one; neither has any object in the bucket, status
#   counts both pending. Once repaired, the next sync uploads them and verify --remote --deep
#   passes.
# - A remote deletion cut in the middle heals. Remote retention runs through a proxy
#   (tests/tools/fake_s3.py proxy) that closes the connection at the DELETE of the archive
#   object, after the manifest's: `prune --remote` fails, the bucket keeps the archive without
#   manifest (INCOMPLETE). The next `offsite sync` completes the deletion (no object of
#   it left) and leaves an old script's archive and sidecar (no manifest) untouched. The same
#   with the cut in `offsite sync`'s retention, healed by `prune --remote`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME
FAKE=$PGTIER_SOURCE_DIR/tests/tools/fake_s3.py

s3_start
pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g"
settle
B="$WORK/backups"
NOW=$(date -u +%s)
take F1 full --force
take F2 full --force
take F3 full --force
set_age F1 100
set_age F2 60
BUCKET=pgtier-integrity
PREFIX=site/x
s3_mb "$BUCKET"
export PGTIER_OFFSITE_URL="s3://$BUCKET/$PREFIX" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
    PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
# Remote retention keeps all three fulls while they go up (F1 is 100 days old).
export PGTIER_OFFSITE_FULL_DAYS=365
objects_of() { bucket_state | grep -F "/full/$(name "$1")" || true; }
pass "3 fulls, F1 aged 100 days and F2 60 days; gateway at $S3_ENDPOINT"

# ---- upload checks the local file --------------------------------------------------------------------
SIZE3=$(stat -c %s "${ARCH[F3]}")
cp "${ARCH[F3]}" "$WORK/F3.good"
flip_byte "${ARCH[F3]}" $((SIZE3 / 2))
[ "$(stat -c %s "${ARCH[F3]}")" = "$SIZE3" ] || fail "setup: the flip changed F3's size"
cp "${ARCH[F2]}" "$WORK/outside.bin"
rm "${ARCH[F2]}"
ln "$WORK/outside.bin" "${ARCH[F2]}"
[ "$(stat -c %h "${ARCH[F2]}")" = 2 ] || fail "setup: F2 is not a hard link"
run_pgtier bad --dir "$B" offsite sync
expect_rc bad 1 "offsite sync with a corrupt and a hard-linked archive"
grep -F "$(name F3)" "$WORK/bad.err" | grep -qF "is corrupt: the bytes sent have SHA-256" \
    || fail_run bad "the error does not name F3 as corrupt"
grep -F "$(name F2)" "$WORK/bad.err" | grep -qF "hard links" || fail_run bad "the error does not name F2's hard links"
[ "$(objects_of F1 | wc -l)" = 3 ] || fail "F1 is not complete in the bucket: $(bucket_state)"
[ -z "$(objects_of F3)" ] || fail "objects of the corrupt F3 are in the bucket: $(objects_of F3)"
[ -z "$(objects_of F2)" ] || fail "objects of the hard-linked F2 are in the bucket: $(objects_of F2)"
run_pgtier bad-st --dir "$B" status --json
jq -e '.offsite.pending == 2' "$WORK/bad-st.out" >/dev/null || fail_run bad-st "status: not 2 pending"
run_pgtier bad-lr --dir "$B" list --remote --json
[ "$(jq -r '[.archives[] | select(.state == "complete")] | map(.name) | join(" ")' "$WORK/bad-lr.out")" = "$(name F1)" ] \
    || fail_run bad-lr "list --remote: the complete archives are not just F1"
pass "sync: F1 up; F3 refused ($(grep -F 'is corrupt' "$WORK/bad.err" | head -n 1 | cut -c1-160)…), F2 refused (hard links); no object of either; 2 pending"

# repaired: F3's bytes back, F2 a file of its own again
cp "$WORK/F3.good" "${ARCH[F3]}"
cp "$WORK/outside.bin" "${ARCH[F2]}.copy"
mv "${ARCH[F2]}.copy" "${ARCH[F2]}"
run_pgtier good --dir "$B" offsite sync
expect_rc good 0 "offsite sync after the repair"
grep -qF ": 2 uploaded" "$WORK/good.out" || fail_run good "the sync did not upload 2"
bucket_matches_local
run_pgtier deep --dir "$B" verify --remote --deep
expect_rc deep 0 "verify --remote --deep"
pass "repaired: the next sync uploads F2 and F3; the bucket holds the local bytes; verify --remote --deep OK"

# ---- remote deletions cut in the middle -----------------------------------------------------------
OLD=20200101_000000_full.sql.bz2
echo "old script" | bzip2 >"$WORK/$OLD"
(cd "$WORK" && sha256sum "$OLD" >"$OLD.sha256")
s3_put "$BUCKET" "$PREFIX/full/$OLD" "$WORK/$OLD"
s3_put "$BUCKET" "$PREFIX/full/$OLD.sha256" "$WORK/$OLD.sha256"
# start_proxy ARCHIVE_NAME — a proxy to the gateway that cuts the DELETE of that archive object
start_proxy() {
    rm -f "$WORK/pport" "$WORK/pcount"
    python3 "$FAKE" proxy "$WORK/pport" "$WORK/pcount" "$S3_ENDPOINT" "^DELETE /$BUCKET/$PREFIX/full/$1\$" &
    PROXY=$!
    kill_on_exit "$PROXY"
    wait_until 10 test -s "$WORK/pport" || fail "the proxy did not start"
    PROXY_ENDPOINT="http://127.0.0.1:$(cat "$WORK/pport")"
}
stop_proxy() { kill "$PROXY" && wait "$PROXY" || true; }
# cut_state TAG KEY — after the cut: KEY's manifest is gone, its archive is still there (with
# its sidecar and the intent), and list --remote shows it INCOMPLETE
cut_state() {
    local n
    n=$(name "$2")
    objects_of "$2" >"$WORK/$1.objects"
    grep -q "/full/$n " "$WORK/$1.objects" && ! grep -q "/full/$n.json " "$WORK/$1.objects" \
        || fail "$1: not the state of a cut after the manifest's DELETE: $(cat "$WORK/$1.objects")"
    run_pgtier "$1-lr" --dir "$B" list --remote
    grep -Eq "INCOMPLETE +full/$n\$" "$WORK/$1-lr.out" || fail_run "$1-lr" "$2 is not INCOMPLETE in list --remote"
}
# healed TAG KEY — no object of KEY is left, the old script's two objects are, verify --remote
# fails for nothing else
healed() {
    [ -z "$(objects_of "$2")" ] || fail "$1: objects of $2 are left: $(objects_of "$2")"
    [ "$(bucket_state | grep -cF "/full/$OLD")" = 2 ] || fail "$1: the old script's objects were touched: $(bucket_state)"
    grep -qF "completed the interrupted deletion of s3://$BUCKET/$PREFIX/full/$(name "$2")" "$WORK/$1.err" \
        || fail_run "$1" "no log line for the completed deletion of $2"
    # verify --remote: the old script's archive (no manifest) is its only failure, KEY is gone
    run_pgtier "$1-vr" --dir "$B" verify --remote
    grep -qx "OK s3://$BUCKET/$PREFIX/full/$(name F3)" "$WORK/$1-vr.out" || fail_run "$1-vr" "verify --remote: F3 is not OK"
    if grep '^FAILED' "$WORK/$1-vr.out" | grep -v "/$OLD: " >&2 || grep -qF "$(name "$2")" "$WORK/$1-vr.out"; then
        fail_run "$1-vr" "verify --remote after the heal: a failure other than the old script's archive, or $2 still listed"
    fi
}

unset PGTIER_OFFSITE_FULL_DAYS # back to 42 days: remote retention deletes F1
start_proxy "$(name F1)"
PGTIER_OFFSITE_ENDPOINT=$PROXY_ENDPOINT run_pgtier cut1 --dir "$B" prune --remote
expect_rc cut1 1 "prune --remote with its connection cut"
stop_proxy
cut_state cut1 F1
run_pgtier heal1 --dir "$B" offsite sync
expect_rc heal1 0 "offsite sync after the cut prune --remote"
healed heal1 F1
[ -f "${ARCH[F1]}" ] || fail "the local F1 was deleted (only remote retention ran)"
pass "prune --remote cut at F1's archive DELETE: F1 INCOMPLETE in the bucket; the next offsite sync completed its deletion; the old script's objects untouched"

# The same in offsite sync's retention (remote min_full 1: F2 goes), healed by prune --remote.
export PGTIER_OFFSITE_MIN_FULL=1
start_proxy "$(name F2)"
PGTIER_OFFSITE_ENDPOINT=$PROXY_ENDPOINT run_pgtier cut2 --dir "$B" offsite sync
expect_rc cut2 1 "offsite sync with its connection cut in remote retention"
stop_proxy
cut_state cut2 F2
run_pgtier heal2 --dir "$B" prune --remote
expect_rc heal2 0 "prune --remote after the cut sync"
healed heal2 F2
[ "$(objects_of F3 | wc -l)" = 3 ] || fail "F3 is not complete in the bucket any more: $(bucket_state)"
pass "offsite sync cut at F2's archive DELETE: the next prune --remote completed its deletion; F3 and the old script's objects untouched"

pass "test_offsite_integrity in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
