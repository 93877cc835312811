#!/usr/bin/env bash
# Issue 11: a target database name that PostgreSQL cannot hold, or that pg_dump could never dump
# again (empty, over 63 bytes, a CR or LF), is a usage error (exit 2) before any work: no database
# is loaded, no pgtier_restore_* work database is left, the cluster is unchanged. A 63-byte name
# (the limit) still restores.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_table_db app 500
settle
take_backup full full
FULL=$ARCHIVE
snapshot src before

bad_name() { # TAG WHAT ARGS... (after `restore database FULL`)
    local tag=$1 what=$2
    shift 2
    run_pgtier "$tag" --dir "$B" restore database "$FULL" "$@"
    expect_rc "$tag" 2 "$what: usage error"
    grep -qiE 'database name' "$WORK/$tag.err" || fail_run "$tag" "$what: the message does not speak of the database name"
    ! grep -qiE 'restoring database|loading into' "$WORK/$tag.err" || fail_run "$tag" "$what: a restore was started"
    [ -z "$(work_dbs)" ] || fail "$what: work database left behind: $(work_dbs)"
    same_snapshot src before "$what"
    pass "$what: exit 2 before any work ($(grep -i 'database name' "$WORK/$tag.err" | head -n1 | cut -c1-110))"
}

bad_name as-empty "--as ''" app --as ""
bad_name as-newline "--as with a newline" app --as $'new\nname'
bad_name as-cr "--as with a carriage return" app --as $'new\rname'
bad_name as-long "--as of 64 bytes" app --as "$(printf 'n%.0s' $(seq 64))"
# Two-byte characters: 32 of them are 64 bytes although only 32 characters.
bad_name as-long-utf8 "--as of 32 two-byte characters (64 bytes)" app --as "$(printf 'é%.0s' $(seq 32))"
bad_name replace-long "a 64-byte DB with --replace" "$(printf 'm%.0s' $(seq 64))" --replace

LONG63=$(printf 'x%.0s' $(seq 63))
run_pgtier as-63 --dir "$B" restore database "$FULL" app --as "$LONG63"
expect_rc as-63 0 "--as of 63 bytes"
[ "$(psql_db "$LONG63" -c "SELECT count(*) FROM t")" = 500 ] || fail "the 63-byte copy lacks its rows"
[ -z "$(work_dbs)" ] || fail "work database left behind: $(work_dbs)"
pass "a 63-byte name (the limit) restores"
