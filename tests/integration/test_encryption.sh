#!/usr/bin/env bash
# Encryption at rest and signed manifests, against the reference tools: keys made by age-keygen
# and openssl (and by `pgtier keygen`, checked with them); archives pgtier writes are read by
# `age -d` and sha256sum with no pgtier; restores of an encrypted archive (bzip2 and zstd, one
# database and a whole cluster with --jobs 2); what is refused, with nothing changed: no identity,
# a wrong identity, a flipped byte, an unsigned or re-signed manifest; shallow verify, list and
# plan without the identity; plain and encrypted archives side by side; the bucket's objects hold
# no plaintext.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC

encryption_keys "$WORK/keys"
age-keygen -o "$WORK/keys/escrow.txt" 2>/dev/null
ESCROW_RECIPIENT=$(age-keygen -y "$WORK/keys/escrow.txt")
age-keygen -o "$WORK/keys/stranger.txt" 2>/dev/null

start_source_cluster
MARK=row-that-must-not-leak-4711
psql_q -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE other"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a FROM generate_series(1, 60000) g" \
    -c "INSERT INTO t VALUES (0, '$MARK')"
psql_db other -c "CREATE TABLE o (x int)" -c "INSERT INTO o SELECT generate_series(1, 500)"
settle

write_cfg() {  # write_cfg FILE [LINE...]: storage in $B, then the lines
    local file=$1
    shift
    { printf '[storage]\ndir = "%s"\n' "$B"; printf '%s\n' "$@"; } >"$file"
}
CFG=$WORK/encrypted.toml
write_cfg "$CFG" '[encryption]' "recipients = [\"$AGE_RECIPIENT\", \"$ESCROW_RECIPIENT\"]" \
    "identity_file = \"$AGE_IDENTITY\"" "signing_key_file = \"$SIGNING_KEY\"" "verify_key = \"$VERIFY_KEY\""

# ---- configuration errors: exit 2, said before anything is written ---------------------------------
write_cfg "$WORK/bad.toml" '[encryption]' 'recipients = ["age1notakey"]'
run_pgtier bad --config "$WORK/bad.toml" backup full
expect_rc bad 2 "a recipient that is not an age key"
grep -q 'encryption.recipients' "$WORK/bad.err" || fail_run bad "the message does not name encryption.recipients"
write_cfg "$WORK/bad2.toml" '[encryption]' "identity_file = \"$WORK/keys/missing.txt\""
run_pgtier bad2 --config "$WORK/bad2.toml" backup full
expect_rc bad2 2 "an identity file that does not exist"
grep -q 'missing.txt' "$WORK/bad2.err" || fail_run bad2 "the message does not name the file"
[ -z "$(archives "$B" full)" ] || fail "a configuration error left an archive"
pass "a bad recipient and a missing identity file: exit 2, naming the key and file"

# ---- a full, bzip2: an age file the reference tools read --------------------------------------------
before=$(archives "$B" full)
run_pgtier full --config "$CFG" backup full
expect_rc full 0 "encrypted backup full"
A=$(new_archive "$B" full "$before")
case $A in *_full.sql.bz2.age) ;; *) fail "the archive is not named .sql.bz2.age: $A" ;; esac
check_archive "$A" full
(cd "$B/full" && sha256sum -c --status "$(basename "$A").sha256") || fail "sha256sum -c on the sidecar failed"
age -d -i "$WORK/keys/escrow.txt" "$A" | bzcat | grep -cF "$MARK" >/dev/null || fail "age -d with the escrow identity | bzcat does not give the row"
! grep -qaF "$MARK" "$A" || fail "the archive holds the row in plain text"
! bzip2 -t "$A" 2>/dev/null || fail "the archive is still a bzip2 file"
jq -e '.signature | startswith("ed25519:")' "$A.json" >/dev/null || fail "the manifest is not signed"
[ -L "$B/full/latest_full.sql.bz2.age" ] || fail "no latest_full.sql.bz2.age link"
pass "backup full: $(basename "$A"), age -d (either recipient) | bzcat gives the data, sha256sum -c passes, no plaintext in the file, manifest signed"

