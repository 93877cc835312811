#!/usr/bin/env bash
# Offsite copies, the normal path, against a real S3 server (a throwaway Ceph RADOS Gateway,
# lib_s3.sh) and checked with an independent client (curl): a full and an incremental of a
# cluster with three databases go to s3://BUCKET/site-a/node1, each uploaded by the one-shot
# backup itself (a sync right after finds nothing to do); every archive, sidecar and manifest
# object holds exactly the local file's bytes and nothing else is under the prefix;
# `list --remote` shows both complete; `verify --remote` and `verify --remote --deep` say OK for
# each; a second sync uploads nothing; status, metrics.prom and health report nothing pending.
# Then a zstd incremental (.sql.zst) goes up the same way, is complete in `list --remote`, decodes
# in `verify --remote --deep` and is fetched into an empty directory with its latest link, after a
# fetch of it killed with its .partial written (the next fetch sweeps that partial).
# Last, every command that reports runs with --json over these archives and the bucket: one schema
# 1 document on stdout each, checked with jq (docs/json-output.md); errors are documents too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

B="$WORK/backups" CFG="$WORK/pgtier.toml" BUCKET=pgtier-upload PREFIX=site-a/node1
offsite_bucket
offsite_toml "$B" >"$CFG"

pg_start src
pg_quiet
psql_q -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE crm"
psql_db shop -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g"
psql_db crm -c "CREATE TABLE c (id int)" -c "INSERT INTO c VALUES (1)"
settle

# ---- a full, then an incremental; the one-shot backup uploads each itself -------------------------
backup_and_sync() { # TAG TIER
    run_pgtier "$1" --config "$CFG" backup "$2"
    expect_rc "$1" 0 "backup $2"
    grep -qF "offsite: 1 uploaded to s3://$BUCKET/$PREFIX at $S3_ENDPOINT, 0 pending" "$WORK/$1.out" "$WORK/$1.err" \
        || fail_run "$1" "backup $2 did not report its archive uploaded"
    run_pgtier "$1-sync" --config "$CFG" offsite sync
    expect_rc "$1-sync" 0 "offsite sync after backup $2"
    grep -qF ": 0 uploaded (0 B), 0 deleted by remote retention, 0 pending" "$WORK/$1-sync.out" \
        || fail_run "$1-sync" "offsite sync right after backup $2 found something to do"
}
backup_and_sync full full
F=$(archives "$B" full)
[ "$(manifest_dbs "$F" | tr '\n' ' ')" = "crm postgres shop template1 " ] || fail "the full holds $(manifest_dbs "$F" | tr '\n' ' ')"
psql_db shop -c "INSERT INTO t VALUES (-1, 'after the full')"
settle
backup_and_sync incr incr
I=$(archives "$B" incremental)
[ -n "$I" ] || fail_run incr "no incremental archive"
check_archive "$F" full
check_archive "$I" incremental

# ---- the bucket holds the local files' bytes, and nothing else under the prefix ------------------
bucket_matches_local
[ "$(s3_ls "$BUCKET" | wc -l)" = 6 ] || fail "the bucket holds more than the six objects: $(s3_ls "$BUCKET")"
pass "bucket: 6 objects under $PREFIX/ (archive, sidecar, manifest of each), bytes identical to the local files"

# ---- list --remote ------------------------------------------------------------------------------
run_pgtier lr --config "$CFG" list --remote
expect_rc lr 0 "list --remote"
for a in "full/$(basename "$F")" "incremental/$(basename "$I")"; do
    grep -E "complete +$a\$" "$WORK/lr.out" >/dev/null || fail_run lr "list --remote does not show $a as complete"
done
grep -q INCOMPLETE "$WORK/lr.out" && fail_run lr "list --remote shows something INCOMPLETE"
run_pgtier lrj --config "$CFG" list --remote --json
expect_rc lrj 0 "list --remote --json"
[ "$(jq -r '.archives | map("\(.tier)/\(.name) \(.state) \(.size) \(.sha256)") | sort | join(",")' "$WORK/lrj.out")" \
    = "full/$(basename "$F") complete $(stat -c %s "$F") $(sha256sum <"$F" | cut -c1-64),incremental/$(basename "$I") complete $(stat -c %s "$I") $(sha256sum <"$I" | cut -c1-64)" ] \
    || fail_run lrj "list --remote --json differs"
