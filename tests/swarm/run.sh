#!/usr/bin/env bash
# Swarm test (issue 14): docs/deployment.md's Docker Swarm operator path on a real single-node Swarm.
#
# Prepares what a fresh machine lacks and undoes it at the end: starts dockerd when none runs,
# `docker swarm init --advertise-addr 127.0.0.1` when the engine is in no swarm, and a local
# stand-in for the stack's server image (swarm/deploy.env: postgres:17-bookworm; PG_IMAGE for
# another) when docker lacks it (tests/container/lib_images.sh: Debian's PostgreSQL 17 from trixie,
# the container test's, copied from podman's store or built the same way; no registry is
# reachable). Then, in a copy of the checkout, exactly as docs/deployment.md
# says, with a private stack name, secret names and backup directory written into the copy's
# swarm/deploy.env: the node label, the secret, the backup directory; a deploy with a secret that
# does not exist and one onto a private mount, both refused with the error; the shared-mount fix;
# `make build` (with podman where it is: the container test's build from its layer cache, copied
# into docker's store), `make deploy`, the first full on the host, a change -> `make backup-incr`,
# `make backup-list`, `make backup-verify`, a `docker exec` restore with --as (rows compared), a
# config edit + `make update` (the new schedule in `pgtier status`), `docker kill` of the pgtier task
# in the middle of a full (a new task, the partial swept, verify OK), a password rotation by the
# docs/deployment.md's procedure (a backup by the daemon afterwards), `make remove` (backups kept).
#
# Everything it made (stack, services, networks, secrets, configs, volume, mounts, temporary
# directories, the node label, the swarm, dockerd) is removed at the end, also on failure; the
# images stay as a cache (stand-ins, localhost/pgtier-swarmtest:VERSION). Needs root.
set -euo pipefail
set -E
# shellcheck disable=SC2154  # _rc is assigned inside the trap string itself
trap '_rc=$?; [[ $- == *e* ]] && echo "FAIL: unexpected exit status $_rc at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}" >&2' ERR

