#!/usr/bin/env bash
# Webhook notifications ([notify]) of one-shot backups, against a local HTTP listener
# (pgtier_webhook_listener, cpp-httplib): the JSON body of a success (on_success), a failure and
# the recovery after it; no event for a plain success; the slack format; a listener that is down
# (the backup still succeeds, a warning names the host only), one that is slow (the timeout
# bounds the wait) and one that answers 500 before 200 (retried).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start nt
pg_quiet
psql_q -d postgres -c "CREATE DATABASE app"
psql_db app -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
settle
B="$WORK/backups"
SYSID=$(psql_q -d postgres -c "SELECT system_identifier FROM pg_control_system()")

ISO='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# ---- JSON: a success with on_success, a failure, the recovery, then silence ------------------------
start_listener hook
URL="http://127.0.0.1:$PORT/hooks/T0001/secret-token"
export PGTIER_NOTIFY_URLS=$URL
PGTIER_NOTIFY_ON_SUCCESS=true run_pgtier f1 --dir "$B" backup full
expect_rc f1 0 "backup full with a webhook"
[ "$(received hook)" = 1 ] || fail_run f1 "the listener got $(received hook) requests, want 1 (the one-shot waits for delivery)"
F1=$(archives "$B" full)
body hook 1 | jq -e --arg host "$(uname -n)" --arg sysid "$SYSID" --arg iso "$ISO" \
    --arg archive "full/$(basename "$F1")" --argjson size "$(stat -c %s "$F1")" '
    .schema == 1 and .event == "backup_succeeded" and .scope == "backup" and .tier == "full"
    and .archive == $archive and .size_bytes == $size and (.duration_s | type) == "number"
    and .duration_s > 0 and .error == null and .host == $host and .cluster == $sysid
    and (.time | test($iso))' >/dev/null || fail "unexpected success body: $(body hook 1)"
[ "$(sed -n 1p "$WORK/hook/1.meta")" = /hooks/T0001/secret-token ] || fail "posted to $(sed -n 1p "$WORK/hook/1.meta")"
[ "$(sed -n 2p "$WORK/hook/1.meta")" = application/json ] || fail "Content-Type $(sed -n 2p "$WORK/hook/1.meta")"
pass "backup_succeeded (on_success): $(body hook 1)"

pg_stop nt
run_pgtier i1 --dir "$B" backup incr
expect_rc i1 1 "backup incr with the server down"
[ "$(received hook)" = 2 ] || fail_run i1 "no backup_failed event (requests: $(received hook))"
body hook 2 | jq -e '.event == "backup_failed" and .tier == "incremental" and .archive == null
    and (.error | test("connect|server|socket"))' >/dev/null || fail "unexpected failure body: $(body hook 2)"
pass "backup_failed: $(body hook 2 | jq -c '{event, tier, error}' | cut -c1-160)"

pg_start nt
run_pgtier i2 --dir "$B" backup incr
expect_rc i2 0 "backup incr with the server back"
[ "$(received hook)" = 3 ] || fail_run i2 "no recovered event (requests: $(received hook))"
body hook 3 | jq -e '.event == "recovered" and .tier == "incremental" and .error == null' >/dev/null \
    || fail "unexpected recovery body: $(body hook 3)"
run_pgtier i3 --dir "$B" backup incr
expect_rc i3 0 "another backup incr"
[ "$(received hook)" = 3 ] || fail "a plain success without on_success sent an event: $(body hook 4)"
pass "recovered after the failure; nothing for a plain success"

# ---- slack ------------------------------------------------------------------------------------------
t0=$(date +%s%N)
PGTIER_NOTIFY_FORMAT=slack PGTIER_NOTIFY_ON_SUCCESS=true run_pgtier s1 --dir "$B" backup incr
BASE_MS=$((($(date +%s%N) - t0) / 1000000))  # a run whose event is delivered at once
expect_rc s1 0 "backup incr, slack format"
[ "$(received hook)" = 4 ] || fail_run s1 "no slack event"
body hook 4 | jq -e 'keys == ["text"] and (.text | test("the incremental backup succeeded"))' >/dev/null \
    || fail "unexpected slack body: $(body hook 4)"
