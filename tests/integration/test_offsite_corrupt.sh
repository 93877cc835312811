#!/usr/bin/env bash
# Offsite copies, a corrupted object in the bucket: after `backup full` + `offsite sync`, the
# remote archive is overwritten (with curl, not pgtier) by the same bytes with one byte flipped
# in its middle, same size. `verify --remote` (shallow: object sizes and the sidecar against the
# manifest, nothing downloaded) cannot see it and says OK; `verify --remote --deep` downloads and
# decodes, exits 1 and its FAILED line names the object and the damaged section. With the local
# copy gone, `restore database latest-full` of the damaged database refuses (SHA-256) before it
# creates anything, a database whose section is intact still restores from the bucket, and
# `fetch latest-full` refuses and leaves nothing in the backup directory (no archive, no .partial).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

s3_start
BUCKET=pgtier-flipped
PREFIX=site/one
s3_mb "$BUCKET"
export PGTIER_OFFSITE_URL="s3://$BUCKET/$PREFIX" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
    PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
pass "gateway up in ${S3_START_SECONDS}s at $S3_ENDPOINT"

start_source_cluster
# shop is most of the archive, so the archive's middle byte is inside its section.
psql_q -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE other"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a, md5((-g)::text) AS b FROM generate_series(1, 80000) g"
psql_db other -c "CREATE TABLE t AS SELECT g AS id, 'row ' || g AS v FROM generate_series(1, 500) g"
settle

take_backup full full
NAME=$(basename "$ARCHIVE")
KEY="$PREFIX/full/$NAME"
URL="s3://$BUCKET/$KEY"
run_pgtier sync --dir "$B" offsite sync
expect_rc sync 0 "offsite sync"
SIZE=$(stat -c %s "$ARCHIVE")
s3_ls "$BUCKET" "$PREFIX/" | sort >"$WORK/objects"
grep -qx "$KEY $SIZE" "$WORK/objects" || fail "the archive object $KEY ($SIZE bytes) is not in the bucket: $(cat "$WORK/objects")"
grep -q "^$KEY.sha256 " "$WORK/objects" || fail "no sidecar object"
grep -q "^$KEY.json " "$WORK/objects" || fail "no manifest object"
s3_get "$BUCKET" "$KEY" "$WORK/remote.bin"
cmp -s "$WORK/remote.bin" "$ARCHIVE" || fail "the uploaded archive differs from the local one"
pass "backup full + sync: $NAME ($SIZE bytes) in the bucket, same bytes"

# ---- the corruption: one byte in the middle, written back with curl (same size) ---------------------
MID=$((SIZE / 2))
SECTION_DB=$(jq -r --argjson m "$MID" '.sections[] | select(.offset <= $m and $m < .offset + .length) | .database // "globals"' "$ARCHIVE.json")
[ "$SECTION_DB" = shop ] || fail "setup: the middle byte ($MID) is in section '$SECTION_DB', not shop"
flip_byte "$WORK/remote.bin" "$MID"
[ "$(stat -c %s "$WORK/remote.bin")" = "$SIZE" ] || fail "setup: the flipped copy changed size"
! cmp -s "$WORK/remote.bin" "$ARCHIVE" || fail "setup: the byte did not change"
s3_put "$BUCKET" "$KEY" "$WORK/remote.bin"
s3_get "$BUCKET" "$KEY" "$WORK/check.bin"
cmp -s "$WORK/check.bin" "$WORK/remote.bin" || fail "setup: the bucket does not hold the flipped copy"
s3_ls "$BUCKET" "$PREFIX/" | sort >"$WORK/objects.flipped"
diff "$WORK/objects" "$WORK/objects.flipped" >&2 || fail "setup: the listing changed (sizes must stay)"
pass "flipped byte $MID (section of shop) of $KEY in the bucket, same size"

# ---- shallow verify: sizes and sidecar only, so it says OK (documented) ------------------------------
run_pgtier vshallow --dir "$B" verify --remote
expect_rc vshallow 0 "verify --remote (shallow) does not download: it cannot see a flipped byte"
[ "$(cat "$WORK/vshallow.out")" = "OK $URL" ] || fail_run vshallow "expected exactly 'OK $URL'"
pass "verify --remote (shallow): OK, exit 0 — it compares sizes and the sidecar with the manifest only"

