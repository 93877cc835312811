#!/usr/bin/env bash
# docs/design.md, Change detection: the fingerprint must not fire on what changes no dumped content.
# ANALYZE (which autovacuum runs after writes) updates pg_statistic and moves pg_stat_database's
# tuple counters; VACUUM and CHECKPOINT rewrite nothing a dump holds. Autovacuum stays ON here.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start noise
B=$WORK/backups
psql_q -c "CREATE DATABASE app"
psql_db app -c "CREATE TABLE t (id int PRIMARY KEY, v text)" \
    -c "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 20000) i"
settle
run_pgtier full --dir "$B" backup full
expect_rc full 0 "first full"

before=$(psql_db app -c "SELECT tup_inserted + tup_updated FROM pg_stat_database WHERE datname = 'app'")
psql_db app -c "ANALYZE t" -c "VACUUM t" -c "CHECKPOINT"
settle
after=$(psql_db app -c "SELECT tup_inserted + tup_updated FROM pg_stat_database WHERE datname = 'app'")
[ "$after" -gt "$before" ] || fail "ANALYZE did not move pg_stat_database counters ($before -> $after); the test proves nothing"
pass "ANALYZE moved pg_stat_database tuple counters ($before -> $after)"

run_pgtier incr --dir "$B" backup incr
expect_rc incr 0 "incr after ANALYZE/VACUUM"
grep -q "skipped" "$WORK/incr.out" || fail_run incr "ANALYZE/VACUUM/CHECKPOINT made an incremental"
[ "$(count_archives "$B" incremental)" -eq 0 ] || fail "an incremental archive appeared"
pass "ANALYZE, VACUUM and CHECKPOINT alone: incr skipped"

# The same maintenance after a real write: exactly one incremental, then skip.
psql_db app -c "UPDATE t SET v = 'changed' WHERE id = 7"
settle
run_pgtier incr2 --dir "$B" backup incr
expect_rc incr2 0 "incr after UPDATE"
[ "$(count_archives "$B" incremental)" -eq 1 ] || fail_run incr2 "the UPDATE was not taken"
psql_db app -c "ANALYZE t" -c "VACUUM t"
settle
run_pgtier incr3 --dir "$B" backup incr
grep -q "skipped" "$WORK/incr3.out" || fail_run incr3 "ANALYZE after a taken write made another incremental"
pass "a write is taken once; the ANALYZE that follows it is not a change"
