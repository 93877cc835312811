# shellcheck shell=bash
# Sourced by the container, Swarm, systemd and version tests: Debian base images and stand-ins for
# the official postgres image, built locally where no registry can provide them, and kept as a
# cache under the same tags by every test. The caller provides say, fail and WORK (a scratch
# directory); ENGINE (podman, the default, or docker) is the image store they are looked up in and
# built into. Docker takes an image from podman's store when podman has it (an earlier test built
# it), so each is built once per machine.

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ENGINE=${ENGINE:-podman}
STANDIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres-standin
# The stack's default server image, from its one place (swarm/deploy.env): what the container and
# Swarm tests run unless PG_IMAGE says otherwise.
# shellcheck disable=SC2034  # the callers' variable
STACK_PG_IMAGE=$(sed -n 's/^POSTGRES_IMAGE *= *//p' "$STANDIN_DIR/../../../swarm/deploy.env")

image_have() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# image_from_podman IMAGE: for ENGINE=docker, copies IMAGE from podman's store when it is there.
image_from_podman() {
    [ "$ENGINE" = docker ] && command -v podman >/dev/null 2>&1 && podman image exists "$1" 2>/dev/null ||
        return 1
    say "copying $1 from podman's store into docker's"
    podman save "$1" 2>/dev/null | docker load -q >/dev/null
}

# ---- one Debian release per PostgreSQL major -------------------------------------------------------
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
    local release=$1 quiet
    DEBIAN_BASE=localhost/pgtier-standin-debian:$release
    if image_have "$DEBIAN_BASE" || image_from_podman "$DEBIAN_BASE"; then return 0; fi
    say "building $DEBIAN_BASE with debootstrap ($MIRROR)"
    rm -rf "$WORK/rootfs-$release"
    debootstrap --variant=minbase "$release" "$WORK/rootfs-$release" "$MIRROR" \
        >"$WORK/debootstrap-$release.log" 2>&1 ||
        { tail -20 "$WORK/debootstrap-$release.log" >&2; fail "debootstrap $release failed"; }
    if [ "$release" = sid ]; then
        echo 'Acquire::Check-Valid-Until "false";' >"$WORK/rootfs-$release/etc/apt/apt.conf.d/99pgtier-valid-until"
    fi
    quiet=() # podman prints its progress on stderr without -q; docker import has none
    [ "$ENGINE" = docker ] || quiet=(-q)
    tar -C "$WORK/rootfs-$release" -c . | "$ENGINE" import "${quiet[@]}" - "$DEBIAN_BASE" >/dev/null
    rm -rf "$WORK/rootfs-$release"
}

# use_bookworm_base IMAGE: sets BOOKWORM_BASE to IMAGE when ENGINE has it, else to the bookworm
# base of use_debian_base.
use_bookworm_base() {
    BOOKWORM_BASE=$1
    image_have "$BOOKWORM_BASE" && return 0
    use_debian_base bookworm
    BOOKWORM_BASE=$DEBIAN_BASE
}

# ---- the postgres image (container and Swarm tests) -------------------------------------------------
# use_postgres_image IMAGE (postgres:MAJOR-…): sets PG_IMAGE to IMAGE when ENGINE has it; else to
# use_standin_postgres MAJOR's stand-in. PG_STANDIN_RELEASE is the stand-in's release (empty for
# the real image).
use_postgres_image() {
    local want=$1 major
    PG_IMAGE=$want PG_STANDIN_RELEASE=''
    image_have "$want" && return 0
    major=$(sed -nE 's|^(.*/)?postgres:([0-9]+)([.-].*)?$|\2|p' <<<"$want")
    [ -n "$major" ] || fail "no $want, and no stand-in for it: not a postgres:MAJOR[-…] image"
    use_standin_postgres "$major" "no $want, and "
}

