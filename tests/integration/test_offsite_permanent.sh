#!/usr/bin/env bash
# Issue 23 item 3, against the real gateway (lib_s3.sh): an offsite error a retry cannot mend makes
# `health` fail at once, naming the error and the fix, instead of looking healthy until
# offsite.max_lag (24 h) has passed. A wrong bucket name (NoSuchBucket): `backup full` exits 0 with
# a warning that carries the fix, `health` fails at once, status --json says "permanent"; the
# right bucket and one sync make it healthy again. A wrong secret key (SignatureDoesNotMatch) and
# the HTTPS endpoint without its CA file (a TLS failure) are permanent too. The gateway stopped
# (connection refused) is transient: health stays healthy within max_lag. A self-hosted endpoint
# without path_style ("Could not resolve host: BUCKET.127.0.0.1") gets the hint to set it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

B="$WORK/backups" CFG="$WORK/pgtier.toml" BUCKET=pgtier-perm PREFIX=node1
offsite_bucket
pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop"
psql_db shop -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g"
settle

# health_out TAG — health's stdout and stderr together.
health_out() { cat "$WORK/$1.out" "$WORK/$1.err"; }
# status_offsite TAG FILTER — status --json, then jq -e FILTER on its offsite object.
status_offsite() {
    run_pgtier "$1" --config "$CFG" status --json
    expect_rc "$1" 0 "status --json"
    jq -e ".offsite | $2" "$WORK/$1.out" >/dev/null || fail_run "$1" "status --json: .offsite does not satisfy $2"
}

# ---- a wrong bucket name: exit 0 with a warning, health fails at once --------------------------------
BUCKET=pgtier-prem offsite_toml "$B" >"$CFG"
run_pgtier full --config "$CFG" backup full
expect_rc full 0 "backup full with a wrong bucket name (the archive is published locally)"
F=$(archives "$B" full)
check_archive "$F" full
grep -E 'warn.*offsite: .*NoSuchBucket.*stay pending for the next sync; it does not go away by itself: create the bucket "pgtier-prem", or correct the bucket name in offsite\.url' \
    "$WORK/full.err" >/dev/null || fail_run full "the warning does not name NoSuchBucket and the fix"
run_pgtier h1 --config "$CFG" health
expect_rc h1 1 "health right after a sync that failed with NoSuchBucket (max_lag 24h not reached)"
health_out h1 | grep -E '^unhealthy: offsite: the last sync \([0-9T:-]+Z\) failed with an error a retry cannot mend: .*NoSuchBucket.*create the bucket "pgtier-prem", or correct the bucket name in offsite\.url; then run pgtier offsite sync$' >/dev/null \
    || fail_run h1 "health does not name NoSuchBucket and the fix"
status_offsite st1 '.last_error_class == "permanent" and (.last_error_fix | startswith("create the bucket")) and .pending == 1'
run_pgtier st1t --config "$CFG" status
grep -qF '  it does not go away by itself: create the bucket "pgtier-prem"' "$WORK/st1t.out" || fail_run st1t "status does not show the fix under the last error"
grep -Eq '^pgtier_offsite_last_sync_ok 0(\.0+)?$' "$B/.pgtier/metrics.prom" || fail "metrics.prom: last_sync_ok is not 0"
pass "wrong bucket: backup exit 0 with the fix in its warning; health exit 1 at once:"
sed 's/^/    /' "$WORK/h1.out"

# ---- corrected: one sync, healthy again --------------------------------------------------------------
offsite_toml "$B" >"$CFG"
run_pgtier s1 --config "$CFG" offsite sync
expect_rc s1 0 "offsite sync into the right bucket"
bucket_matches_local
run_pgtier h2 --config "$CFG" health
expect_rc h2 0 "health after the corrected sync"
status_offsite st2 '.last_error == "" and .last_error_class == null and .pending == 0'
pass "bucket name corrected: one sync uploads the full; health healthy"

# ---- a wrong secret key: SignatureDoesNotMatch, permanent ------------------------------------------
printf 'not-the-secret\n' >"$WORK/bad_secret"
offsite_toml "$B" | sed "s|^secret_access_key_file = .*|secret_access_key_file = \"$WORK/bad_secret\"|" >"$CFG"
run_pgtier s2 --config "$CFG" offsite sync
expect_rc s2 1 "offsite sync with a wrong secret key"
grep -E 'SignatureDoesNotMatch.*it does not go away by itself: correct the secret access key' "$WORK/s2.err" >/dev/null \
    || fail_run s2 "offsite sync does not name SignatureDoesNotMatch and the fix"
