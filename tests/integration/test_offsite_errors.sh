#!/usr/bin/env bash
# Offsite copies that cannot work, against a real S3 server (Ceph RADOS Gateway, lib_s3.sh):
# a wrong secret (HTTP 403; the secret never shows in output, logs or state files) or access key
# id, a bucket that does not exist, TLS without the CA (then with offsite.ca_file: it works),
# missing credentials and malformed offsite.url values. Each `offsite sync` fails with a message naming what is wrong;
# a backup still publishes its local archive (exit 0) with a warning naming the same problem,
# whenever the configuration itself is valid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

B="$WORK/backups" CFG="$WORK/pgtier.toml" BUCKET=pgtier-errors PREFIX=site-c/node3
offsite_bucket
WRONG_SECRET="wrong-$(uuidgen)"
printf '%s\n' "$WRONG_SECRET" >"$WORK/wrong_secret"
offsite_toml "$B" >"$CFG"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ACCESS_KEY_ID_FILE AWS_SECRET_ACCESS_KEY_FILE AWS_SESSION_TOKEN
# expect_message TAG TEXT... — every TEXT in the run's stderr.
expect_message() {
    local tag=$1 text
    shift
    for text in "$@"; do
        grep -qF -- "$text" "$WORK/$tag.err" || fail_run "$tag" "the message lacks '$text'"
    done
}
# backup_publishes TAG TEXT... — a full is published locally (exit 0) with the environment of
# the case; the upload the backup tries after it fails with a warning holding every TEXT.
backup_publishes() {
    local tag=$1 before text
    shift
    before=$(archives "$B" full)
    run_pgtier "$tag" --config "$CFG" backup full
    expect_rc "$tag" 0 "backup full ($tag)"
    check_archive "$(new_archive "$B" full "$before")" full
    grep -q "warn.*offsite: .*stays\? pending for the next sync" "$WORK/$tag.err" || fail_run "$tag" "no offsite warning"
    for text in "$@"; do
        grep "warn.*offsite: " "$WORK/$tag.err" | grep -qF -- "$text" || fail_run "$tag" "the backup's offsite warning lacks '$text'"
    done
}

pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t (id int)" -c "INSERT INTO t VALUES (1)"
settle