# use_standin_postgres MAJOR [WHY]: sets PG_IMAGE to a stand-in for the official postgres:MAJOR image
# (postgres-standin/: Debian's PostgreSQL MAJOR from the release that ships it, on debian:RELEASE
# or use_debian_base RELEASE, with an entry point like the official image's and the postgres user
# as uid/gid 999), built when absent, and PG_STANDIN_RELEASE to that release. A major no release
# here ships has no stand-in: that is an error (WHY starts its message), never a stand-in carrying
# another major.
use_standin_postgres() {
    local major=$1 release base tag digest
    release=$(pg_release_of "$major") ||
        fail "${2:-}no Debian release here ships PostgreSQL $major for a stand-in (15, 17 and 18 have one: PG_IMAGE=postgres:17-bookworm)"
    # The tag carries a digest of the stand-in's sources: an edited stand-in is rebuilt, never an
    # older build reused.
    digest=$(cat "$STANDIN_DIR/Dockerfile" "$STANDIN_DIR/docker-entrypoint.sh" | sha256sum | cut -c1-12)
    tag=localhost/pgtier-standin-postgres:$major-$release-$digest
    if ! image_have "$tag" && ! image_from_podman "$tag"; then
        base=docker.io/library/debian:$release
        if ! image_have "$base"; then
            use_debian_base "$release"
            base=$DEBIAN_BASE
        fi
        say "building the stand-in $tag for postgres:$major (PostgreSQL $major from $release, on $base)"
        "$ENGINE" build --network=host --build-arg BASE_IMAGE="$base" --build-arg PG_MAJOR="$major" -t "$tag" \
            "$STANDIN_DIR" >"$WORK/standin-$major.log" 2>&1 ||
            { tail -20 "$WORK/standin-$major.log" >&2; fail "building $tag failed"; }
    fi
    # shellcheck disable=SC2016  # expanded in the container
    [ "$("$ENGINE" run --rm --entrypoint bash "$tag" -c 'echo "$(id -u postgres):$(id -g postgres) $(postgres --version)"' |
        awk '{split($4, v, "."); print $1, v[1]}')" = "999:999 $major" ] ||
        fail "the stand-in $tag does not run PostgreSQL $major with postgres as uid/gid 999 like the official image"
    # shellcheck disable=SC2034  # the caller's variables
    PG_IMAGE=$tag PG_STANDIN_RELEASE=$release
}

# ---- the pgtier image (container, Swarm and version tests) ------------------------------------------
# The tests build pgtier's image as `make build DOCKER=podman` does, with warnings as errors (the
# Dockerfile's PGTIER_WERROR; users build without) and these same flags everywhere: podman's layer
# cache then holds every step after the first build, and pgtier is compiled once per release (the
# Swarm test passes PGTIER_IMAGE_BUILD_FLAGS too).
PGTIER_IMAGE_BUILD_FLAGS="--network=host --build-arg PGTIER_WERROR=ON"

# build_pgtier_image IMAGE PG_IMAGE LOG: make build DOCKER=podman of IMAGE (NAME:VERSION) on PG_IMAGE,
# its output in LOG.
build_pgtier_image() {
    make -C "$STANDIN_DIR/../../.." --no-print-directory build DOCKER=podman BUILD_FLAGS="$PGTIER_IMAGE_BUILD_FLAGS" \
        PG_IMAGE="$2" IMAGE="${1%:*}" VERSION="${1##*:}" >"$3" 2>&1 ||
        { tail -40 "$3" >&2; fail "make build DOCKER=podman of $1 on $2 failed"; }
}

# ---- build images of the version matrix (make pg-matrix-test, tests/pgversions; podman) ------------
# What building pgtier and running its integration tests need, from the release's own archive
# (its compiler, libraries, Catch2 and PostgreSQL). No ceph: the S3 tests are not in the matrix.
PG_MATRIX_PACKAGES=(
    g++ cmake make pkg-config libpq-dev libbz2-dev libzstd-dev libssl-dev libtomlplusplus-dev
    libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev catch2 libcurl4-openssl-dev
    libtinyxml2-dev postgresql postgresql-client bzip2 lbzip2 zstd time util-linux procps
    coreutils jq python3 curl openssl ca-certificates libcpp-httplib-dev
)

# use_build_image RELEASE: sets BUILD_DEPS_IMAGE to localhost/pgtier-builddeps:RELEASE, the base
# of use_debian_base plus PG_MATRIX_PACKAGES, built once and kept. Only Debian's packages are in
# it, never pgtier: the matrix builds pgtier from the working tree every time.
use_build_image() {
    local release=$1 ctr ENGINE=podman
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