run_pgtier h3 --config "$CFG" health
expect_rc h3 1 "health after SignatureDoesNotMatch (nothing pending)"
health_out h3 | grep -q 'SignatureDoesNotMatch.*correct the secret access key' || fail_run h3 "health does not name SignatureDoesNotMatch"
pass "wrong secret key: sync exit 1 and health exit 1 at once, both with the fix"

# ---- HTTPS without the gateway's CA: a TLS failure, permanent --------------------------------------
offsite_toml "$B" | sed "s|^endpoint = .*|endpoint = \"$S3_TLS_ENDPOINT\"|" >"$CFG"
run_pgtier s3 --config "$CFG" offsite sync
expect_rc s3 1 "offsite sync to the HTTPS endpoint without its CA file"
run_pgtier h4 --config "$CFG" health
expect_rc h4 1 "health after a TLS failure"
health_out h4 | grep -q 'retry cannot mend: .*offsite\.ca_file' || fail_run h4 "health does not give the TLS fix (offsite.ca_file)"
# with the CA file it works: the classification did not outlive its cause
offsite_toml "$B" "ca_file = \"$S3_TLS_CA\"" | sed "s|^endpoint = .*|endpoint = \"$S3_TLS_ENDPOINT\"|" >"$CFG"
run_pgtier s4 --config "$CFG" offsite sync
expect_rc s4 0 "offsite sync over HTTPS with the CA file"
run_pgtier h5 --config "$CFG" health
expect_rc h5 0 "health after the HTTPS sync"
pass "HTTPS without its CA: health exit 1 at once naming offsite.ca_file; with it, healthy"

# ---- the gateway stopped: transient, health waits for max_lag ---------------------------------------
offsite_toml "$B" >"$CFG"
psql_db shop -c "INSERT INTO t VALUES (-1, 'during the outage')"
settle
s3_stop_gateway
run_pgtier incr --config "$CFG" backup incr
expect_rc incr 0 "backup incr with the gateway down"
grep -qE "warn.*offsite: .*$S3_ENDPOINT.*stay pending for the next sync" "$WORK/incr.err" || fail_run incr "no warning about the failed upload"
grep -q 'does not go away by itself' "$WORK/incr.err" && fail_run incr "a refused connection was called permanent"
run_pgtier h6 --config "$CFG" health
expect_rc h6 0 "health with the gateway down, within max_lag (24h)"
status_offsite st6 '.last_error_class == "transient" and .last_error_fix == "" and .pending == 1'
sleep 2
PGTIER_OFFSITE_MAX_LAG=1s run_pgtier h7 --config "$CFG" health
expect_rc h7 1 "health beyond max_lag (1s)"
health_out h7 | grep -q 'has waited .*offsite\.max_lag' || fail_run h7 "health beyond max_lag does not name the lag"
s3_start_gateway
pass "gateway down: transient; health exit 0 within max_lag, exit 1 beyond it (the lag, as before)"

# ---- path_style left out on a self-hosted endpoint: the hint -------------------------------------
offsite_toml "$B" | sed '/^path_style/d' >"$CFG"
run_pgtier s5 --config "$CFG" offsite sync
expect_rc s5 1 "offsite sync without path_style"
grep -qF "Could not resolve host: $BUCKET.127.0.0.1" "$WORK/s5.err" || fail_run s5 "not the unresolvable BUCKET.HOST"
grep -qF 'it does not go away by itself: set offsite.path_style = true' "$WORK/s5.err" || fail_run s5 "no hint to set path_style"
run_pgtier h8 --config "$CFG" health
expect_rc h8 1 "health after the unresolvable virtual-hosted name"
health_out h8 | grep -qF 'set offsite.path_style = true' || fail_run h8 "health does not give the path_style hint"
offsite_toml "$B" >"$CFG"
run_pgtier s6 --config "$CFG" offsite sync
expect_rc s6 0 "offsite sync with path_style back"
bucket_matches_local
run_pgtier h9 --config "$CFG" health
expect_rc h9 0 "health after the sync"
pass "no path_style: 'Could not resolve host: $BUCKET.127.0.0.1' with the hint to set offsite.path_style = true; health exit 1 at once; set back, healthy; the sync said:"
sed 's/^/    /' "$WORK/s5.err"

pass "test_offsite_permanent in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