SRC=$(cd "$(dirname "$0")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$SRC/tests/container/containers.conf} # podman, for the stand-ins
VERSION=$(tr -d '[:space:]' <"$SRC/VERSION")
WANT_PG_IMAGE=${PG_IMAGE:-}
export -n PG_IMAGE
# The Makefile must see only the variables file and what this script passes.
unset MAKEFLAGS MFLAGS MAKELEVEL REGISTRY STACK STACK_FILE BACKUP_DIR POSTGRES_IMAGE \
    POSTGRES_PASSWORD_SECRET DEPLOY_ENV DEPLOY_TIMEOUT IMAGE DOCKER ARGS 2>/dev/null || true

T0=$(date +%s)
STEP='' STEP_T0=$T0
TIMINGS=()
say() { echo "[$(($(date +%s) - T0))s] $*"; }
step() { # NAME: ends the step before, starts NAME
    local now
    now=$(date +%s)
    [ -z "$STEP" ] || TIMINGS+=("$(printf '%5d s  %s' $((now - STEP_T0)) "$STEP")")
    STEP=$1 STEP_T0=$now
    [ -z "$1" ] || say "== $1"
}
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
wait_for() { # SECONDS WHAT CMD... (CMD is run anew each time: a function, not a $(…) argument)
    local secs=$1 deadline=$(($(date +%s) + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after $secs s waiting for: $what"
        sleep 1
    done
}

[ "$(id -u)" -eq 0 ] || fail "needs root (dockerd, mounts, the backup directory's owner)"
command -v dockerd >/dev/null || fail "no dockerd: scripts/install-deps --swarm installs Debian's docker.io"

WORK=$(mktemp -d /tmp/pgtier-swarm.XXXXXX)
STACK=pgtst$$
REPO=$WORK/repo
B=$WORK/backups           # the backup directory, on a shared mount (docs/deployment.md's fix)
B_PRIVATE=$WORK/private   # a backup directory on a private mount: the deploy must fail
SECRET1=$STACK-postgres_password
SECRET2=$STACK-postgres_password_v2
DOCKERD_PID='' SWARM_CREATED=0 LABELLED_NODE='' GWBRIDGE_BEFORE=1
MOUNTS=() SECRETS=()

stack_services() { docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}}' 2>/dev/null; }
stack_gone() {
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] &&
        [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$STACK")" ]
}

cleanup() {
    local rc=$?
    set +e
    trap - ERR
    step cleanup
    if [ "$rc" -ne 0 ] && docker info >/dev/null 2>&1; then
        for svc in $(stack_services); do
            echo "---- $svc: tasks (docker service ps --no-trunc) ----" >&2
            docker service ps --no-trunc "$svc" >&2
            for id in $(docker service ps -q --no-trunc "$svc"); do
                docker inspect --type task --format '{{if .Status.Err}}task {{.ID}} ({{.Status.State}}): {{.Status.Err}}{{end}}' "$id"
            done | grep . >&2
            echo "---- $svc: last log lines ----" >&2
            timeout 20 docker service logs --no-trunc --tail 40 "$svc" >&2 2>&1
        done
    fi
    if docker info >/dev/null 2>&1; then
        if [ -n "$(stack_services)" ]; then docker stack rm "$STACK" >/dev/null; fi
        local i
        for ((i = 0; i < 90; i++)); do stack_gone && break; sleep 1; done
        stack_gone || echo "cleanup: containers or networks of $STACK still there after 90 s" >&2
        for ((i = 0; i < 20; i++)); do
            docker volume inspect "${STACK}_pgdata" >/dev/null 2>&1 || break
            docker volume rm "${STACK}_pgdata" >/dev/null 2>&1 || sleep 1
        done
        for c in $(docker config ls -q --filter "label=com.docker.stack.namespace=$STACK"); do docker config rm "$c" >/dev/null; done
        for s in "${SECRETS[@]}"; do docker secret rm "$s" >/dev/null 2>&1; done
        [ -z "$LABELLED_NODE" ] || docker node update --label-rm database "$LABELLED_NODE" >/dev/null
        if [ "$SWARM_CREATED" -eq 1 ]; then
            docker swarm leave --force >/dev/null
            [ "$GWBRIDGE_BEFORE" -eq 1 ] || docker network rm docker_gwbridge >/dev/null 2>&1
        fi
    fi
    for m in "${MOUNTS[@]}"; do umount "$m"; done
    if [ -n "$DOCKERD_PID" ]; then
        if [ "$rc" -ne 0 ]; then
            echo "---- the dockerd this test started: last log lines ----" >&2
            tail -n 30 "$WORK/dockerd.log" >&2
        fi
        kill -TERM "$DOCKERD_PID"
        for ((i = 0; i < 60; i++)); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then echo "cleanup: dockerd $DOCKERD_PID did not stop" >&2; fi
    fi
    rm -rf "$WORK"
    step ''
    echo "---- step timings ----"
    printf '%s\n' "${TIMINGS[@]}"
    [ "$rc" -eq 0 ] && say "swarm test passed" || say "swarm test FAILED"
    exit "$rc"
}
trap cleanup EXIT

# ---- the engine and the swarm --------------------------------------------------------------------
step "dockerd and the swarm"
if ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers: starting dockerd (stopped again at the end)"
    setsid dockerd >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_for 60 "dockerd to answer" docker info
fi
say "docker: client $(docker version --format '{{.Client.Version}}'), engine $(docker version --format '{{.Server.Version}}')"
docker network inspect docker_gwbridge >/dev/null 2>&1 || GWBRIDGE_BEFORE=0
case "$(docker info --format '{{.Swarm.LocalNodeState}}')" in
    inactive)
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null
        SWARM_CREATED=1
        say "swarm initialised (left again at the end)"
        ;;
    active)
        [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] || fail "this node is in a swarm but no manager"
        [ "$(docker node ls -q | wc -l)" -eq 1 ] || fail "this node's swarm has several nodes: the test needs a single-node swarm"
        ;;
    *) fail "swarm state: $(docker info --format '{{.Swarm.LocalNodeState}}')" ;;