# ---- restore database from it, and a whole cluster with --jobs 2 ------------------------------------
dump_db src shop >"$WORK/shop.sql"
run_pgtier rdb --config "$CFG" restore database "$A" shop --as shop_copy
expect_rc rdb 0 "restore database from the encrypted archive"
dump_db src shop_copy >"$WORK/shop_copy.sql"
same_dump "$WORK/shop.sql" "$WORK/shop_copy.sql" "shop_copy restored from the age file"
psql_q -d postgres -c "DROP DATABASE shop_copy"
pg_start dst  # pgtier's server is the one PGHOST/PGPORT name (pg_use)
run_pgtier rfull --config "$CFG" restore full "$A" --jobs 2
expect_rc rfull 0 "restore full --jobs 2 from the encrypted archive into dst"
pg_use src
dump_db dst shop >"$WORK/shop_dst.sql"
same_dump "$WORK/shop.sql" "$WORK/shop_dst.sql" "shop in dst restored by restore full --jobs 2"
pass "restore database and restore full --jobs 2 from the age file: pg_dump identical"

# ---- zstd -----------------------------------------------------------------------------------------------
psql_db other -c "INSERT INTO o VALUES (501)"
settle
before=$(archives "$B" full)
PGTIER_COMPRESSION_FORMAT=zstd run_pgtier zfull --config "$CFG" backup full --force
expect_rc zfull 0 "encrypted zstd backup full"
Z=$(new_archive "$B" full "$before")
case $Z in *_full.sql.zst.age) ;; *) fail "the zstd archive is not named .sql.zst.age: $Z" ;; esac
check_archive "$Z" full
age -d -i "$AGE_IDENTITY" "$Z" | zstdcat | grep -cF "$MARK" >/dev/null || fail "age -d | zstdcat does not give the row"
[ -L "$B/full/latest_full.sql.zst.age" ] && [ ! -e "$B/full/latest_full.sql.bz2.age" ] || fail "latest links: $(find "$B/full" -name "latest_*")"
run_pgtier zdb --config "$CFG" restore database "$Z" other --as other_copy
expect_rc zdb 0 "restore database from the zstd age file"
[ "$(psql_db other_copy -c 'SELECT count(*) FROM o')" = 501 ] || fail "other_copy lacks rows"
psql_q -d postgres -c "DROP DATABASE other_copy"
pass "zstd: $(basename "$Z") read by age -d | zstdcat, restored"

# ---- without the identity: list, plan and shallow verify work; reading is refused ------------------
NOID=$WORK/noid.toml
write_cfg "$NOID" '[encryption]' "recipients = [\"$AGE_RECIPIENT\"]"
run_pgtier list --config "$NOID" list
expect_rc list 0 "list without the identity"
grep -qF "$(basename "$A")" "$WORK/list.out" || fail_run list "list does not show the archive"
run_pgtier plan --config "$NOID" restore plan
expect_rc plan 0 "restore plan without the identity"
run_pgtier ver --config "$NOID" verify
expect_rc ver 0 "verify without the identity"
grep -q "OK .*$(basename "$A") (an age file: its SHA-256 and size checked, its sections not decrypted" "$WORK/ver.out" \
    || fail_run ver "verify does not say what it could not check"