# ---- deep verify: downloads and decodes -------------------------------------------------------------
run_pgtier vdeep --dir "$B" verify --remote --deep
expect_rc vdeep 1 "verify --remote --deep of a flipped byte"
line=$(grep '^FAILED ' "$WORK/vdeep.out" || true)
[ "$(grep -c . <<<"$line")" = 1 ] || fail_run vdeep "expected one FAILED line"
[[ $line == "FAILED $URL: "* ]] || fail_run vdeep "the FAILED line does not name $URL: $line"
grep -qF 'section database "shop"' <<<"$line" || fail_run vdeep "the FAILED line does not name shop's section: $line"
! grep -q '^OK ' "$WORK/vdeep.out" || fail_run vdeep "an OK line for the damaged archive"
run_pgtier vdeepname --dir "$B" verify --remote --deep latest-full
expect_rc vdeepname 1 "verify --remote --deep latest-full"
grep -qF "FAILED $URL: " "$WORK/vdeepname.out" || fail_run vdeepname "no FAILED line for latest-full"
# The local copy is intact: the local verify says so.
run_pgtier vlocal --dir "$B" verify "$NAME"
expect_rc vlocal 0 "local verify of the intact local copy"
pass "verify --remote --deep: exit 1, $(cut -c1-160 <<<"$line")"

# ---- without the local copy: restores and fetch read the damaged object -----------------------------
rm -f "$B/full/$NAME" "$B/full/$NAME.sha256" "$B/full/$NAME.json" "$B/full/latest_full.sql.bz2"
[ -z "$(find "$B/full" -mindepth 1)" ] || fail "setup: the local full folder is not empty: $(ls -A "$B/full")"

run_pgtier rdb --dir "$B" restore database latest-full shop --as shop_x
expect_rc rdb 1 "restore database of the damaged section from the bucket"
err=$(grep '^pgtier: error: ' "$WORK/rdb.err" || true)
[ "$(grep -c . <<<"$err")" = 1 ] || fail_run rdb "expected one 'pgtier: error:' line"
grep -qiE 'SHA-256|corrupt' <<<"$err" || fail_run rdb "the refusal does not speak of SHA-256 or corruption: $err"
grep -qF 'database "shop"' <<<"$err" || fail_run rdb "the refusal does not name shop's section: $err"
grep -qF "$URL" <<<"$err" || fail_run rdb "the refusal does not name the object $URL: $err"
[ -z "$(psql_q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'shop_x'")" ] || fail "restore created shop_x from a damaged section"
[ -z "$(work_dbs)" ] || fail "work databases left: $(work_dbs)"
pass "restore database latest-full shop --as shop_x: exit 1 ($(cut -c1-200 <<<"$err")); shop_x does not exist"

# other's section is intact: a single-database restore reads only its section, so it works.
run_pgtier rother --dir "$B" restore database latest-full other --as other_x
expect_rc rother 0 "restore database of an intact section of the damaged remote archive"
[ "$(psql_db other_x -c 'SELECT count(*), sum(id) FROM t')" = "500|125250" ] || fail "other_x does not hold other's rows"
grep -qF "from s3://$BUCKET/$PREFIX" "$WORK/rother.out" || fail_run rother "no 'read … from s3://$BUCKET/$PREFIX' line"
pass "restore database latest-full other --as other_x: its section is intact, restored from the bucket"

run_pgtier fetch --dir "$B" fetch latest-full
expect_rc fetch 1 "fetch of the damaged archive"
err=$(grep '^pgtier: error: ' "$WORK/fetch.err" || true)
grep -qF "$URL" <<<"$err" || fail_run fetch "the refusal does not name $URL"
grep -qF "do not match its manifest" <<<"$err" || fail_run fetch "the refusal does not say the bytes do not match the manifest"
left=$(find "$B" -path "$B/.pgtier" -prune -o -type f -print -o -type l -print)
[ -z "$left" ] || fail "fetch left files in the backup directory: $left"
[ -z "$(partials "$B")" ] || fail "fetch left a .partial: $(partials "$B")"
run_pgtier fetchname --dir "$B" fetch "$NAME"
expect_rc fetchname 1 "fetch of the damaged archive by name"
[ -z "$(find "$B" -path "$B/.pgtier" -prune -o -type f -print -o -type l -print)" ] || fail "fetch by name left files"
pass "fetch latest-full / NAME: exit 1 ($(cut -c1-200 <<<"$err")); nothing left in $B"

# the bucket is as it was after the flip: nothing deleted or rewritten by the failures
s3_ls "$BUCKET" "$PREFIX/" | sort >"$WORK/objects.after"
diff "$WORK/objects.flipped" "$WORK/objects.after" >&2 || fail "the failed commands changed the bucket"
s3_get "$BUCKET" "$KEY" "$WORK/check2.bin"
cmp -s "$WORK/check2.bin" "$WORK/remote.bin" || fail "the damaged object was rewritten"
pass "the bucket is untouched by the refusals ($(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s in all)"
