#!/usr/bin/env bash
# Issue 15: `restore full|latest --jobs N` loads databases concurrently, each through its own psql
# under its own work name, the largest first. A cluster of databases of unequal sizes (awkward
# names, roles, template1 and postgres with tables) restored with --jobs 1 and --jobs 4 equals
# the source; so does `restore latest --replace` of a full + differential + incremental chain.
# Deterministic with role rows that the test keeps locked (an open transaction that altered the
# role) and that injected "ALTER ROLE r_blockN CONNECTION LIMIT -1" statements wait for (in any
# database: pg_authid is shared; one role per section, as concurrent ALTER ROLE of one role fail
# with "tuple concurrently updated"). These roles exist only in the target clusters (in no
# globals, whose replay would wait for them too):
#   - databases are created and restored while template1 is loaded in place (their CREATE
#     DATABASE uses template0, so template1 in use does not stop them);
#   - a failing database: no further database starts, the one in flight finishes, the message
#     lists what was restored, what failed (psql's error) and what was not started; no work
#     database is left and the restoring marker stays;
#   - SIGTERM with several psql children loading: all stop, every work database is dropped;
#   - two databases that need the same missing role create it at the same moment: both succeed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_sample_cluster
# Unequal sizes, so that the order (largest first) is known: "big 1" > "big 2" > "big 3" > the
# sample databases > template1 > "tiny 1", "tiny 2".
make_table_db "big 1" 30000
make_table_db "big 2" 25000
make_table_db "big 3" 20000
psql_q -d postgres -c "CREATE ROLE r_race NOLOGIN"
psql_db "big 2" -c "ALTER TABLE t OWNER TO r_race"
psql_db "big 3" -c "ALTER TABLE t OWNER TO r_race"
psql_q -d template1 -c "INSERT INTO in_template1 SELECT g FROM generate_series(1, 2500) g"
psql_q -d postgres -c 'CREATE DATABASE "tiny 1" TEMPLATE template0' -c 'CREATE DATABASE "tiny 2" OWNER r_app TEMPLATE template0'
settle
take_backup full full
FULL=$ARCHIVE
size_of() { jq -r --arg d "$2" '.sections[] | select(.database == $d) | .uncompressed_length' "$1.json"; }
for small in "tiny 1" "tiny 2" postgres; do
    [ "$(size_of "$FULL" template1)" -gt "$(size_of "$FULL" "$small")" ] || { jq -c '.sections[] | [.database, .uncompressed_length]' "$FULL.json" >&2; fail "setup: template1's section is not larger than $small's"; }
done
for db in "${SAMPLE_DBS[@]}"; do
    [ "$(size_of "$FULL" "$db")" -gt "$(size_of "$FULL" template1)" ] || fail "setup: $db's section is not larger than template1's"
    [ "$(size_of "$FULL" "big 3")" -gt "$(size_of "$FULL" "$db")" ] || fail "setup: big 3's section is not larger than $db's"
done
TOTAL=$(jq '[.sections[] | select(.kind == "database")] | length' "$FULL.json")
pass "source cluster: $TOTAL databases of unequal sizes; full backup $(basename "$FULL")"

