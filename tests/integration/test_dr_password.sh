#!/usr/bin/env bash
# A disaster recovery onto a node whose superuser password differs from the old node's never
# locks itself out: the globals carry the old node's password hash of the role pgtier connects
# as, and replaying it would make every later connection of the restore fail. The restore keeps
# that role's current password (and says so), by the command (restore full --jobs 2) and by the
# daemon's auto_restore, also when the daemon is killed (-9) mid-restore and started again:
# every database is there and the new password still works, the old one does not.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
export TZ=UTC
B="$WORK/backups"

# tcp_toml CLUSTER PASSWORD — a config connecting as postgres over TCP with that password
tcp_toml() {
    printf '%s\n' "$2" >"$WORK/$1.secret"
    chmod 600 "$WORK/$1.secret"
    daemon_toml "$B" UTC "0 0 1 1 *" "0 0 2 1 *" "0 0 3 1 *"
    printf '[postgres]\nhost = "127.0.0.1"\nport = %s\nuser = "postgres"\npassword_file = "%s"\n' \
        "$(pg_port "$1")" "$WORK/$1.secret"
    printf '[daemon]\nauto_restore = true\n'
}
# can_login CLUSTER PASSWORD — a TCP login as postgres with that password works
can_login() { PGPASSWORD=$2 psql -X -q -At -h 127.0.0.1 -p "$(pg_port "$1")" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1; }
all_there() { # CLUSTER
    [ "$(with_pg "$1" psql_db shop -c "SELECT count(*) FROM t")" = 100 ] &&
        [ "$(with_pg "$1" psql_db zbig -c "SELECT count(*) FROM t")" = "${ZBIG_ROWS:-200000}" ] &&
        [ "$(with_pg "$1" psql_q -d postgres -c "SELECT rolname FROM pg_roles WHERE rolname = 'shopper'")" = shopper ]
}

pg_start src
pg_quiet
psql_q -d postgres -c "ALTER ROLE postgres PASSWORD 'old-node-pw'" -c "CREATE ROLE shopper LOGIN PASSWORD 'shop-pw'"
psql_q -d postgres -c "CREATE DATABASE shop OWNER shopper" -c "CREATE DATABASE zbig"
psql_db shop -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
psql_db zbig -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((-g)::text) AS a FROM generate_series(1, ${ZBIG_ROWS:-200000}) g"
settle
tcp_toml src old-node-pw >"$WORK/src.toml"
run_pgtier full --config "$WORK/src.toml" backup full
expect_rc full 0 "backup full over TCP with the old node's password"
ARCHIVE=$(archives "$B" full)
decompress "$ARCHIVE" >"$WORK/archive.sql"  # (a file: grep -q on a pipe would fail it with SIGPIPE)
grep -q "ALTER ROLE postgres .*PASSWORD 'SCRAM" "$WORK/archive.sql" || fail "setup: the globals do not hold postgres's password hash"
pg_stop src
pass "backup of the old node (postgres's password hash in the globals)"

# ---- by the command ------------------------------------------------------------------------------
pg_start new1
with_pg new1 psql_q -d postgres -c "ALTER ROLE postgres PASSWORD 'new-node-pw'"
tcp_toml new1 new-node-pw >"$WORK/new1.toml"
run_pgtier r1 --config "$WORK/new1.toml" restore full "$ARCHIVE" --jobs 2
expect_rc r1 0 "restore full onto a node with another password"
all_there new1 || fail_run r1 "not every database was restored"
grep -q 'keeps the current password of role "postgres"' "$WORK/r1.err" || fail_run r1 "the restore does not say that it kept postgres's password"
can_login new1 new-node-pw || fail "the new node's password no longer works after the restore"
! can_login new1 old-node-pw || fail "the old node's password works on the new node"
PGPASSWORD=shop-pw psql -X -q -At -h 127.0.0.1 -p "$(pg_port new1)" -U shopper -d shop -c "SELECT 1" >/dev/null \
    || fail "shopper's archived password does not work after the restore"
pass "restore full --jobs 2 onto a node with another password: every database, postgres keeps its password, shopper gets the archive's"

# ---- by the daemon, killed mid-restore and started again ------------------------------------------
pg_start new2
with_pg new2 psql_q -d postgres -c "ALTER ROLE postgres PASSWORD 'other-pw'"
tcp_toml new2 other-pw >"$WORK/new2.toml"
start_daemon d1 --config "$WORK/new2.toml"
wait_log "$WORK/d1.log" 'restoring database "zbig"' 1 60 || { show_log "$WORK/d1.log"; fail "the auto_restore did not reach zbig"; }
sleep 0.3
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=
all_there new2 && fail "setup: the auto_restore had finished before the kill"
can_login new2 other-pw || fail "after the killed auto_restore the node's password no longer works"
start_daemon d2 --config "$WORK/new2.toml"
wait_log "$WORK/d2.log" 'restored database "zbig"' 1 120 || { show_log "$WORK/d2.log"; fail "the restarted daemon did not finish the restore"; }
sleep 1
kill -0 "$DPID" 2>/dev/null || { show_log "$WORK/d2.log"; fail "the daemon exited after finishing the restore"; }
all_there new2 || { show_log "$WORK/d2.log"; fail "not every database is there after the resumed auto_restore"; }
can_login new2 other-pw || fail "the node's password no longer works after the auto_restore"
stop_pid "$DPID" 10
pass "auto_restore onto a node with another password, killed (-9) mid-restore and restarted: every database there, the password kept"
