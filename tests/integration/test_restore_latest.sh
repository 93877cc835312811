#!/usr/bin/env bash
# Issue 3: `restore plan` / `restore latest` over a history
#   full; change A → incr1; change B → incr2; diff (the base); change A, create E (owned by a new
#   role) → incr3; change C, drop D → incr4
# The plan names the differential for B, incr3 for A and E, incr4 for C and the globals, and D as
# dropped after the base; `restore latest` into a fresh cluster equals the source at the end.
# As of a time: C's table `gone` is dropped at incr4; `restore plan --at` incr3's or incr2's start
# lists the archives of then, and `restore database C --at` incr3's start brings the table back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
A='app "A"' BB='b.dot' C='Ünï C' D='doomed db' E='late é'
psql_q -d postgres -c "CREATE ROLE r_owner LOGIN PASSWORD 'pw'" -c "CREATE ROLE r_ro NOLOGIN" -c "GRANT r_ro TO r_owner"
mkdb() { # NAME OWNER
    psql_q -d postgres -v n="$1" -v o="$2" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'n', :'o') \gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'n', 'the ' || :'n' || ' database') \gexec
SQL
    psql_db "$1" -v o="$2" >/dev/null <<'SQL'
CREATE TABLE t (id serial PRIMARY KEY, v text);
INSERT INTO t (v) SELECT 'row ' || g FROM generate_series(1, 100) g;
SELECT format('ALTER TABLE t OWNER TO %I', :'o') \gexec
GRANT SELECT ON t TO r_ro;
SQL
}
change() { printf '%s\n' "INSERT INTO t (v) VALUES (:'tag');" "UPDATE t SET v = v || '+' WHERE id = 1;" | psql_db "$1" -v tag="$2"; }
for db in "$A" "$BB" "$C" "$D"; do mkdb "$db" r_owner; done
psql_q -d postgres -c "CREATE TABLE in_postgres (x int)" -c "INSERT INTO in_postgres VALUES (1)"
psql_db "$C" -c "CREATE TABLE gone AS SELECT g AS id FROM generate_series(1, 42) g" >/dev/null
settle
name() { basename "$ARCHIVE"; }

take_backup full full
FULL=$(name)
change "$A" incr1
settle
take_backup incr1 incr
INCR1=$(name)
change "$BB" incr2
settle
take_backup incr2 incr
INCR2=$(name)
take_backup diff diff --force
DIFF=$(name)
change "$A" incr3
psql_q -d postgres -c "CREATE ROLE r_late LOGIN CREATEDB CONNECTION LIMIT 3"
mkdb "$E" r_late
settle
take_backup incr3 incr
INCR3=$(name)
change "$C" incr4
psql_db "$C" -c "DROP TABLE gone" >/dev/null
psql_q -d postgres -v n="$D" <<'SQL'
SELECT format('DROP DATABASE %I', :'n') \gexec
SQL
settle
take_backup incr4 incr
INCR4=$(name)
diff <(printf '%s\n' "$A" "$E" | sort) <(manifest_dbs "$B/incremental/$INCR3") >&2 \
    || fail "setup: incr3 should hold exactly A and E"
[ "$(manifest_dbs "$B/incremental/$INCR4")" = "$C" ] || fail "setup: incr4 should hold only C, has: $(manifest_dbs "$B/incremental/$INCR4" | tr '\n' ' ')"
manifest_has_globals "$B/incremental/$INCR4" || fail "setup: incr4 (a database dropped) should carry the globals"
pass "history: full $FULL, incr1 $INCR1, incr2 $INCR2, diff $DIFF, incr3 $INCR3, incr4 $INCR4"