esac
NODE=$(docker info --format '{{.Swarm.NodeID}}')
pass "a single-node swarm, node $NODE"

# ---- images --------------------------------------------------------------------------------------
step "base images"
ENGINE=docker
# shellcheck source=tests/container/lib_images.sh
. "$SRC/tests/container/lib_images.sh"
WANT_PG_IMAGE=${WANT_PG_IMAGE:-$STACK_PG_IMAGE}
use_postgres_image "$WANT_PG_IMAGE"
[ -z "$PG_STANDIN_RELEASE" ] || say "using the stand-in $PG_IMAGE (no $WANT_PG_IMAGE in docker's store; $PG_STANDIN_RELEASE's PostgreSQL)"
pass "server image $PG_IMAGE (the server, and both stages of the pgtier image)"

# ---- the checkout and the deployment's variables ------------------------------------------------------
# A copy of the checkout (tracked and untracked, not ignored), so that the edits of the operator
# path (swarm/deploy.env, swarm/pgtier.toml) never touch the real one.
step "checkout copy and swarm/deploy.env"
mkdir "$REPO"
git -C "$SRC" ls-files -z --cached --others --exclude-standard |
    tar -C "$SRC" --null -T - --ignore-failed-read -c 2>/dev/null | tar -C "$REPO" -x
cd "$REPO"
set_var() { # NAME VALUE: the line NAME = ... of swarm/deploy.env
    if grep -q "^$1 = " swarm/deploy.env; then
        sed -i "s|^$1 = .*|$1 = $2|" swarm/deploy.env
    else
        printf '%s = %s\n' "$1" "$2" >>swarm/deploy.env
    fi
}
set_var STACK "$STACK"
set_var BACKUP_DIR "$B"
set_var TZ Europe/Berlin
set_var POSTGRES_IMAGE "$PG_IMAGE"
set_var POSTGRES_PASSWORD_SECRET "$SECRET1"
# Not one of the file's variables, but any of the Makefile's may go there: the image under a
# name of the test's own, so that no operator's pgtier:VERSION is replaced.
set_var IMAGE localhost/pgtier-swarmtest
IMAGE=localhost/pgtier-swarmtest:$VERSION
grep -v '^#' swarm/deploy.env | grep . | sed 's/^/    /'
pass "swarm/deploy.env of the copy names stack $STACK, backups in $B, TZ Europe/Berlin"

# ---- before the first deploy (docs/deployment.md: node label, secret, backup directory, image) ---------
step "node label, secret, backup directory"
if [ "$(docker node inspect --format '{{index .Spec.Labels "database"}}' "$NODE")" != true ]; then
    [ "$SWARM_CREATED" -eq 1 ] || LABELLED_NODE=$NODE
    docker node update --label-add database=true "$NODE" >/dev/null
fi
PW1="pw1-$RANDOM$RANDOM"
PW2="pw2 it's-$RANDOM$RANDOM" # a quote, as docs/deployment.md's procedure allows
printf '%s' "$PW1" | docker secret create "$SECRET1" - >/dev/null
SECRETS+=("$SECRET1")
for d in "$B" "$B_PRIVATE"; do
    mkdir -p "$d"
    chown 10001:10001 "$d"
    chmod 0750 "$d"
done
pass "node labelled database=true, secret $SECRET1, $B owned 10001:10001 0750"

