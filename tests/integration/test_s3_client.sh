#!/usr/bin/env bash
# The S3 client (src/storage/s3_client.cpp) against a real S3 server, a throwaway Ceph RADOS
# Gateway (lib_s3.sh), driven through tests/tools/s3_probe.cpp. What it stored is checked with
# the curl command line, an independent client: single and multipart uploads (bytes, sizes,
# abort on failure), ranged reads, paged listing, odd keys and prefixes, path-style and
# virtual-hosted addressing, and the messages for wrong keys, a missing bucket or key, TLS
# failures and a gateway that is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_s3.sh"

PROBE=${PGTIER_S3_PROBE:-$(dirname "$PGTIER")/pgtier_s3_probe}
[ -x "$PROBE" ] || fail "pgtier_s3_probe not found at $PROBE (build it, or set PGTIER_S3_PROBE)"
T0=$EPOCHREALTIME
MIB=$((1024 * 1024))

# probe TAG ARGS... — runs the probe with $WORK/TAG.out / .err, exit status in RC.
probe() {
    local tag=$1
    shift
    set +e
    timeout -k 5 120 "$PROBE" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
    RC=$?
    set -e
}
show() { echo "--- $1: exit $RC; stderr:" >&2; cat "$WORK/$1.err" >&2; }
ok() { [ "$RC" -eq 0 ] || { show "$1"; fail "$2"; }; }
# expect_error TAG TEXT... — exit 1 and every TEXT in the message.
expect_error() {
    local tag=$1 text
    shift
    [ "$RC" -eq 1 ] || { show "$tag"; fail "$tag: exit $RC, want 1"; }
    for text in "$@"; do
        grep -qF -- "$text" "$WORK/$tag.err" || { show "$tag"; fail "$tag: the message lacks '$text'"; }
    done
}
first_line() { head -n 1 "$WORK/$1.err" | cut -c1-220; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# same_object KEY FILE — the object's bytes (downloaded with curl) are the file's.
same_object() {
    s3_get "$S3_BUCKET" "$1" "$WORK/check.bin"
    [ "$(sha "$WORK/check.bin")" = "$(sha "$2")" ] || fail "$1: the stored bytes differ from $2"
}

s3_start
pass "Ceph cluster with radosgw up in ${S3_START_SECONDS}s at $S3_ENDPOINT"
export S3_BUCKET=pgtier-s3-test S3_PATH_STYLE=1
probe mb mb
ok mb "create the bucket"

# --- Single PUT: a file below the threshold, bytes checked with curl.
head -c $((3 * MIB + 17)) /dev/urandom >"$WORK/small.bin"
probe put-small put-file full/small.bin "$WORK/small.bin"
ok put-small "single PUT"
same_object full/small.bin "$WORK/small.bin"
grep -qx "sha256 $(sha "$WORK/small.bin")" "$WORK/put-small.err" || { show put-small; fail "put-file reports another SHA-256 than the file's"; }
[ "$(s3_ls "$S3_BUCKET" full/small)" = "full/small.bin $((3 * MIB + 17))" ] || fail "listing after PUT"
pass "single PUT of 3 MiB: same bytes via curl, SHA-256 of what was sent = the file's"

# --- Multipart with small parts: 20 MiB + 123 B in 5 MiB parts = 5 parts.
head -c $((20 * MIB + 123)) /dev/urandom >"$WORK/multi.bin"
t=$EPOCHREALTIME
S3_SINGLE_PUT_MAX=$((8 * MIB)) S3_MIN_PART_SIZE=$((5 * MIB)) probe put-multi put-file full/multi.bin "$WORK/multi.bin"
ok put-multi "multipart upload"
secs=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
same_object full/multi.bin "$WORK/multi.bin"
# The SHA-256 computed while the parts went out, one after the other, is the file's.
grep -qx "sha256 $(sha "$WORK/multi.bin")" "$WORK/put-multi.err" || { show put-multi; fail "multipart put-file reports another SHA-256 than the file's"; }
probe head-multi head full/multi.bin
ok head-multi "HEAD of the multipart object"
grep -q "^full/multi.bin $((20 * MIB + 123)) \".*-5\"$" "$WORK/head-multi.out" \
    || fail "the object is not a 5-part upload: $(cat "$WORK/head-multi.out")"
pass "multipart upload of 20 MiB in 5 parts (${secs}s): same bytes via curl, ETag -5, SHA-256 of what was sent = the file's"

# --- Multipart with the default sizes: 70 MiB > 64 MiB goes up in 8 MiB parts.
head -c $((70 * MIB)) /dev/urandom >"$WORK/big.bin"
t=$EPOCHREALTIME
probe put-big put-file full/big.bin "$WORK/big.bin"
ok put-big "default multipart upload"
secs=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
same_object full/big.bin "$WORK/big.bin"
probe head-big head full/big.bin
grep -q '"[0-9a-f]*-9"$' "$WORK/head-big.out" || fail "70 MiB was not 9 parts: $(cat "$WORK/head-big.out")"
rm -f "$WORK/big.bin" "$WORK/check.bin"
pass "default thresholds: 70 MiB in 9 parts of 8 MiB (${secs}s)"

# --- A multipart upload that fails is aborted: 1 MiB parts are below RGW's 5 MiB minimum.
S3_SINGLE_PUT_MAX=$MIB S3_MIN_PART_SIZE=1 probe put-tiny put-file full/tiny-parts.bin "$WORK/small.bin"
expect_error put-tiny "$S3_ENDPOINT" "$S3_BUCKET" "full/tiny-parts.bin" EntityTooSmall
uploads=$(_s3_curl "$S3_ENDPOINT/$S3_BUCKET?uploads=")
! grep -q '<Upload>' <<<"$uploads" || fail "the failed multipart upload was not aborted: $uploads"
[ -z "$(s3_ls "$S3_BUCKET" full/tiny)" ] || fail "a failed upload left an object"
pass "failed multipart upload aborted, nothing left: $(first_line put-tiny)"

# --- put/get of small objects from stdin/to stdout, empty ones too.
probe put-json put full/a.json <<<'{"manifest": true}'
ok put-json "put from stdin"
probe get-json get full/a.json
ok get-json "get"
[ "$(cat "$WORK/get-json.out")" = '{"manifest": true}' ] || fail "get returned other bytes"
probe put-empty put full/empty </dev/null
ok put-empty "empty put"
probe get-empty get full/empty
ok get-empty "empty get"
[ ! -s "$WORK/get-empty.out" ] || fail "the empty object is not empty"
probe get-missing get full/missing.json
expect_error get-missing "$S3_ENDPOINT" "$S3_BUCKET" NoSuchKey full/missing.json
pass "put/get round trip, empty object; missing key: $(first_line get-missing)"

# --- Ranged GET: exact bytes, bytes_downloaded = length, also across a part boundary.
range_check() {
    local key=$1 file=$2 offset=$3 length=$4
    probe range range "$key" "$offset" "$length"
    ok range "range $key $offset $length"
    dd if="$file" of="$WORK/range.want" iflag=skip_bytes,count_bytes skip="$offset" count="$length" status=none
    cmp -s "$WORK/range.out" "$WORK/range.want" || fail "range $key $offset+$length: other bytes"
    grep -qx "downloaded $length" "$WORK/range.err" || fail "range: $(cat "$WORK/range.err")"
}
range_check full/small.bin "$WORK/small.bin" 0 1
range_check full/small.bin "$WORK/small.bin" 1000 65536
range_check full/small.bin "$WORK/small.bin" $((3 * MIB + 7)) 10
range_check full/multi.bin "$WORK/multi.bin" $((5 * MIB - 1000)) $((2 * MIB))
probe range-past range full/small.bin $((3 * MIB + 17)) 5
expect_error range-past "$S3_BUCKET" "416"
# The sink (stdout) fails: the transfer stops and the sink's error is the one reported.
set +e
"$PROBE" range full/multi.bin 0 $MIB >/dev/full 2>"$WORK/range-sink.err"
RC=$?
set -e
expect_error range-sink "cannot write to stdout"
pass "ranged GETs: exact bytes and byte counts; past the end: $(first_line range-past)"

# --- Listing across pages (page size 7 for 25 keys: 4 pages), keys relative to the prefix.
printf x >"$WORK/x"
for i in $(seq -w 1 25); do s3_put "$S3_BUCKET" "page/k$i" "$WORK/x"; done
S3_LIST_PAGE_SIZE=7 probe list-pages list page/
ok list-pages "paged list"
[ "$(wc -l <"$WORK/list-pages.out")" -eq 25 ] || fail "paged list: $(wc -l <"$WORK/list-pages.out") keys, want 25"
[ "$(cat "$WORK/list-pages.out")" = "$(s3_ls "$S3_BUCKET" page/)" ] || fail "paged list differs from curl's"
S3_PREFIX=page S3_LIST_PAGE_SIZE=10 probe list-rel list k2
ok list-rel "list under a prefix"
[ "$(tr '\n' ' ' <"$WORK/list-rel.out")" = "k20 1 k21 1 k22 1 k23 1 k24 1 k25 1 " ] \
    || fail "relative keys: $(cat "$WORK/list-rel.out")"
pass "list: 25 keys in pages of 7; keys relative to the prefix"

# --- A prefix with a space and '+', keys with characters that must be encoded.
export S3_PREFIX='dir with space/a+b'
odd='x y+z&=?#%é;[].txt'
printf odd >"$WORK/odd"
probe put-odd put-file "$odd" "$WORK/odd"
ok put-odd "odd key"
probe put-dots put-file 'sub/../dot/./k' "$WORK/odd"
ok put-dots "dot segments"
probe list-odd list ""
ok list-odd "list odd"
[ "$(cat "$WORK/list-odd.out")" = "sub/../dot/./k 3
$odd 3" ] || fail "odd keys listed as: $(cat "$WORK/list-odd.out")"
s3_ls "$S3_BUCKET" "$S3_PREFIX/" >"$WORK/ls-odd"
grep -qxF "$S3_PREFIX/$odd 3" "$WORK/ls-odd" || fail "curl sees: $(cat "$WORK/ls-odd")"
probe get-odd get "$odd"
[ "$(cat "$WORK/get-odd.out")" = odd ] || fail "get of the odd key"
probe list-odd-prefix list 'x y+'
[ "$(cat "$WORK/list-odd-prefix.out")" = "$odd 3" ] || fail "list with an odd key prefix"
pass "prefix '$S3_PREFIX', key '$odd' and dot segments: put, list, get"

# --- Virtual-hosted addressing (BUCKET.localhost).
S3_ENDPOINT=${S3_ENDPOINT/127.0.0.1/localhost} S3_PATH_STYLE=0 probe vhost get "$odd"
ok vhost "virtual-hosted get"
[ "$(cat "$WORK/vhost.out")" = odd ] || fail "virtual-hosted get"
unset S3_PREFIX
pass "virtual-hosted addressing"

# --- head and rm.
probe head-missing head full/none
ok head-missing "head of a missing key"
[ "$(cat "$WORK/head-missing.out")" = absent ] || fail "head of a missing key: $(cat "$WORK/head-missing.out")"
probe rm rm full/a.json
ok rm "rm"
[ -z "$(s3_ls "$S3_BUCKET" full/a.json)" ] || fail "rm left the object"
probe rm-again rm full/a.json
ok rm-again "rm of a missing key"
pass "head of a missing key gives nothing; rm, and rm of a missing key, succeed"

# --- Errors: wrong secret, missing bucket, TLS, gateway down.
S3_SECRET_KEY=wrong-secret probe bad-secret get full/small.bin
expect_error bad-secret "$S3_ENDPOINT" "s3://$S3_BUCKET" "HTTP 403" SignatureDoesNotMatch "retryable no"
S3_SECRET_KEY=wrong-secret probe bad-secret-put put-file full/x "$WORK/small.bin"
expect_error bad-secret-put "$S3_ENDPOINT" "s3://$S3_BUCKET" "PUT full/x" "HTTP 403"
pass "wrong secret: $(first_line bad-secret)"

for op in "get k" "list p/" "rm k" "put-file k $WORK/x"; do
    # shellcheck disable=SC2086  # op is a command and its arguments
    S3_BUCKET=no-such-bucket probe no-bucket $op
    expect_error no-bucket NoSuchBucket '"no-such-bucket" does not exist' "$S3_ENDPOINT"
done
pass "missing bucket: $(first_line no-bucket)"

S3_ENDPOINT=${S3_ENDPOINT/http:/https:} probe tls-plain get full/small.bin
expect_error tls-plain "${S3_ENDPOINT/http:/https:}" "SSL" "retryable no"
pass "https to a plain-HTTP port: $(first_line tls-plain)"
S3_ENDPOINT=$S3_TLS_ENDPOINT probe tls-untrusted get full/a.json
expect_error tls-untrusted "$S3_TLS_ENDPOINT" "certificate" "retryable no"
pass "self-signed certificate, system CAs: $(first_line tls-untrusted)"
S3_ENDPOINT=$S3_TLS_ENDPOINT S3_CA_FILE=$S3_TLS_CA probe tls-ca get full/small.bin
ok tls-ca "get over TLS with the CA file"
cmp -s "$WORK/tls-ca.out" "$WORK/small.bin" || fail "get over TLS: other bytes"
S3_ENDPOINT=$S3_TLS_ENDPOINT S3_VERIFY_TLS=0 probe tls-noverify head full/small.bin
ok tls-noverify "head over TLS without verification"
pass "TLS with the CA file, and with verification off, works"

s3_stop_gateway
probe down get full/small.bin
expect_error down "$S3_ENDPOINT" "s3://$S3_BUCKET" "Couldn't connect to server" "http status 0" "retryable yes"
pass "gateway down: $(first_line down)"
s3_start_gateway
probe up-again get full/small.bin
ok up-again "get after the gateway came back"
cmp -s "$WORK/up-again.out" "$WORK/small.bin" || fail "get after restart: other bytes"
pass "gateway back on the same port: get works again"

if grep -lF -- "$S3_SECRET_KEY" "$WORK"/*.err "$WORK"/*.out 2>/dev/null; then
    fail "the secret key appears in the output above"
fi
pass "no message shows the secret key"
pass "test_s3_client done in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