pass "list --remote: both archives complete (sizes and hashes in --json are the local ones)"

# ---- verify --remote, shallow and deep ----------------------------------------------------------
want_ok="OK s3://$BUCKET/$PREFIX/full/$(basename "$F")
OK s3://$BUCKET/$PREFIX/incremental/$(basename "$I")"
for deep in "" --deep; do
    run_pgtier "vr$deep" --config "$CFG" verify --remote $deep
    expect_rc "vr$deep" 0 "verify --remote $deep"
    [ "$(sort "$WORK/vr$deep.out")" = "$want_ok" ] || fail_run "vr$deep" "verify --remote $deep: expected exactly the two OK lines"
done
pass "verify --remote and verify --remote --deep: OK for both"

# ---- a second sync uploads nothing ------------------------------------------------------------
before=$(bucket_state)
run_pgtier again --config "$CFG" offsite sync
expect_rc again 0 "a second offsite sync"
grep -qF "s3://$BUCKET/$PREFIX at $S3_ENDPOINT: 0 uploaded" "$WORK/again.out" || fail_run again "expected '0 uploaded'"
grep -qF "0 deleted by remote retention, 0 pending" "$WORK/again.out" || fail_run again "expected nothing deleted or pending"
[ "$(bucket_state)" = "$before" ] || fail "the second sync changed the bucket"
pass "a second sync: 0 uploaded, bucket unchanged"

# ---- status, metrics, health --------------------------------------------------------------
run_pgtier st --config "$CFG" status --json
expect_rc st 0 "status --json"
jq -e --arg url "s3://$BUCKET/$PREFIX" '.offsite | .url == $url and .pending == 0 and .pending_bytes == 0
    and .oldest_pending == null and .last_error == "" and (.last_success_at | type == "string")' \
    "$WORK/st.out" >/dev/null || fail_run st "status --json: offsite block is not pending 0 with a last_success_at"
M="$B/.pgtier/metrics.prom"
grep -Eq '^pgtier_offsite_pending_archives 0(\.0+)?$' "$M" || fail "metrics.prom: $(grep offsite "$M" || echo 'no offsite gauges')"
grep -Eq '^pgtier_offsite_pending_bytes 0(\.0+)?$' "$M" || fail "metrics.prom: pending bytes not 0"
grep -Eq '^pgtier_offsite_last_sync_ok 1(\.0+)?$' "$M" || fail "metrics.prom: last_sync_ok not 1"
grep -Eq '^pgtier_offsite_lag_seconds 0(\.0+)?$' "$M" || fail "metrics.prom: lag not 0"
run_pgtier st-text --config "$CFG" status
grep -qF "offsite s3://$BUCKET/$PREFIX: 0 pending" "$WORK/st-text.out" || fail_run st-text "status: no offsite line with 0 pending"
PGTIER_OFFSITE_MAX_LAG=1s run_pgtier health --config "$CFG" health
expect_rc health 0 "health with nothing pending (offsite.max_lag 1s)"
grep -q offsite "$WORK/health.out" "$WORK/health.err" && fail_run health "health reports an offsite problem with nothing pending"
pass "status --json: pending 0, last_success_at set; metrics.prom: pending 0, last_sync_ok 1; health: no offsite problem"

