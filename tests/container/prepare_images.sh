#!/usr/bin/env bash
# Builds, into podman's store, every image the container, systemd and version-matrix tests would
# otherwise build on their first run (tests/container/lib_images.sh; each is kept under its tag and
# found there by the tests): the trixie stand-in for the stack's server image, the build images of
# trixie and sid, the bookworm base. CI runs it in the background while make test runs: it is mostly
# debootstrap and apt, waiting on the mirror and the disk more than on the cores.
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
use_build_image trixie
use_build_image sid
use_debian_base bookworm
say "images ready"
