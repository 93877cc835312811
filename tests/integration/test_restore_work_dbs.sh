#!/usr/bin/env bash
# Issue 11: kill -9 of pgtier during `restore database` leaves its work database
# pgtier_restore_<pid>_<n>. Backups never include such a database (neither as a section nor in the
# fingerprint), and the next restore and the daemon's start drop work databases whose pid is gone
# (and which carry pgtier's mark), saying so, while the work database of a live pid (a concurrent restore) is kept. Deterministic:
# the restored section holds an `ALTER ROLE r_block …` that waits for a transaction of the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_table_db "my db" 1000
psql_q -d postgres -c "CREATE ROLE r_block NOLOGIN"
settle
take_backup full full
FULL=$ARCHIVE
X=$(inject_sql "$FULL" "my db" "$WORK/blocking" "ALTER ROLE r_block CONNECTION LIMIT 2;")

# ---- kill -9 while the restore loads ------------------------------------------------------------
mkfifo "$WORK/holder.fifo"
psql -X -q -d postgres <"$WORK/holder.fifo" >/dev/null 2>&1 &
HOLDER=$!
exec 9>"$WORK/holder.fifo"
echo "BEGIN; ALTER ROLE r_block CONNECTION LIMIT 1;" >&9
"$PGTIER" --dir "$B" restore database "$X" "my db" --as copy >"$WORK/kill.out" 2>"$WORK/kill.err" &
pid=$!
kill_on_exit "$pid"
restore_waits() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'pgtier\_restore\_%' AND wait_event_type = 'Lock'")" -ge 1 ]; }
wait_until 60 restore_waits || { cat "$WORK/kill.err" >&2; fail "the restore never waited for the lock"; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "ROLLBACK;" >&9
exec 9>&-
wait "$HOLDER" || true
# The killed restore's server session ends once it has its lock and finds psql gone; until then
# the work database counts as in use.
no_session() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtier-restore-$pid-1'")" = 0 ]; }
wait_until 30 no_session || fail "the killed restore's server session did not end"
STALE=$(work_dbs)
[ "$STALE" = "pgtier_restore_${pid}_1" ] || fail "expected the work database pgtier_restore_${pid}_1 after kill -9, have: '$STALE'"
pass "kill -9 during the restore left $STALE"

# ---- backups never hold a work database -----------------------------------------------------------
take_backup incr-forced incr --force
manifest_dbs "$ARCHIVE" | grep -q '^pgtier_restore_' && fail "the incremental holds a work database: $(manifest_dbs "$ARCHIVE" | tr '\n' ' ')"
jq -e '[.fingerprint.databases[].name | select(startswith("pgtier_restore_"))] | length == 0' "$ARCHIVE.json" >/dev/null \
    || fail "the incremental's fingerprint lists a work database"
manifest_dbs "$ARCHIVE" | grep -qx "my db" || fail "the forced incremental lacks \"my db\""
settle
run_pgtier incr-after --dir "$B" backup incr
expect_rc incr-after 0 "incremental with the work database present"
grep -qi skipped "$WORK/incr-after.out" || fail_run incr-after "the work database counted as a change"
pass "a forced incremental holds \"my db\" but not $STALE; the next incremental skips"

# ---- the next restore drops the dead pid's work database, keeps a live one's -------------------------
sleep 300 &
LIVE=$!
kill_on_exit "$LIVE"
psql_q -d postgres -c "CREATE DATABASE pgtier_restore_${LIVE}_1"
run_pgtier restore2 --dir "$B" restore database "$FULL" "my db" --as copy2
expect_rc restore2 0 "restore after the killed one"
grep -F "$STALE" "$WORK/restore2.err" | grep -qi drop || fail_run restore2 "the restore does not log dropping $STALE"
[ "$(work_dbs)" = "pgtier_restore_${LIVE}_1" ] || fail "after the restore, work databases are '$(work_dbs)' (expected only the live pid's)"
[ "$(psql_db copy2 -c "SELECT count(*) FROM t")" = 1000 ] || fail "copy2 is not complete"
pass "restore dropped $STALE (pid gone), kept pgtier_restore_${LIVE}_1 (pid alive)"

# ---- a dead pid's work database that a session of that pid uses (a restore on another host) is kept --
# Its psql is named pgtier-restore-<pid>-<n> (one name per database a parallel restore loads).
# As pgtier marks its own work databases (only a marked one is ever dropped).
make_work_db() { psql_q -d postgres -c "CREATE DATABASE $1" -c "ALTER DATABASE $1 SET pgtier.work_database = '$1'"; }
make_work_db "pgtier_restore_${pid}_5"
PGAPPNAME="pgtier-restore-$pid-5" psql -X -q -d pgtier_restore_${pid}_5 -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
SLEEPER=$!
kill_on_exit "$SLEEPER"
sleeping() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtier-restore-$pid-5'")" = 1 ]; }
wait_until 30 sleeping || fail "setup: the session named pgtier-restore-$pid-5 did not start"
run_pgtier restore3 --dir "$B" restore database "$FULL" "my db" --as copy3
expect_rc restore3 0 "restore with a dead pid's work database in use"
[ "$(work_dbs | sort)" = "$(printf '%s\n' "pgtier_restore_${LIVE}_1" "pgtier_restore_${pid}_5" | sort)" ] \
    || fail "a work database in use by a session pgtier-restore-$pid-5 was not kept: '$(work_dbs)'"
psql_q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgtier-restore-$pid-5'" >/dev/null
wait "$SLEEPER" 2>/dev/null || true
ended() { ! sleeping; }
wait_until 30 ended || fail "the session pgtier-restore-$pid-5 did not end"
run_pgtier restore4 --dir "$B" restore database "$FULL" "my db" --as copy4
expect_rc restore4 0 "restore after the session ended"
[ "$(work_dbs)" = "pgtier_restore_${LIVE}_1" ] || fail "after its session ended, work databases are '$(work_dbs)'"
pass "pgtier_restore_${pid}_5 was kept while a session pgtier-restore-$pid-5 used it, dropped once it ended"

# ---- and so does the daemon at start ------------------------------------------------------------
make_work_db "pgtier_restore_${pid}_7"
daemon_toml "$B" UTC "0 0 1 1 *" "0 0 1 1 *" "0 0 1 1 *" >"$WORK/d.toml"
start_daemon daemon --config "$WORK/d.toml"
wait_log "$WORK/daemon.log" "drop.*pgtier_restore_${pid}_7" 1 60 || { show_log "$WORK/daemon.log"; fail "the daemon did not drop pgtier_restore_${pid}_7"; }
stop_pid "$DPID" 30
[ "$(work_dbs)" = "pgtier_restore_${LIVE}_1" ] || fail "after the daemon's start, work databases are '$(work_dbs)'"
pass "the daemon's start dropped pgtier_restore_${pid}_7 and kept the live pid's"