# ---- the plan (no database connection needed) ------------------------------------------------------
PGHOST=/nonexistent PGPORT=1 run_pgtier plan --dir "$B" restore plan
expect_rc plan 0 "restore plan (with no server reachable)"
plan_has() {
    grep -qxF -- "$1" "$WORK/$2.out" || fail_run "$2" "the plan lacks the line: $1"
}
grep -q "^base: differential/$DIFF; state as of " "$WORK/plan.out" || fail_run plan "the plan's base is not differential/$DIFF"
grep -qE "^  globals +from incremental/${INCR4//./\\.}\$" "$WORK/plan.out" || fail_run plan "the plan does not take the globals from incremental/$INCR4"
plan_has "  database \"$A\" from incremental/$INCR3" plan
plan_has "  database \"$BB\" from differential/$DIFF" plan
plan_has "  database \"$C\" from incremental/$INCR4" plan
plan_has "  database \"$E\" from incremental/$INCR3" plan
plan_has "  database \"postgres\" from differential/$DIFF" plan
plan_has "  database \"template1\" from differential/$DIFF" plan
plan_has "  database \"$D\" dropped after the base: not restored" plan
[ "$(grep -c "^  database \"$D\"" "$WORK/plan.out")" = 1 ] || fail_run plan "the dropped database appears more than once"
[ "$(grep -c '^  database ' "$WORK/plan.out")" = 7 ] || fail_run plan "the plan should have 6 databases and 1 dropped"
! grep -qE "$FULL|$INCR1|$INCR2" "$WORK/plan.out" || fail_run plan "the plan uses an archive older than the base"
# The state time is the newest archive's start (incr4).
want=$(jq -r .started_at "$B/incremental/$INCR4.json" | cut -c1-19)
grep -q "state as of ${want}" "$WORK/plan.out" || fail_run plan "the plan's 'state as of' is not incr4's start ($want)"
pass "restore plan: B from the differential, A and E from incr3, C and globals from incr4, D dropped"

# ---- --dry-run prints the same plan and changes nothing ---------------------------------------------
pg_start dst
snapshot dst empty
run_pgtier dry --dir "$B" restore latest --dry-run
expect_rc dry 0 "restore latest --dry-run"
diff "$WORK/plan.out" "$WORK/dry.out" >&2 || fail_run dry "--dry-run prints something else than restore plan"
same_snapshot dst empty "restore latest --dry-run"
pass "restore latest --dry-run prints the plan and changes nothing"

# ---- restore latest into the fresh cluster ---------------------------------------------------------
run_pgtier latest --dir "$B" restore latest
expect_rc latest 0 "restore latest into an empty cluster"
head -n "$(wc -l <"$WORK/plan.out")" "$WORK/latest.out" | diff "$WORK/plan.out" - >&2 || fail_run latest "restore latest does not print the plan first"
compare_clusters src dst "restore latest into an empty cluster"
[ "$(printf '%s\n' "SELECT count(*) FROM pg_database WHERE datname = :'n';" | psql_q -d postgres -v n="$D")" = 0 ] || fail "the dropped database was restored"
[ "$(psql_db "$E" -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")" = r_late ] || fail "E is not owned by r_late"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "restore latest: the cluster equals the source at the end (D not restored, E from its incremental)"

# ---- onto the restored (non-empty) cluster: refused without --replace, --replace is a no-op change -----
snapshot dst restored
psql_db "$A" -c "DELETE FROM t"
run_pgtier again --dir "$B" restore latest
expect_rc again nonzero "restore latest onto a non-empty cluster without --replace"
grep -qi "exist" "$WORK/again.err" || fail_run again "the refusal does not say the databases exist"
[ "$(psql_db "$A" -c "SELECT count(*) FROM t")" = 0 ] || fail "a refused restore latest changed database A"
run_pgtier replace --dir "$B" restore latest --replace
expect_rc replace 0 "restore latest --replace"
same_snapshot dst restored "restore latest --replace"
pass "restore latest refuses a non-empty cluster; --replace brings back the latest state"