# pgtier is compiled once per release: where podman is (CI, after the container test), the image
# is built by `make build DOCKER=podman` (docs/deployment.md allows it) with the container test's
# flags (lib_images.sh), which finds every step in podman's layer cache when the container test
# built the same sources on the same base, and is handed to docker's store. SWARM_BUILD=docker (or
# no podman) runs `make build` with docker itself.
step "make build"
BUILD_ENGINE=${SWARM_BUILD:-$(command -v podman >/dev/null && echo podman || echo docker)}
if [ "$BUILD_ENGINE" = podman ]; then
    make build DOCKER=podman BUILD_FLAGS="$PGTIER_IMAGE_BUILD_FLAGS" >"$WORK/build.log" 2>&1 ||
        { tail -40 "$WORK/build.log" >&2; fail "make build DOCKER=podman failed"; }
    podman save "$IMAGE" 2>/dev/null | docker load -q >/dev/null || fail "copying $IMAGE from podman's store into docker's failed"
    cached=$(grep -c -- '--> Using cache' "$WORK/build.log" || true)
    say "make build DOCKER=podman: $cached of its steps from podman's cache; $IMAGE copied into docker's store"
else
    make build >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; fail "make build failed"; }
fi
[ "$(docker image inspect --format '{{.Config.User}}' "$IMAGE")" = pgtier ] || fail "$IMAGE does not run as pgtier"
docker image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q '"pgtier","health","--live"' ||
    fail "$IMAGE has no HEALTHCHECK running pgtier health --live"
[ -z "$(docker image inspect --format '{{index .Config.Labels "pgtier.stage"}}' "$IMAGE")" ] ||
    fail "$IMAGE carries the build stage's label (make clean would prune it)"
n_stage=$("$BUILD_ENGINE" images -a -q --filter label=pgtier.stage=build | wc -l)
[ "$n_stage" -ge 1 ] || fail "no image labelled pgtier.stage=build in $BUILD_ENGINE's store after make build: make clean would leave the build stage"
pass "make build ($BUILD_ENGINE): $IMAGE (user pgtier, HEALTHCHECK) in docker's store; the build stage's $n_stage image(s) labelled pgtier.stage=build, the image not"

step "refused deploys: a missing secret, a private mount"
if out=$(make deploy POSTGRES_PASSWORD_SECRET="$STACK-no-such-secret" 2>&1); then
    echo "$out" >&2
    fail "make deploy with a secret that does not exist succeeded"
fi
grep -q "secret not found: $STACK-no-such-secret" <<<"$out" || { echo "$out" >&2; fail "the refusal does not name the missing secret"; }
pass "make deploy with a missing secret exits non-zero: $(grep -o "secret not found: [^ ]*" <<<"$out" | head -n1)"
# A directory on a mount of its own that is private: Docker refuses rslave there.
mount --bind "$B_PRIVATE" "$B_PRIVATE"
MOUNTS+=("$B_PRIVATE")
mount --make-private "$B_PRIVATE"
if out=$(make deploy BACKUP_DIR="$B_PRIVATE" DEPLOY_TIMEOUT=120 2>&1); then
    echo "$out" >&2
    fail "make deploy onto a private mount succeeded"
fi
grep -q 'wait-converged: stack .* did NOT converge' <<<"$out" && grep -q 'not a shared or slave mount' <<<"$out" ||
    { echo "$out" >&2; fail "make deploy onto a private mount did not fail with the task's error"; }
echo "$out" | grep -m1 'not a shared or slave mount' | cut -c1-300 | sed 's/^/    /'
pass "make deploy onto a private mount exits non-zero after $(grep -o 'tasks of the deployed definition failed' <<<"$out" | head -n1 || echo 'the timeout'), printing the task error"

# docs/deployment.md: check with findmnt; a private mount gets the fix.
prop=$(findmnt -n -o PROPAGATION --target "$B")
if [ "$prop" = private ]; then
    say "$B is on a private mount ($(findmnt -n -o TARGET --target "$B")): docs/deployment.md's fix"
    mount --bind "$B" "$B"
    MOUNTS+=("$B")
    mount --make-rshared "$B"