dbs_before=$(db_list)
run_pgtier noid --config "$NOID" restore database "$A" shop --as shop_noid
expect_rc noid nonzero "restore database without the identity"
grep -q "is encrypted (age): set encryption.identity_file" "$WORK/noid.err" || fail_run noid "no clear message"
write_cfg "$WORK/stranger.toml" '[encryption]' "identity_file = \"$WORK/keys/stranger.txt\""
run_pgtier stranger --config "$WORK/stranger.toml" restore database "$A" shop --as shop_stranger
expect_rc stranger nonzero "restore database with an identity that is not a recipient"
grep -qi "identit" "$WORK/stranger.err" || fail_run stranger "the message does not say the identity does not match"
[ "$(db_list)" = "$dbs_before" ] || fail "a refused restore changed the databases: $(db_list)"
pass "no identity / a stranger's identity: refused ($(tail -n1 "$WORK/stranger.err")), nothing created; list, plan and verify work without it"

# ---- a flipped byte, an unsigned manifest, a manifest changed after signing ------------------------
TAMPER=$WORK/tamper
mkdir -p "$TAMPER/full"
T=$(copy_archive "$A" "$TAMPER/full")
# A byte of shop's section: its plaintext position mapped to the age file (64 KiB chunks, each
# followed by a 16-byte tag, after the header).
size=$(stat -c %s "$T")
stream=$(jq -r .encryption.stream_size "$T.json")
header=$((size - stream - 16 * ((stream + 65535) / 65536)))
read -r off len < <(jq -r '.sections[] | select(.database == "shop") | "\(.offset) \(.length)"' "$T.json")
p=$((off + len / 2))
flip_byte "$T" $((header + (p / 65536) * 65552 + p % 65536))
sum=$(sha256sum <"$T" | cut -c1-64)
printf '%s  %s\n' "$sum" "$(basename "$T")" >"$T.sha256"
jq --arg s "$sum" '.sha256 = $s' "$A.json" >"$T.json"
UNSIGNED=$WORK/unsigned.toml
write_cfg "$UNSIGNED" '[encryption]' "identity_file = \"$AGE_IDENTITY\""
run_pgtier flip --config "$UNSIGNED" restore database "$T" shop --as shop_flip
expect_rc flip nonzero "restore database of an archive with a flipped byte (checksums recomputed)"
grep -qi "chunk" "$WORK/flip.err" || fail_run flip "the message does not name the chunk that failed"
run_pgtier flipv --config "$UNSIGNED" verify "$T"
expect_rc flipv 1 "verify of the flipped archive"
run_pgtier resigned --config "$CFG" restore database "$T" shop --as shop_flip
expect_rc resigned nonzero "restore of an archive whose manifest changed after signing"
grep -q "signature is not encryption.verify_key's" "$WORK/resigned.err" || fail_run resigned "no signature message"
U=$(copy_archive "$A" "$WORK/unsigned_copy/full")
jq 'del(.signature)' "$A.json" >"$U.json"
run_pgtier nosig --config "$CFG" restore database "$U" shop --as shop_nosig
expect_rc nosig nonzero "restore of an unsigned archive with verify_key set"
grep -q "is not signed" "$WORK/nosig.err" || fail_run nosig "no 'not signed' message"
run_pgtier nosigv --config "$CFG" verify "$U"
expect_rc nosigv 1 "verify of an unsigned archive with verify_key set"
[ "$(db_list)" = "$dbs_before" ] || fail "a refused restore changed the databases: $(db_list)"
pass "flipped byte: refused ($(grep -i chunk "$WORK/flip.err" | tail -n1)); changed or missing signature: refused; nothing created"

