#!/usr/bin/env bash
# Issue 3: SIGTERM / SIGINT while `restore database` loads (the work database exists and psql is
# running): pgtier stops psql, drops its work database and exits non-zero; the target is unchanged
# (also with --replace), nothing else in the cluster changed. Deterministic: the archive's section
# holds an `ALTER ROLE r_block …` while a transaction of the test has that role's row locked, so the
# restore waits inside the work database until it is signalled.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_table_db "my db" 1000
settle
take_backup full full
X=$(inject_sql "$ARCHIVE" "my db" "$WORK/blocking" "ALTER ROLE r_block CONNECTION LIMIT 2;")
pass "an archive whose 'my db' section alters role r_block after loading table t"

pg_start dst
psql_q -d postgres -c 'CREATE DATABASE "my db"'
psql_db "my db" -c "CREATE TABLE other (x int)" -c "INSERT INTO other VALUES (1)"
psql_q -d postgres -c "CREATE ROLE r_block NOLOGIN"
# The lock holder: a transaction that has updated r_block, open as long as fd 9 is.
mkfifo "$WORK/holder.fifo"
psql -X -q -d postgres <"$WORK/holder.fifo" >/dev/null 2>&1 &
exec 9>"$WORK/holder.fifo"
echo "BEGIN; ALTER ROLE r_block CONNECTION LIMIT 1;" >&9
for ((i = 0; i < 100; i++)); do
    [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")" = 1 ] && break
    sleep 0.1
done
[ "$i" -lt 100 ] || fail "setup: the locking transaction is not open"
snapshot dst before

interrupt() { # TAG SIGNAL ARGS...
    local tag=$1 sig=$2 pid rc=0 i
    shift 2
    # Background jobs of a script start with SIGINT ignored; give pgtier the default, as in a terminal.
    python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
        "$PGTIER" --dir "$B" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    pid=$!
    # Wait until its psql waits for the lock inside the work database.
    for ((i = 0; i < 300; i++)); do
        [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'pgtier\_restore\_%' AND wait_event_type = 'Lock'")" -ge 1 ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/$tag.err" >&2; fail "$tag: pgtier ended before it reached the lock"; }
        sleep 0.1
    done
    [ "$i" -lt 300 ] || { kill -KILL "$pid"; fail "$tag: the restore never waited for the lock"; }
    [ -n "$(work_dbs)" ] || fail "$tag: no work database while restoring"
    kill -"$sig" "$pid"
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        fail "$tag: pgtier still running 30 s after SIG$sig"
    fi
    wait "$pid" || rc=$?
    [ "$rc" -ne 0 ] || fail "$tag: exit 0 after SIG$sig"
    # Its psql child is gone and the work database was dropped.
    for ((i = 0; i < 50; i++)); do [ -z "$(work_dbs)" ] && break; sleep 0.1; done
    [ -z "$(work_dbs)" ] || { cat "$WORK/$tag.err" >&2; fail "$tag: after SIG$sig (exit $rc) the work database is left behind: $(work_dbs)"; }
    same_snapshot dst before "$tag: SIG$sig during the restore"
    pass "$tag: SIG$sig while loading: exit $rc, work database dropped, cluster unchanged ($(grep -v '^[0-9-]*T' "$WORK/$tag.err" | head -n1 | cut -c1-100))"
}

interrupt term-as TERM restore database "$X" "my db" --as "my db 2"
interrupt int-replace INT restore database "$X" "my db" --replace
interrupt term-full TERM restore full --replace "$X"
exec 9>&-
wait