# ---- a zstd archive beside them (issue 15): uploaded, listed, decoded remotely, fetched ----------
psql_db shop -c "INSERT INTO t VALUES (-2, 'zstd')"
settle
PGTIER_COMPRESSION_FORMAT=zstd backup_and_sync zincr incr
Z=$(archives "$B" incremental | grep '\.sql\.zst$')
[ -n "$Z" ] || fail "no zstd incremental"
bucket_matches_local
run_pgtier zlr --config "$CFG" list --remote
grep -E "complete +incremental/$(basename "$Z")\$" "$WORK/zlr.out" >/dev/null || fail_run zlr "list --remote does not show the zstd archive as complete"
run_pgtier zvr --config "$CFG" verify --remote --deep "$(basename "$Z")"
expect_rc zvr 0 "verify --remote --deep of the zstd archive"
grep -qx "OK s3://$BUCKET/$PREFIX/incremental/$(basename "$Z")" "$WORK/zvr.out" || fail_run zvr "no OK line"
# A fetch killed (SIGKILL) once its .partial holds every byte: strace holds its fsync of the file.
ZN=$(basename "$Z")
(
    # LeakSanitizer (the sanitizer build) cannot work under ptrace and fails the run.
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    exec strace -f -qq -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=60000000 \
        "$PGTIER" --config "$CFG" --dir "$WORK/fetched" fetch "$ZN" >"$WORK/kfetch.out" 2>"$WORK/kfetch.err"
) 2>/dev/null &
KPID=$!
kill_on_exit "$KPID"
partial_whole() { [ "$(stat -c %s "$WORK/fetched/incremental/.$ZN.partial" 2>/dev/null)" = "$(stat -c %s "$Z")" ]; }
wait_until 30 partial_whole || { cat "$WORK/kfetch.err" >&2; fail "the traced fetch did not write its whole .partial within 30 s"; }
FPID=$(pgrep -P "$KPID") || fail "no pgtier process under strace"
kill -KILL "$FPID"
kill -KILL "$KPID" 2>/dev/null || true
wait "$KPID" || true
[ -f "$WORK/fetched/incremental/.$ZN.partial" ] || fail "the killed fetch left no .partial"
[ ! -e "$WORK/fetched/incremental/$ZN" ] || fail "the killed fetch published the archive"
pass "fetch killed with its .partial written: $(partials "$WORK/fetched" | xargs -n1 basename) left"
run_pgtier zfetch --config "$CFG" --dir "$WORK/fetched" fetch "$ZN"
expect_rc zfetch 0 "fetch of the zstd archive into an empty directory"
cmp "$Z" "$WORK/fetched/incremental/$(basename "$Z")" || fail "the fetched zstd archive differs"
[ "$(readlink "$WORK/fetched/incremental/latest_incremental.sql.zst")" = "$(basename "$Z")" ] \
    || fail "fetch did not point latest_incremental.sql.zst at the zstd archive"
run_pgtier zv --config "$CFG" --dir "$WORK/fetched" verify
expect_rc zv 0 "verify of the fetched zstd archive"
[ -z "$(partials "$WORK/fetched")" ] || fail "the fetch left the killed fetch's partial: $(partials "$WORK/fetched")"
grep -qF "removed $WORK/fetched/incremental/.$ZN.partial left by an interrupted run" "$WORK/zfetch.err" \
    || fail_run zfetch "the fetch does not log that it removed the killed fetch's partial"
pass "a zstd archive: uploaded with its sidecar and manifest, complete in list --remote, OK in verify --remote --deep, fetched over a killed fetch's partial and verified"

# ---- --json on every command that reports: one schema 1 document on stdout -------------------------
# json_run TAG RC FILTER ARGS... — pgtier ARGS --json must exit RC with exactly one JSON document on
# stdout that has schema 1 and "command" first, and FILTER (jq) true on it.
json_run() {
    local tag=$1 rc=$2 filter=$3
    shift 3
    run_pgtier "$tag" --config "$CFG" "$@" --json
    expect_rc "$tag" "$rc" "$* --json"
    jq -se 'length == 1 and (.[0] | type == "object" and (keys_unsorted[0:3] == ["schema", "command", "ok"])
        and .schema == 1)' "$WORK/$tag.out" >/dev/null \
        || fail_run "$tag" "$* --json: stdout is not one document starting with schema, command, ok"
    jq -e "$filter" "$WORK/$tag.out" >/dev/null || fail_run "$tag" "$* --json: not $filter"
}
psql_db shop -c "INSERT INTO t VALUES (-3, 'json')"
settle
json_run jbackup 0 '.command == "backup" and .ok and .requested == "incremental" and .result == "published"
    and .archive.tier == "incremental" and (.archive.time | test("^[0-9-]{10}T[0-9:.]{15}Z$"))
    and .archive.size_bytes > 0 and .archive.databases == ["shop"] and .not_backed_up == []
    and .offsite.command == "offsite sync" and .offsite.ok and (.offsite.uploaded | map(.name)) == [.archive.name]' \
    backup incr
