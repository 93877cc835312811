#!/usr/bin/env bash
# Container test (issue 5): builds the image from docker/Dockerfile, runs it beside a PostgreSQL
# container as the Swarm stack would (config file, password secret, /backups bind mount, TZ), and
# checks a backup cycle, a single-database restore through backup-restore.sh, the archives from
# the host side of the bind mount, and auto-restore into a fresh empty server.
#
# The server image: PG_IMAGE, default the stack's (swarm/deploy.env: postgres:17-bookworm), used
# when podman has it; otherwise a local stand-in is built, since no registry is reachable
# (lib_images.sh: Debian's PostgreSQL of that major from the release that ships it — 17 from
# trixie — on a debootstrap minbase of that release, with an entry point like the official image's
# and the postgres user as uid/gid 999). The pgtier image is built on it, as `make build` does.
set -euo pipefail
set -E
# shellcheck disable=SC2154  # _rc is assigned inside the trap string itself
trap '_rc=$?; [[ $- == *e* ]] && echo "FAIL: unexpected exit status $_rc at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}" >&2' ERR

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$SRC/tests/container
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}
VERSION=$(tr -d '[:space:]' <"$SRC/VERSION")
IMAGE=${IMAGE:-localhost/pgtier}:$VERSION
UID_GID=10001:10001 # the image's pgtier user

T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

WORK=$(mktemp -d /tmp/pgtier-ct.XXXXXX)
NAME=pgtier-ct-$$
CONTAINERS=()
cleanup() {
    local rc=$?
    set +e
    for c in "${CONTAINERS[@]}"; do
        if [ "$rc" -ne 0 ]; then
            echo "---- last log lines of $c ----" >&2
            podman logs --tail 30 "$c" >&2 2>&1
        fi
        podman rm -f -t 2 "$c" >/dev/null 2>&1
    done
    rm -rf "$WORK"
    [ "$rc" -eq 0 ] && say "container test passed" || say "container test FAILED"
    exit "$rc"
}
trap cleanup EXIT

# ---- images ---------------------------------------------------------------------------------------
ENGINE=podman
# shellcheck source=tests/container/lib_images.sh
. "$HERE/lib_images.sh"
use_postgres_image "${PG_IMAGE:-docker.io/library/$STACK_PG_IMAGE}"
say "building $IMAGE from docker/Dockerfile with make build DOCKER=podman (built and run on $PG_IMAGE)"
# The same build as the Swarm test's and the version matrix's (lib_images.sh): podman's layer cache
# then has every step, so pgtier is compiled for this release once (CI builds it while make test
# runs: prepare_images.sh).
build_pgtier_image "$IMAGE" "$PG_IMAGE" "$WORK/build.log"
pass "image $IMAGE built"

[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = pgtier ] || fail "the image does not run as the pgtier user"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q '"pgtier","health","--live"' ||
    fail "the image has no HEALTHCHECK running pgtier health --live"
[ "$(podman run --rm --no-healthcheck "$IMAGE" --version)" = "pgtier $VERSION" ] || fail "pgtier --version in the image is not $VERSION"
pass "image: user pgtier, HEALTHCHECK pgtier health --live, version $VERSION"
# The run stage's packages are derived from the binary's libraries in the build stage (ldd,
# dpkg -S), so they are those of the base's release, whichever it is.
podman run --rm --no-healthcheck --entrypoint cat "$IMAGE" /usr/share/pgtier/runtime-packages >"$WORK/runtime-packages" ||
    fail "the image has no /usr/share/pgtier/runtime-packages"
pass "image: runtime packages derived in the build stage: $(tr '\n' ' ' <"$WORK/runtime-packages")"

# ---- a PostgreSQL container and the pgtier container, as the stack runs them ------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}
printf 'secret-%s\n' "$RANDOM$RANDOM" >"$WORK/postgres_password"
chmod 0444 "$WORK/postgres_password" # as a Swarm secret: root-owned, world-readable in the container
B=$WORK/backups
install -d -o "${UID_GID%:*}" -g "${UID_GID#*:}" -m 0750 "$B"