# hold FD SQL: a psql session of the test runs "BEGIN; SQL" and keeps the transaction open, fed
# through fd FD (7 or 8); end FD ROLLBACK|COMMIT ends it. Whatever runs in the background meanwhile
# starts with 7>&- 8>&-, so that closing FD ends the holder's input.
declare -A HOLDER=()
hold() {
    local fd=$1 before
    before=$(open_transactions)
    rm -f "$WORK/hold$fd.fifo"
    mkfifo "$WORK/hold$fd.fifo"
    psql -X -q -v ON_ERROR_STOP=1 -d postgres <"$WORK/hold$fd.fifo" >/dev/null 2>"$WORK/hold$fd.err" 7>&- 8>&- &
    HOLDER[$fd]=$!
    eval "exec $fd>\"\$WORK/hold$fd.fifo\""
    echo "BEGIN; $2" >&"$fd"
    wait_until 30 open_transactions_are $((before + 1)) || { cat "$WORK/hold$fd.err" >&2; fail "setup: the transaction '$2' is not open"; }
}
end() {
    echo "$2;" >&"$1"
    eval "exec $1>&-"
    wait "${HOLDER[$1]}" || true
}
open_transactions() { psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"; }
open_transactions_are() { [ "$(open_transactions)" = "$1" ]; }
waiting() { # N CONDITION: at least N sessions wait for a lock where CONDITION holds
    [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $2")" -ge "$1" ]
}
IN_WORK="datname LIKE 'pgtier\_restore\_%'"
block() { echo "ALTER ROLE r_block$1 CONNECTION LIMIT -1;"; }
BLOCK_ROLES=(r_block1 r_block2 r_block3 r_block4)
make_block_roles() { for r in "${BLOCK_ROLES[@]}"; do psql_q -d postgres -c "CREATE ROLE $r NOLOGIN"; done; }
HOLD_BIG="ALTER ROLE r_block1 CONNECTION LIMIT 1; ALTER ROLE r_block2 CONNECTION LIMIT 1; ALTER ROLE r_block3 CONNECTION LIMIT 1;"
reported() { grep -c '^restored database ' "$WORK/$1.out" 2>/dev/null || true; }
work_count() { work_dbs | grep -c . || true; }

# ---- --jobs 1: the archive's order, as before ------------------------------------------------------
pg_start dst1
run_pgtier j1 --dir "$B" restore full "$FULL" --jobs 1
expect_rc j1 0 "restore full --jobs 1"
compare_clusters src dst1 "restore full --jobs 1"
[ -z "$(work_dbs dst1)" ] || fail "leftover work databases: $(work_dbs dst1)"
want=$(jq -r '.sections[] | select(.kind == "database") | .database' "$FULL.json")
got=$(sed -n 's/^restored database "\(.*\)" ([0-9]* of [0-9]*).*/\1/p' "$WORK/j1.out")
[ "$got" = "$want" ] || fail_run j1 "--jobs 1 did not restore in the archive's order"
grep -q "up to 1 at a time" "$WORK/j1.out" || fail_run j1 "no summary with the jobs"
pass "restore full --jobs 1: identical to the source, in the archive's order, one report line per database"

# ---- --jobs 4: others are created and restored while template1 is loaded in place ------------------
# big 1-3 wait (holder 7), so the fourth worker alone takes the next ones down to template1, which
# waits too (holder 8); once holder 7 lets go the three take the rest (the tiny ones, created while
# template1's psql is connected), and template1 finishes last.
X=$(inject_sql "$FULL" "big 1" "$WORK/p1" "$(block 1)")
X=$(inject_sql "$X" "big 2" "$WORK/p2" "$(block 2)")
X=$(inject_sql "$X" "big 3" "$WORK/p3" "$(block 3)")
X=$(inject_sql "$X" template1 "$WORK/p4" "$(block 4)")
pg_start dst2
make_block_roles
hold 7 "$HOLD_BIG"
hold 8 "ALTER ROLE r_block4 CONNECTION LIMIT 1;"
"$PGTIER" --dir "$B" restore full "$X" --jobs 4 >"$WORK/j4.out" 2>"$WORK/j4.err" 7>&- 8>&- &
PID=$!
kill_on_exit "$PID"
wait_until 120 waiting 3 "$IN_WORK" || { cat "$WORK/j4.err" >&2; fail "--jobs 4: three psql never waited (big 1-3)"; }
wait_until 120 waiting 1 "datname = 'template1'" || { cat "$WORK/j4.err" >&2; fail "--jobs 4: template1's psql never waited"; }
[ "$(work_count)" = 3 ] || fail "--jobs 4: expected three work databases (big 1-3) while they wait, have: $(work_dbs | tr '\n' ' ')"
before=$(reported j4)
end 7 ROLLBACK
all_but_template1() { [ "$(reported j4)" -ge $((TOTAL - 1)) ]; }
wait_until 120 all_but_template1 || { cat "$WORK/j4.out" "$WORK/j4.err" >&2; fail "--jobs 4: the other databases did not finish while template1 was loading"; }
waiting 1 "datname = 'template1'" || fail "--jobs 4: template1 is no longer loading"
grep -q '^restored database "template1"' "$WORK/j4.out" && fail "--jobs 4: template1 reported before it finished"
for tiny in "tiny 1" "tiny 2"; do
    grep -qF "restored database \"$tiny\"" "$WORK/j4.out" || fail "--jobs 4: \"$tiny\" was not restored while template1 was loading"
done
end 8 ROLLBACK
rc=0
wait "$PID" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/j4.err" >&2; fail "restore full --jobs 4 exited $rc"; }
for r in "${BLOCK_ROLES[@]}"; do psql_q -d postgres -c "DROP ROLE $r"; done
compare_clusters src dst2 "restore full --jobs 4"
[ -z "$(work_dbs dst2)" ] || fail "leftover work databases: $(work_dbs dst2)"
grep -q "^restored globals and $TOTAL databases: .*up to 4 at a time" "$WORK/j4.out" || { cat "$WORK/j4.out" >&2; fail "--jobs 4: no summary line"; }
pass "restore full --jobs 4: identical to the source; $((TOTAL - 1 - before)) databases created and restored while template1 was loaded in place"

# ---- restore latest --replace of a full + differential + incremental chain, --jobs 1 and 4 ------------
pg_use src
sample_content "my db" diff-row
psql_db "big 2" -c "DELETE FROM t WHERE id % 2 = 0"
psql_q -d postgres -c "INSERT INTO in_postgres VALUES ('c', 3)"
settle
take_backup diff diff
sample_content app incr-row
psql_q -d postgres -c "CREATE ROLE r_new LOGIN" -c 'CREATE DATABASE "new one" OWNER r_new'
psql_db "big 3" -c "UPDATE t SET v = 'changed' WHERE id < 100"
settle
take_backup incr incr
with_pg dst1 run_pgtier l1 --dir "$B" restore latest --replace --jobs 1
expect_rc l1 0 "restore latest --replace --jobs 1"
with_pg dst2 run_pgtier l4 --dir "$B" restore latest --replace --jobs 4
expect_rc l4 0 "restore latest --replace --jobs 4"
compare_clusters src dst1 "restore latest --replace --jobs 1"
compare_clusters src dst2 "restore latest --replace --jobs 4"
[ -z "$(work_dbs dst2)" ] || fail "leftover work databases: $(work_dbs dst2)"
# postgres and template1 have tables, so they are replaced (renamed): each alone, before the others.
first_two=$(grep -o 'restoring database "[^"]*" from' "$WORK/l4.err" | head -n 2 | sort | tr '\n' ' ')
[ "$first_two" = 'restoring database "postgres" from restoring database "template1" from ' ] \
    || fail_run l4 "--jobs 4 with --replace did not restore postgres and template1 first (first two: $first_two)"
pass "restore latest --replace (full + differential + incremental): --jobs 1 and --jobs 4 both equal the source; postgres and template1 replaced first, alone"

# ---- a failing database: nothing more starts, the one in flight finishes ---------------------------
# --jobs 2: big 1 (largest, waits for lock 4201) and big 2 (fails) start; nothing else does.
F=$(inject_sql "$FULL" "big 1" "$WORK/f1" "$(block 1)")
F=$(inject_sql "$F" "big 2" "$WORK/f2" "SELECT pgtier_no_such_function();")
pg_start dst3
make_block_roles
hold 7 "ALTER ROLE r_block1 CONNECTION LIMIT 1;"
"$PGTIER" --dir "$B" restore full "$F" --jobs 2 >"$WORK/fail.out" 2>"$WORK/fail.err" 7>&- 8>&- &
PID=$!
kill_on_exit "$PID"
wait_log "$WORK/fail.err" 'no further database starts, waiting for the 1 in flight to finish: "big 1"' 1 120 \
    || { cat "$WORK/fail.err" >&2; fail "failure: no message that nothing more starts while big 1 is in flight"; }
wait_until 60 waiting 1 "$IN_WORK" || fail "failure: big 1 is not waiting on its lock (no longer in flight?)"
sleep 1
[ "$(work_count)" = 1 ] || fail "failure: another database started after the failure: $(work_dbs | tr '\n' ' ')"
end 7 ROLLBACK
rc=0
wait "$PID" || rc=$?
[ "$rc" != 0 ] || fail "failure: exit 0"
grep -qF 'function pgtier_no_such_function() does not exist' "$WORK/fail.err" || { cat "$WORK/fail.err" >&2; fail "failure: psql's error is not shown"; }
grep -qF 'Restored: globals, "big 1". Failed: "big 2". Not started: ' "$WORK/fail.err" || { cat "$WORK/fail.err" >&2; fail "failure: the lists of restored/failed databases are wrong"; }
not_started=$(grep -o 'Not started: .*\. Restore again' "$WORK/fail.err")
for db in "big 3" "tiny 1" template1 postgres app; do
    grep -qF "\"$db\"" <<<"$not_started" || fail "failure: \"$db\" is not listed as not started ($not_started)"
done
[ -z "$(work_dbs)" ] || fail "failure: leftover work databases: $(work_dbs)"
[ "$(psql_db "big 1" -c "SELECT count(*) FROM t")" = 30000 ] || fail "failure: big 1 (in flight) was not completed"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname IN ('big 2', 'big 3', 'tiny 1')")" = 0 ] \
    || fail "failure: a failed or not started database exists"
