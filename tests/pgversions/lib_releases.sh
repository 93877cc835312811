# shellcheck shell=bash
# Sourced by tests/pgversions/run.sh and test_versions.sh, after tests/integration/lib.sh: one
# long-lived container per Debian release (its compiler, libraries and PostgreSQL, from
# tests/container/lib_images.sh's cached build image), sharing the host's network, lib.sh's $WORK
# and $PGV_BUILDS at the same paths, so that every PostgreSQL server under $WORK is reachable from
# the host and from every container through its socket directory, exactly like lib.sh's clusters.
#
#   release_up RELEASE         start (once) the container of RELEASE; its name -> PGV_CTR_<RELEASE>
#   in_release RELEASE CMD...  run CMD in RELEASE (bookworm: on this host, which is bookworm)
#   pgtier_of RELEASE          the pgtier binary built for RELEASE (build_in_release)
#   build_in_release RELEASE   build pgtier from the working tree ($PGTIER_SOURCE_DIR) in RELEASE's
#                              container into $PGV_BUILDS/build-RELEASE (only the pgtier target,
#                              plus the unit tests with BUILD_UNIT=1)
#   pg_start_in RELEASE NAME   a cluster NAME under $WORK served by RELEASE's PostgreSQL;
#                              PGHOST/PGPORT/PGUSER exported for it, and lib.sh's pg_use / pg_port /
#                              with_pg work with it
#
# PGV_BUILDS: where the builds are (default $WORK). The containers are removed at exit.

export CONTAINERS_CONF=${CONTAINERS_CONF:-$PGTIER_SOURCE_DIR/tests/container/containers.conf}
PGV_BUILDS=${PGV_BUILDS:-$WORK}
declare -A PGV_CTR=()
_CLEANUP_HOOKS+=(pgv_down)

release_up() {
    local release=$1 name mounts
    [ "$release" = bookworm ] && return 0
    [ -n "${PGV_CTR[$release]:-}" ] && return 0
    name=pgtier-pgv-$release-$$
    mounts=(-v "$PGTIER_SOURCE_DIR:$PGTIER_SOURCE_DIR:ro" -v "$WORK:$WORK")
    [ "$PGV_BUILDS" = "$WORK" ] || mounts+=(-v "$PGV_BUILDS:$PGV_BUILDS")
    podman run -d --name "$name" --network=host "${mounts[@]}" "localhost/pgtier-builddeps:$release" sleep infinity >/dev/null
    PGV_CTR[$release]=$name
}

pgv_down() {
    local release
    for release in "${!PGV_CTR[@]}"; do podman rm -f -t 0 "${PGV_CTR[$release]}" >/dev/null 2>&1 || true; done
}

in_release() {
    local release=$1
    shift
    if [ "$release" = bookworm ]; then
        "$@"
    else
        podman exec -i -e LC_ALL=C.UTF-8 -e PGHOST -e PGPORT -e PGUSER -e PGDATABASE \
            "${PGV_CTR[$release]}" "$@"
    fi
}

pgtier_of() {
    if [ "$1" = bookworm ]; then echo "$PGTIER"; else echo "$PGV_BUILDS/build-$1/pgtier"; fi
}

build_in_release() {
    local release=$1 targets=(pgtier) tests=OFF
    if [ "${BUILD_UNIT:-0}" = 1 ]; then
        targets+=(pgtier_unit_tests)
        tests=ON
    fi
    in_release "$release" bash -ec "
        cmake -S '$PGTIER_SOURCE_DIR' -B '$PGV_BUILDS/build-$release' -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DPGTIER_WERROR=ON -DPGTIER_BUILD_TESTS=$tests >/dev/null
        cmake --build '$PGV_BUILDS/build-$release' -j \$(nproc) --target ${targets[*]}"
}

pg_start_in() {
    local release=$1 name=$2 dir="$WORK/$2" port
    if [ "$release" = bookworm ]; then
        pg_start "$name"
        return
    fi
    port=$(_free_port)
    mkdir -p "$dir/socket"
    echo "$port" >"$dir/port"
    in_release "$release" bash -ec "
        chown -R postgres: '$dir'
        runuser -u postgres -- sh -c 'PATH=\$(ls -d /usr/lib/postgresql/*/bin):\$PATH
            initdb --no-sync -D \"$dir/data\" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
                --encoding=UTF8 --locale=C.UTF-8 >\"$dir/initdb.log\" 2>&1
            cat >>\"$dir/data/postgresql.conf\" <<CONF
port = $port
listen_addresses = '\''127.0.0.1'\''
unix_socket_directories = '\''$dir/socket'\''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
CONF
            pg_ctl -D \"$dir/data\" -l \"$dir/server.log\" -w -t 60 start >/dev/null'" ||
        { cat "$dir/initdb.log" "$dir/server.log" >&2 2>/dev/null; fail "cannot start a $release server $name"; }
    pg_use "$name"
}