pass "slack: $(body hook 4)"
kill "$LISTENER_PID"
wait "$LISTENER_PID" 2>/dev/null || true

# ---- a listener that is down: the backup succeeds, a warning names the host, not the URL ------------
DOWN=$(_free_port)
PGTIER_NOTIFY_URLS="http://127.0.0.1:$DOWN/hooks/secret-token" PGTIER_NOTIFY_ON_SUCCESS=true \
    PGTIER_NOTIFY_RETRIES=1 PGTIER_NOTIFY_TIMEOUT=2 run_pgtier d1 --dir "$B" backup incr
expect_rc d1 0 "backup incr with the webhook down"
grep -q "notify: could not deliver backup_succeeded to 127.0.0.1:$DOWN (2 attempt(s)" "$WORK/d1.err" \
    || fail_run d1 "no warning about the undelivered event"
grep -q 'warn.*notify: could not deliver' "$WORK/d1.err" || fail_run d1 "the delivery failure is not a warning"
! grep -q 'secret-token' "$WORK/d1.err" "$WORK/d1.out" || fail_run d1 "the webhook URL's path is in the output"
pass "listener down: exit 0, '$(grep 'could not deliver' "$WORK/d1.err" | cut -c1-160)'"

# ---- slow: each attempt ends at the timeout, and the command does not wait longer ----------------------
start_listener slow slow=60
t0=$(date +%s%N)
PGTIER_NOTIFY_URLS="http://127.0.0.1:$PORT/h" PGTIER_NOTIFY_ON_SUCCESS=true PGTIER_NOTIFY_RETRIES=1 \
    PGTIER_NOTIFY_TIMEOUT=1 run_pgtier w1 --dir "$B" backup incr
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc w1 0 "backup incr with a slow webhook"
# the bound: 2 attempts of 1 s and a 1 s back-off over a run like s1, far from the listener's 60 s
[ "$ms" -lt $((BASE_MS + 15000)) ] || fail_run w1 "took $ms ms (a plain run: $BASE_MS ms) with a 1 s timeout and one retry"
grep -q "could not deliver backup_succeeded to 127.0.0.1:$PORT (2 attempt(s), the last: Timeout" "$WORK/w1.err" \
    || fail_run w1 "no timeout warning"
[ "$(received slow)" = 2 ] || fail "the slow listener got $(received slow) requests, want 2"
pass "slow listener (60 s): exit 0 after $ms ms (a plain run: $BASE_MS ms; timeout 1 s, 1 retry), 2 attempts"
kill "$LISTENER_PID"
wait "$LISTENER_PID" 2>/dev/null || true

# ---- 500, 500, then 200: retried with back-off, delivered ----------------------------------------------
start_listener flaky fail-first=2
PGTIER_NOTIFY_URLS="http://127.0.0.1:$PORT/h" PGTIER_NOTIFY_ON_SUCCESS=true PGTIER_NOTIFY_RETRIES=3 \
    run_pgtier r1 --dir "$B" backup incr
expect_rc r1 0 "backup incr with a flaky webhook"
[ "$(received flaky)" = 3 ] || fail_run r1 "the flaky listener got $(received flaky) requests, want 3"
grep -q 'attempt 2 of 4 failed (HTTP status 500), retrying' "$WORK/r1.err" || fail_run r1 "the retries are not logged"
! grep -q 'could not deliver' "$WORK/r1.err" || fail_run r1 "a delivered event is reported undelivered"
cmp -s "$WORK/flaky/1.json" "$WORK/flaky/3.json" || fail "the retry sent another body"
pass "500, 500, 200: delivered on the third attempt"