[ -f "$B/.pgtier/restoring" ] || fail "failure: the restoring marker is gone"
pass "a failing database (--jobs 2): exit $rc, big 1 in flight finished, nothing else started, lists and psql's error shown, no work database, marker kept"

# ---- SIGTERM with several psql loading: all stop, every work database dropped -------------------------
S=$(inject_sql "$FULL" "big 1" "$WORK/s1" "$(block 1)")
S=$(inject_sql "$S" "big 2" "$WORK/s2" "$(block 2)")
S=$(inject_sql "$S" "big 3" "$WORK/s3" "$(block 3)")
# A row only this cluster has: big 1 must keep it (not replaced).
psql_db "big 1" -c "INSERT INTO t VALUES (-1, 'only in dst3')"
hold 7 "$HOLD_BIG"
"$PGTIER" --dir "$B" restore full --replace "$S" --jobs 4 >"$WORK/term.out" 2>"$WORK/term.err" 7>&- 8>&- &
PID=$!
kill_on_exit "$PID"
wait_until 120 waiting 3 "$IN_WORK" \
    || { cat "$WORK/term.err" >&2; fail "SIGTERM: three psql never waited in their work databases"; }
children=$(pgrep -P "$PID" -x psql | tr '\n' ' ')
[ "$(wc -w <<<"$children")" -ge 3 ] || fail "SIGTERM: fewer than three psql children: '$children'"
kill -TERM "$PID"
stopped() { ! kill -0 "$PID" 2>/dev/null; }
wait_until 30 stopped || fail "SIGTERM: pgtier still running 30 s later"
rc=0
wait "$PID" || rc=$?
end 7 ROLLBACK
[ "$rc" != 0 ] || fail "SIGTERM: exit 0"
for c in $children; do
    ! kill -0 "$c" 2>/dev/null || fail "SIGTERM: psql $c is still running"