fi
prop=$(findmnt -n -o PROPAGATION --target "$B")
[[ $prop == shared* || $prop == *slave* ]] || fail "$B is still on a $prop mount"
pass "$B on a $prop mount"

# ---- first deploy ------------------------------------------------------------------------------------
step "make deploy (converged)"
make deploy >"$WORK/deploy.out" 2>&1 || { cat "$WORK/deploy.out" >&2; fail "make deploy failed"; }
grep 'wait-converged' "$WORK/deploy.out" | sed 's/^/    /'
pass "make deploy converged"
pg_cid() { docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_postgres" | head -n1; }
pgtier_cid() { docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_pgtier" | head -n1; }
psql_pg() { # DB SQL: psql in the server's container, unaligned
    docker exec "$(pg_cid)" psql -X -q -v ON_ERROR_STOP=1 -At -U postgres -d "$1" -c "$2"
}
[ "$(docker service inspect --format '{{.Spec.EndpointSpec.Mode}}' "${STACK}_postgres")" = dnsrr ] ||
    fail "the postgres service does not use endpoint_mode dnsrr"

step "first full on the host"
wait_for 300 "the daemon's first full in $B/full" test -e "$B/full/latest_full.sql.bz2"
FULL=$(readlink "$B/full/latest_full.sql.bz2")
[ "${FULL%%_full*}" = "$(TZ=Europe/Berlin date -d "$(jq -r .started_at "$B/full/$FULL.json")" +%Y%m%d_%H%M%S)" ] ||
    fail "$FULL is not named in Europe/Berlin time (TZ from swarm/deploy.env)"
# The server is the major the stack's image names (the stand-in carries that major, not another).
want_major=$(sed -nE 's|^(.*/)?postgres:([0-9]+).*|\2|p' <<<"$WANT_PG_IMAGE")
server_version=$(jq -r .server_version "$B/full/$FULL.json")
[ -z "$want_major" ] || [ "${server_version%%.*}" = "$want_major" ] ||
    fail "the full was taken from PostgreSQL $server_version, not $want_major as $WANT_PG_IMAGE names"
pass "first full on the host: $B/full/$FULL (Europe/Berlin time), from PostgreSQL $server_version"

step "change, make backup-incr, backup-list, backup-verify"
psql_pg postgres "CREATE DATABASE shop"
psql_pg shop "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g"
make backup-incr >"$WORK/incr.out" 2>&1 || { cat "$WORK/incr.out" >&2; fail "make backup-incr failed"; }
grep -q 'incremental: wrote' "$WORK/incr.out" || { cat "$WORK/incr.out" >&2; fail "make backup-incr wrote no incremental after a change"; }
INCR=$(readlink "$B/incremental/latest_incremental.sql.bz2")
make backup-list >"$WORK/list.out" 2>&1 || { cat "$WORK/list.out" >&2; fail "make backup-list failed"; }
grep -qF "$FULL" "$WORK/list.out" && grep -qF "$INCR" "$WORK/list.out" || { cat "$WORK/list.out" >&2; fail "make backup-list lacks $FULL or $INCR"; }
make backup-verify >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "make backup-verify failed"; }
pass "make backup-incr wrote $INCR; backup-list shows it and the full; backup-verify exits 0"

step "docker exec restore --as"
# docs/deployment.md's docker exec line, with this stack's name.
docker exec "$(docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_pgtier" | head -n1)" \
    backup-restore.sh restore-database latest-incremental shop --as shop_copy >"$WORK/restore.out" 2>&1 ||
    { cat "$WORK/restore.out" >&2; fail "backup-restore.sh restore-database latest-incremental shop --as shop_copy failed"; }
want=$(psql_pg shop "SELECT count(*), sum(id), md5(string_agg(note, ',' ORDER BY id)) FROM orders")
got=$(psql_pg shop_copy "SELECT count(*), sum(id), md5(string_agg(note, ',' ORDER BY id)) FROM orders")
[ "$got" = "$want" ] || fail "shop_copy ($got) differs from shop ($want)"
pass "docker exec … backup-restore.sh restore-database latest-incremental shop --as shop_copy: rows equal ($got)"

