#!/usr/bin/env bash
# Issue 11: the password pg_dump needs never lands in a file that outlives pgtier. kill -9 of pgtier
# while its pg_dump runs (connected with the password, over TCP with scram-sha-256) leaves no file
# holding the password under $TMPDIR or /tmp. Deterministic: pg_dump is held on a table lock the
# test owns, so pgtier is surely mid-dump when it is killed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start pw
pg_quiet
B="$WORK/backups"
PW='Pass-Kill-7f3e9a'
psql_q -d postgres -c "CREATE ROLE bk LOGIN SUPERUSER PASSWORD '$PW'"
psql_q -d postgres -c "CREATE DATABASE held"
psql_db held -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
printf '%s\n' "$PW" >"$WORK/secret"
chmod 600 "$WORK/secret"
printf '[postgres]\nhost = "127.0.0.1"\nport = %s\nuser = "bk"\npassword_file = "%s"\n' "$(pg_port pw)" "$WORK/secret" >"$WORK/pw.toml"
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
touch "$WORK/start-marker"
settle

# Files holding the password: anywhere below $TMPDIR, and files in /tmp made since the test began
# (other programs share /tmp).
password_files() {
    grep -rlF -- "$PW" "$TMPDIR" 2>/dev/null || true
    find /tmp -maxdepth 1 -type f -newer "$WORK/start-marker" -user "$(id -u)" -print0 2>/dev/null |
        xargs -0 -r grep -lF -- "$PW" 2>/dev/null || true
}

run_pgtier ok --config "$WORK/pw.toml" --dir "$B" backup full
expect_rc ok 0 "a full with the password over TCP (positive control)"
[ -z "$(password_files)" ] || fail "password files left after a successful run: $(password_files)"
pass "a full authenticates with the password file over TCP"

# The lock holder: ACCESS EXCLUSIVE on held.t in a transaction open as long as fd 9 is.
mkfifo "$WORK/holder.fifo"
psql -X -q -d held <"$WORK/holder.fifo" >/dev/null 2>&1 &
HOLDER=$!
exec 9>"$WORK/holder.fifo"
echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;" >&9
lock_held() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = 'held' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -ge 1 ]; }
wait_until 10 lock_held || fail "setup: the table lock is not held"

"$PGTIER" --config "$WORK/pw.toml" --dir "$B" backup full --force >"$WORK/kill.out" 2>"$WORK/kill.err" &
pid=$!
kill_on_exit "$pid"
dump_waits() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'held' AND usename = 'bk' AND application_name LIKE 'pgtier-dump-%' AND wait_event_type = 'Lock'")" -ge 1 ]; }
wait_until 60 dump_waits || { cat "$WORK/kill.err" >&2; fail "pg_dump of 'held' never waited for the lock"; }
during=$(password_files)
kill9 "$pid"
echo "COMMIT;" >&9
exec 9>&-
wait "$HOLDER" || true
[ -z "$during" ] || fail "while pg_dump ran, the password was in: $during"
left=$(password_files)
[ -z "$left" ] || fail "after kill -9 of pgtier the password is left in: $left"
[ -z "$(ls -A "$TMPDIR")" ] || fail "files left in \$TMPDIR after kill -9: $(ls -A "$TMPDIR")"
pass "kill -9 of pgtier mid-dump leaves no file holding the password (\$TMPDIR empty)"