# ---- a wrong secret: 403, the secret is never shown ----------------------------------------
export PGTIER_OFFSITE_SECRET_ACCESS_KEY_FILE="$WORK/wrong_secret"
backup_publishes b-secret "$S3_ENDPOINT" "s3://$BUCKET/$PREFIX" 403
run_pgtier secret --config "$CFG" offsite sync
expect_rc secret 1 "offsite sync with a wrong secret"
expect_message secret "$S3_ENDPOINT" "s3://$BUCKET/$PREFIX" 403 "the secret access key is wrong"
run_pgtier secret-list --config "$CFG" list --remote
expect_rc secret-list 1 "list --remote with a wrong secret"
expect_message secret-list "$S3_ENDPOINT" 403
for s in "$WRONG_SECRET" "$S3_SECRET_KEY"; do
    if grep -rlF -- "$s" "$WORK"/*.out "$WORK"/*.err "$B"; then
        fail "a secret shows in the output or the backup directory (files above)"
    fi
done
run_pgtier st --config "$CFG" status --json
jq -e '.offsite.pending == 1 and (.offsite.last_error | contains("403"))' "$WORK/st.out" >/dev/null || fail_run st "status: not 1 pending with the 403"
[ -z "$(bucket_state)" ] || fail "objects in the bucket after a 403: $(bucket_state)"
unset PGTIER_OFFSITE_SECRET_ACCESS_KEY_FILE
printf 'AKNOSUCHKEY0000000000\n' >"$WORK/wrong_access_key"
PGTIER_OFFSITE_ACCESS_KEY_ID_FILE="$WORK/wrong_access_key" run_pgtier access --config "$CFG" offsite sync
expect_rc access 1 "offsite sync with an unknown access key id"
expect_message access "$S3_ENDPOINT" 403 "no such access key id"
pass "wrong secret: backup exit 0; sync exit 1 naming $S3_ENDPOINT, s3://$BUCKET/$PREFIX, 403 and the secret key; the secret appears nowhere; an unknown access key id: 403 saying so"

# ---- no such bucket ---------------------------------------------------------------------------
export PGTIER_OFFSITE_URL="s3://pgtier-no-such-bucket/$PREFIX"
backup_publishes b-bucket "$S3_ENDPOINT" 'the bucket "pgtier-no-such-bucket" does not exist'
run_pgtier nobucket --config "$CFG" offsite sync
expect_rc nobucket 1 "offsite sync to a missing bucket"
expect_message nobucket "$S3_ENDPOINT" 'the bucket "pgtier-no-such-bucket" does not exist'
unset PGTIER_OFFSITE_URL
pass "missing bucket: backup exit 0; sync exit 1, the bucket \"pgtier-no-such-bucket\" does not exist"

# ---- TLS: a self-signed certificate without ca_file, then with it --------------------------------
export PGTIER_OFFSITE_ENDPOINT="$S3_TLS_ENDPOINT"
backup_publishes b-tls "$S3_TLS_ENDPOINT" certificate
run_pgtier tls --config "$CFG" offsite sync
expect_rc tls 1 "offsite sync over TLS without the CA"
expect_message tls "$S3_TLS_ENDPOINT" "certificate"
[ -z "$(bucket_state)" ] || fail "objects in the bucket before any sync could work: $(bucket_state)"
export PGTIER_OFFSITE_CA_FILE="$S3_TLS_CA"
run_pgtier tls-ca --config "$CFG" offsite sync
expect_rc tls-ca 0 "offsite sync over TLS with offsite.ca_file"
grep -qF "s3://$BUCKET/$PREFIX at $S3_TLS_ENDPOINT: 3 uploaded" "$WORK/tls-ca.out" || fail_run tls-ca "expected the three fulls uploaded"
while IFS= read -r f; do
    s3_get "$BUCKET" "$PREFIX/full/$(basename "$f")" "$WORK/object"
    cmp -s "$WORK/object" "$f" || fail "$f: the bucket's bytes differ"
done < <(archives "$B" full)
[ "$(bucket_state | wc -l)" = 9 ] || fail "expected 9 objects: $(bucket_state)"
run_pgtier st2 --config "$CFG" status --json
jq -e '.offsite.pending == 0 and .offsite.last_error == ""' "$WORK/st2.out" >/dev/null || fail_run st2 "status after the TLS sync"
unset PGTIER_OFFSITE_ENDPOINT PGTIER_OFFSITE_CA_FILE
pass "TLS: without ca_file sync exit 1 naming $S3_TLS_ENDPOINT and the certificate; with ca_file the three waiting fulls go up, bytes identical"

# ---- missing credentials: a configuration error for the offsite commands only ---------------
cat >"$WORK/nocreds.toml" <<TOML
[storage]
dir = "$B"
[offsite]
url = "s3://$BUCKET/$PREFIX"
endpoint = "$S3_ENDPOINT"
path_style = true
TOML
run_pgtier nocreds --config "$WORK/nocreds.toml" offsite sync
expect_rc nocreds 2 "offsite sync without credentials"
expect_message nocreds offsite.access_key_id_file AWS_ACCESS_KEY_ID
run_pgtier nocreds-list --config "$WORK/nocreds.toml" list --remote
expect_rc nocreds-list 2 "list --remote without credentials"
expect_message nocreds-list offsite.access_key_id_file AWS_ACCESS_KEY_ID
CFG="$WORK/nocreds.toml" backup_publishes b-nocreds offsite.access_key_id_file AWS_ACCESS_KEY_ID
pass "no credentials: sync and list --remote exit 2 naming offsite.access_key_id_file and AWS_ACCESS_KEY_ID; backup exit 0"

# ---- malformed offsite.url: exit 2 naming the key, as for any invalid setting ------------------
for url in "http://x" "s3://ab" "s3://$BUCKET/a//b" "s3://Upper/x"; do
    PGTIER_OFFSITE_URL=$url run_pgtier badurl --config "$CFG" offsite sync
    expect_rc badurl 2 "offsite sync with offsite.url = $url"
    expect_message badurl offsite.url PGTIER_OFFSITE_URL
done
sed "s|^url = .*|url = \"s3://ab\"|" "$CFG" >"$WORK/badurl.toml"
run_pgtier badurl-file --config "$WORK/badurl.toml" offsite sync
expect_rc badurl-file 2 "offsite sync with offsite.url = s3://ab in the file"
expect_message badurl-file offsite.url "$WORK/badurl.toml" "'ab' is not a bucket name"
# An invalid setting makes every command refuse the configuration (test_bad_config.sh), the
# backup too: the daemon must not start half-configured.
before=$(archives "$B" full)
run_pgtier b-badurl --config "$WORK/badurl.toml" backup full
expect_rc b-badurl 2 "backup full with a malformed offsite.url"
expect_message b-badurl offsite.url
[ "$(archives "$B" full)" = "$before" ] || fail "a backup ran with a malformed offsite.url"
pass "malformed offsite.url (http://x, s3://ab, an empty prefix segment, an uppercase bucket): exit 2 naming offsite.url"

pass "test_offsite_errors in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
