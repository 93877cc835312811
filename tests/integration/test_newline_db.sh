#!/usr/bin/env bash
# A database whose name holds a newline cannot be dumped (pg_dump refuses the name): a full backs
# up every other database and publishes them, but the run fails (exit 1) naming that database
# escaped; status and health say so; later runs fail the same way until it is renamed, and then
# a full and an incremental succeed and health is healthy again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start nl
pg_quiet
B="$WORK/backups"
psql_q -d postgres -c "CREATE DATABASE app" -c "CREATE DATABASE \"bad
name\""
psql_db app -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g"
settle

# ---- the full: the rest published, the run failed naming bad\nname
run_pgtier full --dir "$B" backup full
expect_rc full 1 "a full with a database named bad<newline>name"
grep -qF 'bad\nname' "$WORK/full.err" || fail_run full "stderr does not name the database as bad\\nname"
grep -qF 'not backed up' "$WORK/full.err" || fail_run full "stderr does not say the database was not backed up"
! grep -qx 'name.*' "$WORK/full.err" || fail_run full "the raw newline of the name reached the log"
A=$(new_archive "$B" full "")
check_archive "$A" full
[ "$(manifest_dbs "$A" | tr '\n' ' ')" = "app postgres template1 " ] || fail "the archive holds: $(manifest_dbs "$A" | tr '\n' ' ')"
grep -qF "wrote full/$(basename "$A")" "$WORK/full.out" || fail_run full "stdout does not report the published archive"
grep -qF 'failed: not backed up: "bad\nname"' "$WORK/full.out" || fail_run full "stdout does not say the run failed"
pass "full: exit 1, $(basename "$A") published without it: $(cat "$WORK/full.out")"

run_pgtier st --dir "$B" status --json
jq -e '.tiers.full.last_run.result == "failed" and (.tiers.full.last_run.detail | contains("bad\\nname")) and (.tiers.full.last_run.archive | length > 0)' \
    "$WORK/st.out" >/dev/null || fail_run st "status --json does not show the failed full with the database and its archive"
run_pgtier health --dir "$B" health
expect_rc health 1 "health after a full that left a database out"
grep -E '^unhealthy: the last full run .* failed: not backed up: "bad\\nname"' "$WORK/health.out" >/dev/null \
    || fail_run health "health does not name the database not backed up"
pass "health: $(head -n1 "$WORK/health.out")"

# ---- an incremental tries it again (nothing else changed): failed, nothing published
run_pgtier incr --dir "$B" backup incremental
expect_rc incr 1 "an incremental with the database still there"
grep -qF 'bad\nname' "$WORK/incr.err" || fail_run incr "the incremental does not name the database"
[ "$(count_archives "$B" incremental)" = 0 ] || fail_run incr "an incremental of nothing was published"
pass "incremental: exit 1 again, nothing published ($(cat "$WORK/incr.out"))"

# ---- renamed: a full succeeds, health is back
psql_q -d postgres -c "ALTER DATABASE \"bad
name\" RENAME TO bad_name"
settle
run_pgtier full2 --dir "$B" backup full
expect_rc full2 0 "a full after the rename"
A2=$(new_archive "$B" full "$A")
manifest_dbs "$A2" | grep -qx bad_name || fail "the renamed database is not in $A2"
run_pgtier incr2 --dir "$B" backup incremental
expect_rc incr2 0 "an incremental after the rename"
run_pgtier health2 --dir "$B" health
expect_rc health2 0 "health after a complete full"
pass "renamed: full published with bad_name, health: $(head -n1 "$WORK/health2.out")"