start_postgres() { # CONTAINER PORT
    CONTAINERS+=("$1")
    podman run -d --name "$1" --network=host -e POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password \
        -v "$WORK/postgres_password:/run/secrets/postgres_password:ro" "$PG_IMAGE" -c port="$2" >/dev/null
    local i
    for ((i = 0; i < 120; i++)); do
        podman exec -u postgres "$1" pg_isready -q -h 127.0.0.1 -p "$2" 2>/dev/null && return 0
        sleep 0.5
    done
    fail "PostgreSQL container $1 did not become ready"
}
psql_in() { # CONTAINER PORT DB SQL — psql inside the server's container, unaligned
    podman exec -u postgres "$1" psql -X -q -v ON_ERROR_STOP=1 -At -h /var/run/postgresql -p "$2" -d "$3" -c "$4"
}
write_config() { # PORT
    cat >"$WORK/pgtier.toml" <<TOML
[postgres]
host = "127.0.0.1"
port = $1
user = "postgres"

[storage]
dir = "/backups"

# Nothing fires during the test: the first full is the one the daemon takes at start.
[schedule]
full = "0 3 1 1 *"
differential = "0 4 1 1 *"
incremental = "0 5 1 1 *"
TOML
    chmod 0444 "$WORK/pgtier.toml"
}
start_pgtier() { # CONTAINER [podman run options]
    local c=$1
    shift
    CONTAINERS+=("$c")
    podman run -d --name "$c" --network=host -e TZ=Europe/Berlin "$@" \
        -e POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password \
        -v "$WORK/postgres_password:/run/secrets/postgres_password:ro" \
        -v "$WORK/pgtier.toml:/etc/pgtier/pgtier.toml:ro" -v "$B:/backups" "$IMAGE" >/dev/null 2>"$WORK/$c.run.err" ||
        { cat "$WORK/$c.run.err" >&2; fail "podman run of $c failed"; }
    # (podman may complain there that it has no systemd to schedule health checks: this machine has
    # none; `podman healthcheck run` below runs the check itself.)
}
wait_for() { # SECONDS WHAT CMD... (CMD is run anew each time)
    local deadline=$(($(date +%s) + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for: $what"
        sleep 1
    done
}

PORT=$(free_port)
PG1=$NAME-pg1
start_postgres "$PG1" "$PORT"
psql_in "$PG1" "$PORT" postgres "CREATE DATABASE shop"
psql_in "$PG1" "$PORT" postgres "CREATE DATABASE \"Ünïcode db\""
psql_in "$PG1" "$PORT" shop "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g"
psql_in "$PG1" "$PORT" "Ünïcode db" "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)"
SERVER_MAJOR=$(psql_in "$PG1" "$PORT" postgres "SELECT current_setting('server_version_num')::int / 10000")
DUMP_VERSION=$(podman run --rm --no-healthcheck --entrypoint pg_dump "$IMAGE" --version)
[ "$(awk '{split($3, v, "."); print v[1]}' <<<"$DUMP_VERSION")" = "$SERVER_MAJOR" ] ||
    fail "the image's pg_dump ($DUMP_VERSION) is not of the server's major $SERVER_MAJOR"
pass "PostgreSQL $SERVER_MAJOR container $PG1 on port $PORT with databases shop and 'Ünïcode db'; the image's $DUMP_VERSION"

write_config "$PORT"
D1=$NAME-pgtier1
start_pgtier "$D1"
wait_for 180 "the daemon's first full backup" test -e "$B/full/latest_full.sql.bz2"
pass "daemon in $D1 took its first full at start: $(readlink "$B/full/latest_full.sql.bz2")"

# ---- full -> change -> incremental, through podman exec ----------------------------------------------
psql_in "$PG1" "$PORT" shop "INSERT INTO orders SELECT g, 'new' FROM generate_series(5001, 5100) g"
out=$(podman exec "$D1" pgtier backup incr 2>&1) || { echo "$out" >&2; fail "pgtier backup incr failed in the container"; }
[ -e "$B/incremental/latest_incremental.sql.bz2" ] || { echo "$out" >&2; fail "no incremental after a change"; }
INCR=$(readlink "$B/incremental/latest_incremental.sql.bz2")
podman exec "$D1" pgtier restore list-databases "$INCR" | grep -q '^shop' || fail "the incremental $INCR does not hold shop"
out=$(podman exec "$D1" pgtier backup incr 2>&1) || { echo "$out" >&2; fail "a no-change incremental failed"; }
grep -q 'skipped' <<<"$out" || { echo "$out" >&2; fail "a no-change incremental was not skipped"; }
pass "change -> incremental $INCR (holds shop); no change -> skipped"

list=$(podman exec "$D1" backup-restore.sh list)
grep -q 'full' <<<"$list" && grep -q 'incremental' <<<"$list" || { echo "$list" >&2; fail "backup-restore.sh list lacks the full or the incremental"; }
podman exec "$D1" backup-restore.sh list-databases latest-full | grep -q 'Ünïcode db' ||
    fail "backup-restore.sh list-databases latest-full lacks 'Ünïcode db'"
pass "backup-restore.sh list and list-databases"

# ---- single-database restore through the compatibility wrapper ----------------------------------------
podman exec "$D1" backup-restore.sh restore-database "$INCR" shop --as shop_copy >"$WORK/restore.out" 2>&1 ||
    { cat "$WORK/restore.out" >&2; fail "backup-restore.sh restore-database … --as shop_copy failed"; }
[ "$(psql_in "$PG1" "$PORT" shop_copy "SELECT count(*), sum(id) FROM orders")" = "5100|13007550" ] ||
    fail "shop_copy does not hold the 5100 orders of the incremental"
if podman exec "$D1" backup-restore.sh restore-database "$INCR" no_such_db --as x >"$WORK/bad.out" 2>&1; then
    fail "restore-database of a database not in the archive succeeded"
fi
grep -q 'no_such_db' "$WORK/bad.out" || { cat "$WORK/bad.out" >&2; fail "the refusal does not name the database"; }
if podman exec "$D1" backup-restore.sh restore-full >/dev/null 2>&1; then fail "restore-full without FILE succeeded"; fi
pass "backup-restore.sh restore-database $INCR shop --as shop_copy: 5100 rows; unknown database and missing FILE refused"

# ---- the host side of the bind mount -----------------------------------------------------------------
for tier in full incremental; do
    (cd "$B/$tier" && sha256sum -c --quiet ./*.sha256) || fail "sha256sum -c on the host failed in $tier/"
done
n_links=0
for link in "$B"/*/latest_*; do
    [ -L "$link" ] || continue
    n_links=$((n_links + 1))
    readlink -e "$link" >/dev/null || fail "$link does not resolve on the host"
    [[ $(readlink "$link") != /* ]] || fail "$link is absolute: $(readlink "$link")"
done
[ "$n_links" -ge 2 ] || fail "expected latest_full and latest_incremental links, found $n_links"
bad=$(find "$B" -mindepth 1 \( -type f ! -perm 0640 -o -type d ! -perm 0750 -o ! -type l ! -user "${UID_GID%:*}" \
    -o ! -type l ! -group "${UID_GID#*:}" \) -printf '%M %u:%g %P\n')
[ -z "$bad" ] || { echo "$bad" >&2; fail "files or directories not owned 10001:10001 with 0640/0750"; }
pass "on the host: sha256sum -c of every sidecar, $n_links latest_* links resolve (relative), all files 0640 and directories 0750 owned by 10001:10001"

# Names use TZ (Europe/Berlin) while the manifest says UTC.
FULL=$(readlink "$B/full/latest_full.sql.bz2")
started=$(jq -r .started_at "$B/full/$FULL.json")
[ "${FULL%%_full*}" = "$(TZ=Europe/Berlin date -d "$started" +%Y%m%d_%H%M%S)" ] ||
    fail "$FULL is not named in Europe/Berlin time of its UTC start $started"
pass "TZ honoured: $FULL is the Europe/Berlin time of $started"

podman healthcheck run "$D1" >/dev/null || fail "the container's HEALTHCHECK (pgtier health --live) is unhealthy after the backups"
pass "HEALTHCHECK: healthy"

podman stop -t 30 "$D1" >/dev/null 2>&1
[ "$(podman inspect --format '{{.State.ExitCode}}' "$D1")" = 0 ] || fail "the daemon did not exit 0 on SIGTERM"
pass "podman stop: the daemon exits 0 on SIGTERM"

# ---- auto-restore: a fresh empty server + pgtier with auto_restore = true --------------------------------
podman rm -f -t 5 "$PG1" >/dev/null
PORT2=$(free_port)
PG2=$NAME-pg2
start_postgres "$PG2" "$PORT2"
write_config "$PORT2"
D2=$NAME-pgtier2
start_pgtier "$D2" -e PGTIER_DAEMON_AUTO_RESTORE=true
restored() { [ "$(psql_in "$PG2" "$PORT2" shop "SELECT count(*) FROM orders" 2>/dev/null)" = 5100 ]; }
wait_for 180 "auto-restore of shop into the fresh server $PG2" restored
# A function, so that each try queries anew (a $(…) argument would be evaluated once).
unicode_restored() { [ "$(psql_in "$PG2" "$PORT2" "Ünïcode db" "SELECT count(*) FROM t" 2>/dev/null)" = 2 ]; }
wait_for 60 "the restored cluster's 'Ünïcode db'" unicode_restored
grep -q 'restored globals and 4 databases' <<<"$(podman logs "$D2" 2>&1)" || fail "the daemon's log does not mention the restore"
pass "auto-restore: a fresh empty PostgreSQL came back with shop (5100 rows) and 'Ünïcode db'"

say "done in $(($(date +%s) - T0)) s"