# ---- as of a time -----------------------------------------------------------------------------------
started() { jq -r .started_at "$B/$1.json"; }
T3=$(started "incremental/$INCR3")
T2=$(started "incremental/$INCR2")
# incr3's start exactly: incr3 counts, incr4 (C changed, D and `gone` dropped) does not.
PGHOST=/nonexistent PGPORT=1 run_pgtier at3 --dir "$B" restore plan --at "$T3"
expect_rc at3 0 "restore plan --at incr3's start"
grep -qE "^as of .*: the newest state at or before it; 1 archive\(s\) started after it left out\$" "$WORK/at3.out" || fail_run at3 "the plan does not show the cutoff"
grep -q "^base: differential/$DIFF; state as of ${T3:0:19}Z\$" "$WORK/at3.out" || fail_run at3 "the base is not differential/$DIFF as of incr3"
plan_has "  database \"$A\" from incremental/$INCR3" at3
plan_has "  database \"$C\" from differential/$DIFF" at3
plan_has "  database \"$D\" from differential/$DIFF" at3
plan_has "  database \"$E\" from incremental/$INCR3" at3
! grep -q "$INCR4\|dropped" "$WORK/at3.out" || fail_run at3 "the plan uses incr4 or drops a database"
# incr2's start: the full, incr1 for A, incr2 for B; E did not exist yet.
PGHOST=/nonexistent PGPORT=1 run_pgtier at2 --dir "$B" restore plan --at "$T2"
expect_rc at2 0 "restore plan --at incr2's start"
grep -q "^base: full/$FULL; " "$WORK/at2.out" || fail_run at2 "the base is not full/$FULL"
plan_has "  database \"$A\" from incremental/$INCR1" at2
plan_has "  database \"$BB\" from incremental/$INCR2" at2
plan_has "  database \"$D\" from full/$FULL" at2
! grep -q "\"$E\"" "$WORK/at2.out" || fail_run at2 "the plan restores E, created after the time"
grep -q "3 archive(s) started after it left out" "$WORK/at2.out" || fail_run at2 "the plan does not leave out diff, incr3, incr4"
# A time after every archive (with an offset) plans what restore plan plans.
PGHOST=/nonexistent PGPORT=1 run_pgtier future --dir "$B" restore plan --at "2999-01-01 00:00+01:00"
expect_rc future 0 "restore plan --at a future time"
grep -qxF "as of 2998-12-31T23:00:00Z: the newest state at or before it; 0 archive(s) started after it left out" "$WORK/future.out" || fail_run future "the offset was not applied"
grep -v '^as of ' "$WORK/future.out" | diff "$WORK/plan.out" - >&2 || fail_run future "a future --at plans something else than restore plan"
pass "restore plan --at: the archives of incr3's and incr2's start; a future time is the latest state"

refused_at() { # TAG RC MESSAGE ARGS...
    local tag=$1 rc=$2 msg=$3
    shift 3
    PGHOST=/nonexistent PGPORT=1 run_pgtier "$tag" --dir "$B" "$@"
    expect_rc "$tag" "$rc" "$*"
    grep -qF -- "$msg" "$WORK/$tag.err" || fail_run "$tag" "the refusal does not say: $msg"
}
refused_at at-bad 2 "--at 'yesterday' is not a time" restore latest --at yesterday
refused_at at-old 2 "no archive at or before 2000-01-01T00:00:00Z; the oldest is full/$FULL" restore plan --at "2000-01-01 00:00"
refused_at at-two 2 "takes the database name alone" restore database "$FULL" "$C" --at "$T3"
refused_at at-dropped 1 "did not exist at" restore database "$D" --at "$(started "incremental/$INCR4")"
pass "--at refuses a time that does not parse, one before every archive, an archive beside it, a dropped database"

# `gone` was dropped at incr4; as of incr3's start it is there, in the differential's section of C.
run_pgtier db-at --dir "$B" restore database "$C" --at "$T3" --as c_at
expect_rc db-at 0 "restore database C --at incr3's start"
head -n 1 "$WORK/db-at.out" | grep -qF "database \"$C\" from differential/$DIFF" || fail_run db-at "C was not taken from the differential"
[ "$(psql_db c_at -c "SELECT count(*) FROM gone")" = 42 ] || fail "c_at lacks the dropped table's rows"
[ "$(psql_db "$C" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'gone'")" = 0 ] || fail "C itself was changed"
pass "restore database C --at incr3's start --as c_at brings back the dropped table's 42 rows"
