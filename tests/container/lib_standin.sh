# shellcheck shell=bash
# Stand-in base images for machines without a registry, shared by the container test (podman) and
# the swarm test (docker): a minimal bookworm made with debootstrap, and Debian's PostgreSQL 15 on
# it with an entry point like the official image's (postgres-standin/, postgres as uid/gid 999).
#
# Source it with ENGINE (podman or docker), WORK (a scratch directory), MIRROR, BUILD_IMAGE and
# PG_IMAGE set and say/fail defined; standin_images then replaces BUILD_IMAGE and PG_IMAGE by the
# stand-ins where ENGINE lacks the real images, building the stand-ins when absent. Docker takes
# them from podman's store when podman has them (the container test built them).
STANDIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres-standin
STANDIN_BASE=localhost/pgtier-standin-debian:bookworm
# The tag carries a digest of the stand-in's sources: an edited stand-in is rebuilt, never an
# older build reused.
STANDIN_PG=localhost/pgtier-standin-postgres:15-bookworm-$(cat "$STANDIN_DIR/Dockerfile" \
    "$STANDIN_DIR/docker-entrypoint.sh" | sha256sum | cut -c1-12)

standin_have() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

standin_from_podman() { # IMAGE
    [ "$ENGINE" = docker ] && command -v podman >/dev/null 2>&1 && podman image exists "$1" 2>/dev/null ||
        return 1
    say "copying $1 from podman's store into docker's"
    podman save "$1" 2>/dev/null | docker load -q >/dev/null
}

standin_images() {
    if ! standin_have "$BUILD_IMAGE"; then
        if ! standin_have "$STANDIN_BASE" && ! standin_from_podman "$STANDIN_BASE"; then
            say "no $BUILD_IMAGE: building the stand-in $STANDIN_BASE with debootstrap ($MIRROR)"
            debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
                { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
            tar -C "$WORK/rootfs" -c . | "$ENGINE" import - "$STANDIN_BASE" >/dev/null
            rm -rf "$WORK/rootfs"
        fi
        BUILD_IMAGE=$STANDIN_BASE
    fi
    if ! standin_have "$PG_IMAGE"; then
        if ! standin_have "$STANDIN_PG" && ! standin_from_podman "$STANDIN_PG"; then
            say "no $PG_IMAGE: building the stand-in $STANDIN_PG"
            "$ENGINE" build --network=host --build-arg BASE_IMAGE="$BUILD_IMAGE" -t "$STANDIN_PG" \
                "$STANDIN_DIR" >"$WORK/standin.log" 2>&1 ||
                { tail -20 "$WORK/standin.log" >&2; fail "building $STANDIN_PG failed"; }
        fi
        # shellcheck disable=SC2016  # expanded in the container
        [ "$("$ENGINE" run --rm --entrypoint bash "$STANDIN_PG" -c 'echo "$(id -u postgres):$(id -g postgres)"')" = 999:999 ] ||
            fail "the stand-in $STANDIN_PG's postgres user is not uid/gid 999 like the official image's"
        PG_IMAGE=$STANDIN_PG
    fi
}
