#!/usr/bin/env bash
# pg_dump and psql get an environment built from an allow-list: the S3 credentials (plain, *_FILE
# and PGTIER_OFFSITE_* forms), PGPASSWORD and any other variable of pgtier's never reach them.
# Read from /proc/PID/environ of a pg_dump held on a table lock the test owns, and of a psql held
# on a role row the test has locked (a restore whose section alters that role). An offsite URL
# with user:password@ is refused as configuration (exit 2) without showing the password.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
# shellcheck disable=SC2031  # PGHOST is pg_start's; cluster_state changes it in a subshell only
SOCKET_DIR=$PGHOST
make_table_db held 100
psql_q -d postgres -c "CREATE ROLE r_block NOLOGIN"
settle
take_backup full full
X=$(inject_sql "$ARCHIVE" held "$WORK/blocking" "ALTER ROLE r_block CONNECTION LIMIT 2;")

printf 'file-key-id\n' >"$WORK/key_id"
printf 'file-secret\n' >"$WORK/secret"
export AWS_ACCESS_KEY_ID=AKIA-CHILD-ENV AWS_SECRET_ACCESS_KEY=aws-secret-child-env \
    AWS_SESSION_TOKEN=aws-token-child-env AWS_ACCESS_KEY_ID_FILE="$WORK/key_id" \
    AWS_SECRET_ACCESS_KEY_FILE="$WORK/secret" PGTIER_OFFSITE_ACCESS_KEY_ID_FILE="$WORK/key_id" \
    PGTIER_OFFSITE_SECRET_ACCESS_KEY_FILE="$WORK/secret" PGPASSWORD=pg-password-child-env \
    SOME_OTHER_SECRET=other-secret-child-env

# check_environ PID WHAT — PID's environment holds none of pgtier's secrets, and does hold what a
# client needs (so the file read is the right one).
check_environ() {
    local pid=$1 what=$2 env
    env=$(tr '\0' '\n' <"/proc/$pid/environ")
    [ -n "$env" ] || fail "$what: empty /proc/$pid/environ"
    local leaked
    leaked=$(grep -E '^(AWS_|PGTIER_|PGPASSWORD=|SOME_OTHER_SECRET=)|child-env|file-secret' <<<"$env" || true)
    [ -z "$leaked" ] || fail "$what (pid $pid) inherited: $(tr '\n' ' ' <<<"$leaked")"
    grep -qx "PGHOST=$SOCKET_DIR" <<<"$env" || fail "$what: no PGHOST in its environment: $(tr '\n' ' ' <<<"$env")"
    grep -q '^PATH=' <<<"$env" || fail "$what: no PATH in its environment"
    grep -qx 'LC_ALL=C.UTF-8' <<<"$env" || fail "$what: no LC_ALL in its environment"
    pass "$what's environment: $(cut -d= -f1 <<<"$env" | sort | tr '\n' ' ')"
}

# child_named PID NAME — the process called NAME below PID.
child_named() {
    local p
    for p in $(descendants "$1"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
    done
    return 1
}

# The lock holder: a transaction open as long as fd 9 is.
mkfifo "$WORK/holder.fifo"
psql -X -q -d held <"$WORK/holder.fifo" >/dev/null 2>&1 &
HOLDER=$!
exec 9>"$WORK/holder.fifo"
idle_in_transaction() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")" = 1 ]; }

# ---- pg_dump, held on a lock of held.t
echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;" >&9
wait_until 10 idle_in_transaction || fail "setup: the table lock is not held"
start_pgtier dump --dir "$B" backup full --force
kill_on_exit "$BG_PID"
dump_waits() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'held' AND application_name LIKE 'pgtier-dump-%' AND wait_event_type = 'Lock'")" -ge 1 ]; }
wait_until 60 dump_waits || { cat "$WORK/dump.err" >&2; fail "pg_dump of 'held' never waited for the lock"; }
PID=$(child_named "$BG_PID" pg_dump) || fail "no pg_dump below pgtier $BG_PID"
check_environ "$PID" pg_dump
echo "COMMIT;" >&9
RC=0
wait "$BG_PID" || RC=$?
expect_rc dump 0 "the held full, once the lock is gone"

# ---- psql, held on the row of r_block that the archive's section alters
echo "BEGIN; ALTER ROLE r_block CONNECTION LIMIT 1;" >&9
wait_until 10 idle_in_transaction || fail "setup: the role is not locked"
start_pgtier restore --dir "$B" restore database "$X" held --as held_copy
kill_on_exit "$BG_PID"
psql_waits() { [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'pgtier\_restore\_%' AND wait_event_type = 'Lock'")" -ge 1 ]; }
wait_until 60 psql_waits || { cat "$WORK/restore.err" >&2; fail "the restore's psql never waited for the lock"; }
PID=$(child_named "$BG_PID" psql) || fail "no psql below pgtier $BG_PID"
check_environ "$PID" psql
echo "ROLLBACK;" >&9  # a committed change of the row would fail the waiting ALTER ROLE
RC=0
wait "$BG_PID" || RC=$?
expect_rc restore 0 "the held restore, once the lock is gone"
[ "$(psql_db held_copy -c "SELECT count(*) FROM t")" = 100 ] || fail "held_copy was not restored"
exec 9>&-
wait "$HOLDER" || true

# ---- an offsite URL with a user and password is configuration error, the password not shown
for setting in PGTIER_OFFSITE_ENDPOINT=https://AKIA:url-password-42@rgw.example:7480 \
    PGTIER_OFFSITE_URL=s3://AKIA:url-password-42@bucket; do
    env "$setting" PGTIER_OFFSITE_REGION=us-east-1 "$PGTIER" --dir "$B" backup full --force >"$WORK/url.out" 2>"$WORK/url.err" && RC=0 || RC=$?
    [ "$RC" = 2 ] || { cat "$WORK/url.err" >&2; fail "${setting%%=*} with user:password@: exit $RC (want 2)"; }
    grep -qF "${setting%%=*}" "$WORK/url.err" || fail "${setting%%=*}: the message does not name the variable: $(cat "$WORK/url.err")"
    ! grep -qF url-password-42 "$WORK/url.err" "$WORK/url.out" || fail "${setting%%=*}: the password is shown: $(cat "$WORK/url.err")"
    pass "${setting%%=*} with user:password@ -> exit 2: $(tail -n1 "$WORK/url.err")"
done
printf '[offsite]\nurl = "s3://bucket"\nendpoint = "http://key:url-password-42@127.0.0.1:1"\n' >"$WORK/url.toml"
run_pgtier url-file --config "$WORK/url.toml" --dir "$B" backup full --force
[ "$RC" = 2 ] || fail_run url-file "offsite.endpoint with user:password@: exit $RC (want 2)"
grep -qF "offsite.endpoint" "$WORK/url-file.err" || fail_run url-file "the message does not name offsite.endpoint"
! grep -qF url-password-42 "$WORK/url-file.err" "$WORK/url-file.out" || fail_run url-file "the password is shown"
pass "offsite.endpoint with user:password@ in the file -> exit 2: $(tail -n1 "$WORK/url-file.err")"
