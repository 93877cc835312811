#!/usr/bin/env bash
# Builds, into podman's store, every image the container, Swarm, systemd and version-matrix tests
# would otherwise build on their first run (tests/container/lib_images.sh; each is kept under its tag
# or in podman's layer cache and found there by the tests): the trixie stand-in for the stack's
# server image, pgtier's image on it (the one trixie build of pgtier: the container and Swarm tests'
# make build, and the matrix's PostgreSQL 17 leg), the build images of trixie and sid, the bookworm
# base. CI runs it in the background while make test runs.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$SRC/tests/container/containers.conf}
T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
WORK=$(mktemp -d /tmp/pgtier-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# shellcheck source=lib_images.sh
. "$SRC/tests/container/lib_images.sh"
use_postgres_image "docker.io/library/$STACK_PG_IMAGE"
say "building pgtier's image on $PG_IMAGE (make build DOCKER=podman, as the container test does)"
build_pgtier_image "localhost/pgtier:$(tr -d '[:space:]' <"$SRC/VERSION")" "$PG_IMAGE" "$WORK/pgtier-image.log"
use_standin_postgres 17
build_pgtier_image localhost/pgtier-pgm:trixie "$PG_IMAGE" "$WORK/pgtier-pgm-image.log" # the matrix's: cached where $PG_IMAGE is the same
use_build_image trixie
use_build_image sid
use_debian_base bookworm
say "images ready"
