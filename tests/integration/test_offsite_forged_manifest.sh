#!/usr/bin/env bash
# Offsite copies, forged manifests in the bucket (the archive object and its sidecar untouched, so
# the object's size and SHA-256 still match the manifest): `verify --remote` (shallow, nothing
# downloaded) checks the manifest's section table against the object — a section overlapping
# another, one running past the object's end — and `verify --remote --deep` reads each section's
# header, so labels swapped between two databases fail it (restore refuses such sections).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC

s3_start
BUCKET=pgtier-forged
PREFIX=site
s3_mb "$BUCKET"
export PGTIER_OFFSITE_URL="s3://$BUCKET/$PREFIX" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
    PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
pass "gateway up in ${S3_START_SECONDS}s at $S3_ENDPOINT"

start_source_cluster
for db in alpha beta; do make_table_db "$db" 200; done
settle
take_backup full full
NAME=$(basename "$ARCHIVE")
KEY="$PREFIX/full/$NAME"
URL="s3://$BUCKET/$KEY"
SIZE=$(stat -c %s "$ARCHIVE")
run_pgtier sync --dir "$B" offsite sync
expect_rc sync 0 "offsite sync"
s3_get "$BUCKET" "$KEY.json" "$WORK/original.json"
cmp -s "$WORK/original.json" "$ARCHIVE.json" || fail "setup: the manifest object differs from the local manifest"
# The archive is read from the bucket only.
rm -f "$ARCHIVE" "$ARCHIVE.sha256" "$ARCHIVE.json" "$B/full/latest_full.sql.bz2"

# verify_remote TAG WANT_RC [--deep] — verify --remote of the one archive; its line -> $LINE
verify_remote() {
    local tag=$1 want=$2
    shift 2
    run_pgtier "$tag" --dir "$B" verify --remote "$@"
    expect_rc "$tag" "$want" "verify --remote $* ($tag)"
    [ "$(wc -l <"$WORK/$tag.out")" = 1 ] || fail_run "$tag" "expected one line"
    LINE=$(cat "$WORK/$tag.out")
}
# forge TAG JQ-FILTER — the bucket's manifest replaced by the original edited by JQ-FILTER
forge() {
    jq "$2" "$WORK/original.json" >"$WORK/$1.json"
    ! cmp -s "$WORK/$1.json" "$WORK/original.json" || fail "setup: $1 changed nothing"
    s3_put "$BUCKET" "$KEY.json" "$WORK/$1.json"
}

verify_remote control 0
[ "$LINE" = "OK $URL" ] || fail_run control "expected 'OK $URL'"
verify_remote controldeep 0 --deep
[ "$LINE" = "OK $URL" ] || fail_run controldeep "expected 'OK $URL'"
pass "the untouched copy: verify --remote and --remote --deep OK (control)"

# ---- section tables that do not fit the object ----------------------------------------------------
N=$(jq '.sections | length' "$WORK/original.json")
[ "$N" -ge 3 ] || fail "setup: expected at least 3 sections, got $N"
LAST=$((N - 1))
forge overlap ".sections[$LAST].offset -= 7"
verify_remote overlap 1
[[ $LINE == "FAILED $URL: "* ]] || fail_run overlap "the FAILED line does not name $URL"
grep -qF "overlap" <<<"$LINE" || fail_run overlap "the FAILED line does not say that sections overlap: $LINE"
pass "a section moved 7 bytes into the one before: $(cut -c1-220 <<<"${LINE#FAILED "$URL": }")"

forge pastend ".sections[$LAST].length += 1000"
verify_remote pastend 1
grep -qF "the file ends at offset $SIZE, inside it" <<<"$LINE" || fail_run pastend "the FAILED line does not say the section runs past the object's $SIZE bytes: $LINE"
pass "the last section 1000 bytes past the object: $(cut -c1-220 <<<"${LINE#FAILED "$URL": }")"

forge gap ".sections[1].offset += 3 | .sections[1].length -= 3"
verify_remote gap 1
grep -qF "3 bytes at offset $(jq '.sections[1].offset' "$WORK/original.json") belong to no section" <<<"$LINE" || fail_run gap "the FAILED line does not name the 3 bytes no section holds: $LINE"
pass "3 bytes between two sections: $(cut -c1-220 <<<"${LINE#FAILED "$URL": }")"

# ---- labels swapped: only the decode sees it --------------------------------------------------------
forge swap '.sections |= map(if .database == "alpha" then .database = "beta" elif .database == "beta" then .database = "alpha" else . end)'
verify_remote swapshallow 0
verify_remote swapdeep 1 --deep
for db in alpha beta; do
    grep -qF "section database \"$db\": not the database its manifest says" <<<"$LINE" || fail_run swapdeep "the FAILED line does not name section $db as relabelled: $LINE"
done
pass "labels swapped: shallow OK (it reads no section), --deep: $(cut -c1-220 <<<"${LINE#FAILED "$URL": }")"

s3_put "$BUCKET" "$KEY.json" "$WORK/original.json"
verify_remote restored 0 --deep
pass "the original manifest back: verify --remote --deep OK"