done
[ -z "$(work_dbs)" ] || { cat "$WORK/term.err" >&2; fail "SIGTERM: work databases left: $(work_dbs)"; }
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgtier-restore-$PID%'")" = 0 ] \
    || fail "SIGTERM: a session of the restore is left"
grep -q "The whole-cluster restore was interrupted" "$WORK/term.err" || { cat "$WORK/term.err" >&2; fail "SIGTERM: the message does not say it was interrupted"; }
[ "$(psql_db "big 1" -c "SELECT v FROM t WHERE id = -1")" = "only in dst3" ] || fail "SIGTERM: big 1 was replaced"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname IN ('big 2', 'big 3')")" = 0 ] || fail "SIGTERM: big 2 or big 3 exists"
pass "SIGTERM during a parallel restore: exit $rc, the $(wc -w <<<"$children") psql children gone, no work database, no session, big 1-3 as before"

# ---- two databases create the same missing role at the same moment --------------------------------
# big 2 and big 3 own their table t through r_race. The archive's globals end with "DROP ROLE
# r_race" and then wait (holder 7); meanwhile the test creates r_race in an open transaction
# (holder 8) and lets the globals finish. Both databases then lack r_race and create it before
# its first use: both CREATE ROLE wait for the test's transaction, which commits, and both must
# take the role as made (unique_violation, not duplicate_object, for a concurrent creation).
R=$(inject_sql "$FULL" "(globals)" "$WORK/r1" "DROP ROLE r_race; $(block 1)")
hold 7 "ALTER ROLE r_block1 CONNECTION LIMIT 1;"
"$PGTIER" --dir "$B" restore full --replace "$R" --jobs 4 >"$WORK/race.out" 2>"$WORK/race.err" 7>&- 8>&- &
PID=$!
kill_on_exit "$PID"
wait_until 60 waiting 1 "datname = 'postgres' AND application_name LIKE 'pgtier-restore-%'" \
    || { cat "$WORK/race.err" >&2; fail "race: the globals never waited"; }
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = 'r_race'")" = 0 ] || fail "race: the globals did not drop r_race"
hold 8 "CREATE ROLE r_race;"
end 7 ROLLBACK
wait_until 120 waiting 2 "$IN_WORK" \
    || { cat "$WORK/race.err" >&2; fail "race: the two CREATE ROLE did not wait together"; }
end 8 COMMIT
rc=0
wait "$PID" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/race.err" >&2; fail "race: two databases creating the same role at once: exit $rc"; }
for db in "big 2" "big 3"; do
    [ "$(psql_db "$db" -c "SELECT tableowner FROM pg_tables WHERE tablename = 't'")" = r_race ] || fail "race: t in $db is not owned by r_race"
done
grep -qF 'created roles: "r_race"' "$WORK/race.err" || fail "race: no restore says it created r_race"
[ -z "$(work_dbs)" ] || fail "race: leftover work databases: $(work_dbs)"
[ ! -f "$B/.pgtier/restoring" ] || fail "race: the restoring marker is left after a successful restore"
pass "two databases needing the same missing role created it at the same moment: both restored (exit 0), the marker removed"