# ---- plain and encrypted side by side: a plain full, then an encrypted incremental --------------------
PLAIN=$WORK/plain.toml
write_cfg "$PLAIN" '[encryption]' "identity_file = \"$AGE_IDENTITY\""
before=$(archives "$B" full)
run_pgtier pfull --config "$PLAIN" backup full --force
expect_rc pfull 0 "plain full with encryption off"
P=$(new_archive "$B" full "$before")
case $P in *.sql.bz2) ;; *) fail "not a plain archive: $P" ;; esac
psql_db shop -c "INSERT INTO t VALUES (-1, 'after-the-plain-full')"
settle
MIXED=$WORK/mixed.toml
write_cfg "$MIXED" '[encryption]' "recipients = [\"$AGE_RECIPIENT\"]" "identity_file = \"$AGE_IDENTITY\""
before=$(archives "$B" incremental)
run_pgtier incr --config "$MIXED" backup incremental
expect_rc incr 0 "encrypted incremental on a plain full"
I=$(new_archive "$B" incremental "$before")
case $I in *.age) ;; *) fail "the incremental is not encrypted: $I" ;; esac
dump_db src shop >"$WORK/shop2.sql"
pg_use dst
run_pgtier latest --config "$MIXED" restore latest --replace
expect_rc latest 0 "restore latest over a plain full and an encrypted incremental"
dump_db dst shop >"$WORK/shop2_dst.sql"
same_dump "$WORK/shop2.sql" "$WORK/shop2_dst.sql" "restore latest (plain full + age incremental)"
pg_use src
pass "plain full $(basename "$P") + encrypted incremental $(basename "$I"): restore latest identical"

# ---- the bucket holds no plaintext -----------------------------------------------------------------------
BUCKET=pgtier-enc
PREFIX=node1
offsite_bucket
offsite_toml "$B" '[encryption]' "recipients = [\"$AGE_RECIPIENT\"]" "identity_file = \"$AGE_IDENTITY\"" >"$WORK/offsite.toml"
run_pgtier sync --config "$WORK/offsite.toml" offsite sync
expect_rc sync 0 "offsite sync"
n=0
while read -r key _; do
    case $key in *.age) ;; *) continue ;; esac
    s3_get "$BUCKET" "$key" "$WORK/object"
    ! grep -qaF "$MARK" "$WORK/object" || fail "object $key holds the row in plain text"
    case $key in *.zst.age) format=zstd ;; *) format=bzip2 ;; esac
    age -d -i "$AGE_IDENTITY" "$WORK/object" | FORMAT=$format decompress - | grep -cF "$MARK" >/dev/null \
        || fail "object $key does not decrypt to the data"
    n=$((n + 1))
done < <(s3_ls "$BUCKET" "$PREFIX/")
[ "$n" -ge 2 ] || fail "only $n encrypted objects in the bucket"
pass "$n encrypted objects in the bucket: none holds the row, each decrypts with age -d"

# ---- pgtier keygen: files the reference tools accept ---------------------------------------------------
mkdir -p "$WORK/gen"
run_pgtier keygen keygen "$WORK/gen"
expect_rc keygen 0 "pgtier keygen"
[ "$(stat -c %a "$WORK/gen/age_identity.txt")" = 600 ] && [ "$(stat -c %a "$WORK/gen/signing_key.pem")" = 600 ] \
    || fail "keygen's files are not 0600"
grep -qF "recipients = [\"$(age-keygen -y "$WORK/gen/age_identity.txt")\"]" "$WORK/keygen.out" \
    || fail_run keygen "the printed recipient is not age-keygen -y's"
grep -qF "verify_key = \"ed25519:$(openssl pkey -in "$WORK/gen/signing_key.pem" -pubout -outform DER | tail -c 32 | base64 -w0)\"" "$WORK/keygen.out" \
    || fail_run keygen "the printed verify_key is not the signing key's public key"
echo hello | age -r "$(age-keygen -y "$WORK/gen/age_identity.txt")" | age -d -i "$WORK/gen/age_identity.txt" | grep -qx hello \
    || fail "age does not accept keygen's identity"
sum=$(sha256sum "$WORK/gen/age_identity.txt")
run_pgtier keygen2 keygen "$WORK/gen"
expect_rc keygen2 nonzero "a second keygen into the same directory"
[ "$(sha256sum "$WORK/gen/age_identity.txt")" = "$sum" ] || fail "keygen replaced an identity"
pass "pgtier keygen: age and openssl accept its keys; it never replaces one"
