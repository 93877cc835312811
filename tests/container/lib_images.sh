#!/usr/bin/env bash
# Sourced by tests/systemd/run.sh and tests/pgversions: Debian base images to build on, with local
# stand-ins where no registry can provide them. The caller provides say, fail and WORK (a scratch
# directory).

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# use_bookworm_base IMAGE: sets BOOKWORM_BASE to IMAGE when podman has it, else to the bookworm
# stand-in of use_debian_base (below).
use_bookworm_base() {
    BOOKWORM_BASE=$1
    podman image exists "$BOOKWORM_BASE" && return 0
    use_debian_base bookworm
    BOOKWORM_BASE=$DEBIAN_BASE
}

# ---- one Debian release per PostgreSQL major (make pg-matrix-test, tests/pgversions) -----------
# Debian's archive ships one PostgreSQL major per release; these are the ones tested.
pg_release_of() {
    case $1 in
        15) echo bookworm ;;
        17) echo trixie ;;
        18) echo sid ;;
        *) return 1 ;;
    esac
}

# use_debian_base RELEASE: sets DEBIAN_BASE to localhost/pgtier-standin-debian:RELEASE, built once
# (debootstrap minbase RELEASE from $MIRROR, signatures checked against the host's
# debian-archive-keyring) and kept. sid's Release file carries a Valid-Until that the mirror may let
# lapse; apt inside the sid image is told not to check that date (the signature is still checked).
use_debian_base() {
    local release=$1
    DEBIAN_BASE=localhost/pgtier-standin-debian:$release
    podman image exists "$DEBIAN_BASE" && return 0
    say "building $DEBIAN_BASE with debootstrap ($MIRROR)"
    rm -rf "$WORK/rootfs-$release"
    debootstrap --variant=minbase "$release" "$WORK/rootfs-$release" "$MIRROR" \
        >"$WORK/debootstrap-$release.log" 2>&1 ||
        { tail -20 "$WORK/debootstrap-$release.log" >&2; fail "debootstrap $release failed"; }
    if [ "$release" = sid ]; then
        echo 'Acquire::Check-Valid-Until "false";' >"$WORK/rootfs-$release/etc/apt/apt.conf.d/99pgtier-valid-until"
    fi
    tar -C "$WORK/rootfs-$release" -c . | podman import -q - "$DEBIAN_BASE" >/dev/null
    rm -rf "$WORK/rootfs-$release"
}

# What building pgtier and running its integration tests need, from the release's own archive
# (its compiler, libraries, Catch2 and PostgreSQL). No ceph: the S3 tests are not in the matrix.
PG_MATRIX_PACKAGES=(
    g++ cmake make pkg-config libpq-dev libbz2-dev libzstd-dev libssl-dev libtomlplusplus-dev
    libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev catch2 libcurl4-openssl-dev
    libtinyxml2-dev postgresql postgresql-client bzip2 lbzip2 zstd time util-linux procps
    coreutils jq python3 curl openssl ca-certificates
)

# use_build_image RELEASE: sets BUILD_DEPS_IMAGE to localhost/pgtier-builddeps:RELEASE, the base
# of use_debian_base plus PG_MATRIX_PACKAGES, built once and kept. Only Debian's packages are in
# it, never pgtier: the matrix builds pgtier from the working tree every time.
use_build_image() {
    local release=$1 ctr
    BUILD_DEPS_IMAGE=localhost/pgtier-builddeps:$release
    if podman image exists "$BUILD_DEPS_IMAGE"; then
        # Kept from an earlier run; rebuilt once the list has grown (libzstd-dev and zstd came
        # with zstd archives).
        podman run --rm "$BUILD_DEPS_IMAGE" dpkg-query -W "${PG_MATRIX_PACKAGES[@]}" \
            >/dev/null 2>&1 && return 0
        say "$BUILD_DEPS_IMAGE lacks some of PG_MATRIX_PACKAGES: building it again"
        podman rmi -f "$BUILD_DEPS_IMAGE" >/dev/null
    fi
    use_debian_base "$release"
    say "building $BUILD_DEPS_IMAGE (build dependencies and PostgreSQL from $release)"
    ctr=pgtier-builddeps-$release-$$
    podman run --name "$ctr" --network=host "$DEBIAN_BASE" sh -ec "
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        echo 'deb $MIRROR $release main' >/etc/apt/sources.list
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends ${PG_MATRIX_PACKAGES[*]}
        apt-get clean && rm -rf /var/lib/apt/lists/*" >"$WORK/builddeps-$release.log" 2>&1 ||
        {
            tail -20 "$WORK/builddeps-$release.log" >&2
            podman rm -f "$ctr" >/dev/null 2>&1
            fail "installing the build dependencies of $release failed"
        }
    podman commit -q "$ctr" "$BUILD_DEPS_IMAGE" >/dev/null
    podman rm -f "$ctr" >/dev/null
}