# ---- a config edit + make update ------------------------------------------------------------------------
step "config edit + make update"
PG_BEFORE=$(pg_cid)
sed -i 's|^incremental = "0 \* \* \* \*"|incremental = "* * * * *"|' swarm/pgtier.toml
grep -q '^incremental = "\* \* \* \* \*"' swarm/pgtier.toml || fail "could not edit swarm/pgtier.toml's incremental schedule"
make update >"$WORK/update.out" 2>&1 || { cat "$WORK/update.out" >&2; fail "make update failed"; }
sched=$(docker exec "$(pgtier_cid)" pgtier status --json | jq -r .tiers.incremental.schedule)
[ "$sched" = '* * * * *' ] || fail "pgtier status shows the incremental schedule '$sched', not the edited '* * * * *'"
[ "$(pg_cid)" = "$PG_BEFORE" ] || fail "make update after a pgtier.toml edit restarted the postgres service too"
pass "make update: pgtier status shows incremental '* * * * *'; the postgres task untouched"

# ---- docker kill of the pgtier task in the middle of a full ---------------------------------------------
step "docker kill mid-full: new task, partial swept, verify"
# A session holding a lock on shop.orders keeps pg_dump waiting inside the full.
docker exec -d -e PGAPPNAME=swarmtest-locker "$(pg_cid)" psql -X -U postgres -d shop \
    -c "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)"
