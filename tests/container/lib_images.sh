#!/usr/bin/env bash
# Sourced by tests/container/run.sh and tests/systemd/run.sh: the Debian bookworm base image to
# build on, with a local stand-in where no registry can provide debian:bookworm. The caller
# provides say, fail and WORK (a scratch directory).

STANDIN_BASE=localhost/pgtier-standin-debian:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# use_bookworm_base IMAGE: sets BOOKWORM_BASE to IMAGE when podman has it, else to the stand-in
# (debootstrap minbase bookworm from $MIRROR, imported into podman once and kept).
use_bookworm_base() {
    BOOKWORM_BASE=$1
    podman image exists "$BOOKWORM_BASE" && return 0
    BOOKWORM_BASE=$STANDIN_BASE
    podman image exists "$STANDIN_BASE" && return 0
    say "no $1: building the stand-in $STANDIN_BASE with debootstrap ($MIRROR)"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
    tar -C "$WORK/rootfs" -c . | podman import -q - "$STANDIN_BASE" >/dev/null
    rm -rf "$WORK/rootfs"
}