J=$(jq -r .archive.name "$WORK/jbackup.out")
JSON_INCR=$J JSON_FULL=$(basename "$F")
export JSON_INCR JSON_FULL  # read by the filters below as env.JSON_*
[ "$(stat -c %s "$B/incremental/$J")" = "$(jq -r .archive.size_bytes "$WORK/jbackup.out")" ] \
    || fail_run jbackup "backup --json: size_bytes is not the archive's size"
json_run jlist 0 '.command == "list" and (.archives | length) == 4 and .archives[0].name == env.JSON_INCR
    and all(.archives[]; .state == "complete" and (.time | endswith("Z")) and .size_bytes == .size and (.databases | length) > 0)' list
json_run jlistr 0 '.remote and (.archives | length) == 4' list --remote
json_run jverify 0 '.command == "verify" and .ok and (.remote | not) and (.archives | length) == 4
    and all(.archives[]; .ok and .error == null)' verify
json_run jverifyr 0 '.remote and .deep and (.archives | length) == 4 and all(.archives[]; .ok)' verify --remote --deep
json_run jverifyx 1 '(.ok | not) and .archives[0].archive == "nosuch" and (.archives[0].error | test("no such archive"))' \
    verify nosuch
json_run jprune 0 '.command == "prune" and .dry_run and (.kept | length) == 4 and .deleted == []
    and all(.kept[]; .reason != "" and (.time | endswith("Z")))' prune --dry-run
json_run jpruner 0 '.remote and .dry_run and (.policy | test("retention")) and (.kept | length) == 4' prune --remote --dry-run
json_run jplan 0 '.command == "restore plan" and .base == {name: env.JSON_FULL, tier: "full"}
    and .steps[0] == {step: 1, restore: "globals", tier: "full", archive: env.JSON_FULL,
                      compressed_bytes: .steps[0].compressed_bytes}
    and ([.steps[].step] == [range(1; (.steps | length) + 1)])
    and any(.steps[]; .database == "shop" and .archive == env.JSON_INCR) and all(.reads[]; .from == "local")' restore plan
json_run jldb 0 '.command == "restore list-databases" and (.databases | map(.database) | index("crm")) != null' \
    restore list-databases latest-full
json_run jsync 0 '.command == "offsite sync" and .ok and .uploaded == [] and .pending == [] and .error == null' offsite sync
json_run jsyncd 0 '.dry_run and .uploaded == []' offsite sync --dry-run
PGTIER_OFFSITE_MAX_LAG=1s json_run jhealth 0 '.command == "health" and .verdict == "healthy" and .reasons == []' health
json_run jlive 1 '.command == "health" and .live and (.ok | not) and .verdict == "not alive" and .daemon == null
    and (.reasons | length) == 1' health --live
json_run jstatus 0 '.command == "status" and (.tiers | has("incremental"))' status
json_run jsched 0 '.command == "schedule" and .timezone == "UTC" and .from == "2026-12-01T00:00:00.000000Z"
    and .next_runs == ["2026-12-01T03:00:00.000000Z", "2026-12-02T03:00:00.000000Z"]' \
    schedule '0 3 * * *' --from 2026-12-01T00:00:00Z --count 2
# Errors: an expression that never fires, a refused option, and a bucket that cannot be listed are
# documents with ok false.
json_run jschedx 2 '(.ok | not) and (.error | test("never meet"))' schedule '0 0 30 2 *'
json_run jprunex 2 '. == {schema: 1, command: "prune", ok: false, error: .error} and (.error | test("--at only goes with --dry-run"))' \
    prune --at 2026-01-01T00:00:00Z
offsite_toml "$B" | sed "s|s3://$BUCKET/|s3://no-such-bucket-$$/|" >"$WORK/nobucket.toml"
run_pgtier jlistx --config "$WORK/nobucket.toml" list --remote --json
expect_rc jlistx 1 "list --remote --json of a missing bucket"
jq -e '.schema == 1 and .command == "list" and (.ok | not) and (.error | length) > 0' "$WORK/jlistx.out" >/dev/null \
    || fail_run jlistx "list --remote --json of a missing bucket: no error document"
pass "--json: backup, list, verify (local, --remote --deep, a missing archive), prune (local and --remote dry runs), restore plan, list-databases, offsite sync (and --dry-run), health (and --live), status, schedule: one schema 1 document each; errors are documents with ok false"

pass "test_offsite_upload in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