locker_active() { [ "$(psql_pg postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'swarmtest-locker' AND state = 'active'")" = 1 ]; }
dump_waits() { [ "$(psql_pg postgres "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" -ge 1 ]; }
partials() { find "$B" -name '.*.partial' | wc -l; }
no_partial() { [ "$(partials)" -eq 0 ]; }
wait_for 30 "the locking session" locker_active
OLD=$(pgtier_cid)
docker exec -d "$OLD" pgtier backup full --force
wait_for 60 "pg_dump waiting for the lock" dump_waits
[ "$(partials)" -ge 1 ] || fail "no .partial archive while the full waits"
docker kill "$OLD" >/dev/null
[ "$(partials)" -ge 1 ] || fail "the partial went away with the killed container"
psql_pg postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'swarmtest-locker'" >/dev/null
DOCKER=docker POLL_SECONDS=1 swarm/wait-converged.sh "$STACK" 180 >"$WORK/kill.out" 2>&1 ||
    { cat "$WORK/kill.out" >&2; fail "no new pgtier task after docker kill"; }
NEW=$(pgtier_cid)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "no new pgtier container after docker kill"
wait_for 60 "the new task's daemon to sweep the partial" no_partial
docker logs "$NEW" >"$WORK/new.log" 2>&1
grep -q 'partial' "$WORK/new.log" || fail "the new task's log does not mention the removed partial"
grep -q 'the full run started at .* was interrupted' "$WORK/new.log" || fail "the new task's daemon does not record the killed full as interrupted"
docker exec "$NEW" pgtier status --json >"$WORK/status-kill.json"
[ "$(jq '.tiers.full.interrupted' "$WORK/status-kill.json")" -ge 1 ] || fail "status does not count the killed full as interrupted"
make backup-verify >"$WORK/verify2.out" 2>&1 || { cat "$WORK/verify2.out" >&2; fail "make backup-verify after docker kill failed"; }
pass "docker kill mid-full: new task ${NEW:0:12} running (stack $(grep -o 'converged in [0-9]* s' "$WORK/kill.out")), partial swept ($(grep -m1 -o 'removed .*partial' "$WORK/new.log")), the full recorded as interrupted, backup-verify exits 0"

# ---- password rotation (docs/deployment.md, "Changing the password") ---------------------------------------
step "password rotation"
PG_BEFORE=$(pg_cid) PGTIER_BEFORE=$(pgtier_cid)
printf '%s' "$PW2" | docker secret create "$SECRET2" - >/dev/null
SECRETS+=("$SECRET2")
# docs/deployment.md's lines (a single quote in the password doubled for SQL).
pg=$(docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_postgres" | head -n1)
printf "ALTER ROLE postgres PASSWORD '%s'" "${PW2//\'/\'\'}" | docker exec -i "$pg" psql -X -q -v ON_ERROR_STOP=1 -U postgres
set_var POSTGRES_PASSWORD_SECRET "$SECRET2"
T_ROTATED=$(date +%s)
make update >"$WORK/rotate.out" 2>&1 || { cat "$WORK/rotate.out" >&2; fail "make update after the rotation failed"; }
[ "$(pg_cid)" != "$PG_BEFORE" ] && [ "$(pgtier_cid)" != "$PGTIER_BEFORE" ] || fail "make update did not restart both services onto the new secret"
docker secret rm "$SECRET1" >/dev/null || fail "the old secret $SECRET1 is still in use after the rotation"
# shellcheck disable=SC2016  # expanded in the container
docker exec "$(pgtier_cid)" sh -c 'PGPASSWORD=$(cat /run/secrets/postgres_password) psql -X -At -h postgres -U postgres -c "SELECT 1"' >/dev/null ||
    fail "the new secret in the pgtier task does not log in over TCP"
if docker exec -e PGPASSWORD="$PW1" "$(pgtier_cid)" psql -X -At -h postgres -U postgres -c "SELECT 1" >/dev/null 2>&1; then
    fail "the old password still logs in"
fi
# The daemon's own next incremental (every minute since the edit; the ALTER ROLE changed the
# globals). While the postgres task restarts, the daemon's first tries may not resolve
# "postgres": it retries; a refused password would be a failure.
daemon_wrote() {
    docker logs --since "$T_ROTATED" "$(pgtier_cid)" >"$WORK/rotated.log" 2>&1 && grep -q 'incremental: wrote' "$WORK/rotated.log"
}
wait_for 150 "the daemon's scheduled incremental with the new password" daemon_wrote
if grep -q 'password authentication failed' "$WORK/rotated.log"; then
    cat "$WORK/rotated.log" >&2
    fail "the daemon could not connect after the rotation"
fi
pass "password rotated: secret $SECRET2, both tasks restarted, old secret removable, old password refused; the daemon's own run: $(grep -m1 -o 'incremental: wrote [^ ]*' "$WORK/rotated.log")"

# ---- make remove ----------------------------------------------------------------------------------------
step "make remove"
# The daemon runs an incremental every minute until its task stops, so one more archive may
# appear while the stack goes; what must hold is that none of those before is gone or changed.
find "$B" -name '*.sql.bz2' -type f -exec sha256sum {} + >"$WORK/before-remove.sha256"
n_before=$(wc -l <"$WORK/before-remove.sha256")
make remove >"$WORK/remove.out" 2>&1 || { cat "$WORK/remove.out" >&2; fail "make remove failed"; }
wait_for 90 "the stack's containers and network to go" stack_gone
[ -z "$(stack_services)" ] || fail "services left after make remove"
n_after=$(find "$B" -name '*.sql.bz2' -type f | wc -l)
sha256sum --quiet -c "$WORK/before-remove.sha256" >&2 || fail "make remove removed or changed archives (see above)"
[ "$n_before" -ge 3 ] || fail "only $n_before archives before make remove"
docker volume inspect "${STACK}_pgdata" >/dev/null 2>&1 || fail "make remove removed the data volume"
docker secret inspect "$SECRET2" >/dev/null 2>&1 || fail "make remove removed the external secret"
pass "make remove: services and network gone; the $n_before archives unchanged ($n_after now), the volume ${STACK}_pgdata and the secret kept"

step ''
say "done in $(($(date +%s) - T0)) s"
