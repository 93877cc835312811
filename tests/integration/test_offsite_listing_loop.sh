#!/usr/bin/env bash
# A hostile S3 endpoint (tests/tools/fake_s3.py loop, a tiny HTTP server) answers every
# ListObjectsV2 request with a truncated page that names the same continuation token again: a
# listing that would never end. `list --remote`, `verify --remote`, `prune --remote` and
# `offsite sync` each stop at the second page of a listing with an error naming the repeated
# token (two requests), exit 1, and leave the tier folders as they were (offsite sync records the
# error in .pgtier/offsite.json).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
T0=$EPOCHREALTIME
FAKE=$PGTIER_SOURCE_DIR/tests/tools/fake_s3.py

python3 "$FAKE" loop "$WORK/port" "$WORK/count" &
FPID=$!
kill_on_exit "$FPID"
wait_until 10 test -s "$WORK/port" || fail "the fake S3 server did not start"
PORT=$(cat "$WORK/port")
B="$WORK/backups"
mkdir -p "$B"
cat >"$WORK/pgtier.toml" <<TOML
[storage]
dir = "$B"
[offsite]
url = "s3://hostile/p"
endpoint = "http://127.0.0.1:$PORT"
path_style = true
TOML
export AWS_ACCESS_KEY_ID=AKHOSTILE AWS_SECRET_ACCESS_KEY=hostile-secret
tree() { find "$B" -path "$B/.pgtier" -prune -o -print | sort; }
tree_before=$(tree)

i=0
for cmd in "list --remote" "verify --remote" "prune --remote" "offsite sync"; do
    i=$((i + 1))
    tag=run$i
    before=$(cat "$WORK/count" 2>/dev/null || echo 0)
    # shellcheck disable=SC2086  # the subcommand's words
    RUN_TIMEOUT=60 run_pgtier "$tag" --config "$WORK/pgtier.toml" $cmd
    requests=$(($(cat "$WORK/count") - before))
    [ "$RC" != 124 ] || fail_run "$tag" "$cmd was still listing after 60 s ($requests requests)"
    expect_rc "$tag" 1 "$cmd against a listing that repeats its token"
    grep -qF '"same-token-again" again after 2 pages' "$WORK/$tag.err" \
        || fail_run "$tag" "$cmd: the error does not name the repeated token"
    [ "$requests" = 2 ] || fail_run "$tag" "$cmd: $requests requests, expected 2"
    pass "$cmd: exit 1 after $requests requests: $(grep -m1 -F 'again after' "$WORK/$tag.err" | cut -c1-200)"
done
[ "$(tree)" = "$tree_before" ] || fail "the backup directory changed: $(tree)"
jq -e '.last_error | contains("again after 2 pages")' "$B/.pgtier/offsite.json" >/dev/null \
    || fail "offsite.json does not record the error: $(cat "$B/.pgtier/offsite.json")"

pass "test_offsite_listing_loop in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
