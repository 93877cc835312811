# shellcheck shell=bash
# Shared helpers for pgtier's integration tests, demo and benchmark.
# Source it from bash. It starts throwaway PostgreSQL clusters (initdb + pg_ctl) on a private
# socket directory and port; as root the server runs as the `postgres` user.
#
#   pg_start NAME        start cluster NAME under $WORK/NAME, export PGHOST/PGPORT/PGUSER for it
#   pg_use NAME          export PGHOST/PGPORT/PGUSER of an already started cluster
#   pg_stop NAME         stop it (fast shutdown)
#   pg_port NAME         its port
#   psql_q [psql args]   psql -X -q -v ON_ERROR_STOP=1 -At against the current cluster
#   strip_restrict       filter: drop pg_dump's \restrict / \unrestrict token lines
#   fail MSG / pass MSG  report; fail exits 1
#   $WORK                a private temporary directory, removed (clusters stopped) at exit
#   $PGTIER              the pgtier binary under test (PGTIER_BIN, else build/pgtier)
#   _CLEANUP_HOOKS       commands (function names) run at exit before $WORK goes, e.g. by
#                        lib_s3.sh to kill its daemons
set -euo pipefail

# shellcheck disable=SC2012  # newest installed PostgreSQL; no match must give nothing, not the glob
PG_BINDIR=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
export PATH="$PG_BINDIR:$PATH"
PGTIER_SOURCE_DIR=${PGTIER_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PGTIER=${PGTIER_BIN:-$PGTIER_SOURCE_DIR/build/pgtier}
[ -x "$PGTIER" ] || { echo "pgtier binary not found at $PGTIER (build first, or set PGTIER_BIN)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pgtier-test.XXXXXX)
chmod 755 "$WORK"
declare -a _PG_STARTED=()
declare -a _CLEANUP_HOOKS=()

_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_cleanup() {
    # Runs as the EXIT trap: nothing in here may abort it (set -e) before $WORK is removed,
    # and the script keeps its own exit status.
    local rc=$?
    set +e +o pipefail
    local name hook
    for hook in "${_CLEANUP_HOOKS[@]}"; do
        "$hook" >/dev/null 2>&1 || true
    done
    for name in "${_PG_STARTED[@]}"; do
        _as_pg pg_ctl -D "$WORK/$name/data" -m immediate stop >/dev/null 2>&1 || true
    done
    # Unmount anything a test mounted below $WORK before removing it.
    if [ "$(id -u)" -eq 0 ]; then
        grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap _cleanup EXIT
# set -e ends a script silently; say which command did it (a CI log has no more). errtrace (-E)
# reaches into functions; the $- test skips command substitutions, where bash clears -e and a
# failing command is not fatal.
set -E
# shellcheck disable=SC2154  # _rc is assigned inside the trap string itself
trap '_rc=$?; [[ $- == *e* ]] && echo "FAIL: unexpected exit status $_rc at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}" >&2' ERR

# A free TCP port on loopback, chosen by the kernel.
_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000))
}

pg_port() { cat "$WORK/$1/port"; }

pg_use() {
    export PGHOST="$WORK/$1/socket" PGPORT
    PGPORT=$(pg_port "$1")
    export PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD
}

pg_start() {
    local name=$1 dir="$WORK/$1" port
    mkdir -p "$dir/socket"
    if [ ! -d "$dir/data" ]; then
        mkdir -p "$dir/data"
        [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
        _as_pg initdb --no-sync -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; return 1; }
        port=$(_free_port)
        echo "$port" >"$dir/port"
        cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
logging_collector = off
CONF
    fi
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    _as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
    _PG_STARTED+=("$name")
    pg_use "$name"
}

pg_stop() {
    _as_pg pg_ctl -D "$WORK/$1/data" -m fast -w stop >/dev/null
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

strip_restrict() { grep -Ev '^\\(un)?restrict '; }

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
