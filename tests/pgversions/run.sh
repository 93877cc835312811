#!/usr/bin/env bash
# make pg-matrix-test (issue 16): pgtier against PostgreSQL 15, 17 and 18, each in the Debian
# release that ships it — 15 on this host (bookworm, the build at $PGTIER), 17 in trixie (pgtier
# from the image make build makes on trixie) and 18 in sid (pgtier and its unit tests built from
# this working tree with sid's compiler and libraries; its Catch2 is v3). In each, the integration tests
# that matter across majors run against that release's PostgreSQL; then test_versions.sh checks
# the version refusals and the upgrade paths 15 -> 17 and 17 -> 18. One line per version.
#
# The release images (tests/container/lib_images.sh: debootstrap base + Debian's build
# dependencies and PostgreSQL, never pgtier) are built on the first run and kept by podman.
# PG_MATRIX_VERSIONS="15 17 18" chooses the versions; PG_MATRIX_JOBS (2) the tests run at once
# per version.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$SRC/tests/container/containers.conf}
PGTIER=${PGTIER:-$SRC/build/pgtier}
VERSIONS=${PG_MATRIX_VERSIONS:-15 17 18}
JOBS=${PG_MATRIX_JOBS:-2}
# The cases whose behaviour depends on the server: catalog queries (change detection: its
# statistics views and catalogs differ between majors), pg_dump/pg_dumpall output and its replay
# (psql's restricted mode among it: test_forged_archive).
TESTS=(test_full_roundtrip test_differential test_change_detection test_restore_database test_forged_archive
    test_restore_full test_restore_latest test_odd_names test_restore_roles)

T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
[ -x "$PGTIER" ] || fail "no pgtier at $PGTIER (make pg-matrix-test builds it)"

WORK=$(mktemp -d /tmp/pgtier-pgm.XXXXXX)
chmod 755 "$WORK"
declare -A CTR=()
cleanup() {
    local rc=$? c
    set +e
    for c in "${CTR[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# shellcheck source=../container/lib_images.sh
. "$SRC/tests/container/lib_images.sh"

# run_one VERSION RELEASE TEST — one integration test in RELEASE; its log and exit status in
# $WORK/res-VERSION/.
run_one() {
    local v=$1 release=$2 t=$3 dir=$WORK/res-$1 rc=0
    if [ "$release" = bookworm ]; then
        PGTIER_BIN=$PGTIER PGTIER_SOURCE_DIR=$SRC timeout -k 10 900 bash "$SRC/tests/integration/$t.sh" \
            >"$dir/$t.log" 2>&1 || rc=$?
    else
        podman exec -e PGTIER_BIN="$WORK/build-$release/pgtier" -e PGTIER_SOURCE_DIR="$SRC" -e PGTIER_TEST_NO_S3=1 \
            "${CTR[$release]}" \
            timeout -k 10 900 bash "$SRC/tests/integration/$t.sh" >"$dir/$t.log" 2>&1 || rc=$?
    fi
    echo "$rc" >"$dir/$t.rc"
}

# suite VERSION RELEASE — the tests, JOBS at a time; the version's line in $WORK/line-VERSION.
suite() {
    local v=$1 release=$2 start t n=0 passed=0 failed=() server
    start=$(date +%s)
    mkdir -p "$WORK/res-$v"
    for t in "${TESTS[@]}"; do
        run_one "$v" "$release" "$t" &
        n=$((n + 1))
        [ $((n % JOBS)) -ne 0 ] || wait -n || true
    done
    wait
    for t in "${TESTS[@]}"; do
        if [ "$(cat "$WORK/res-$v/$t.rc")" = 0 ]; then passed=$((passed + 1)); else failed+=("$t"); fi
    done
    if [ "$release" = bookworm ]; then
        server=$(/usr/lib/postgresql/"$v"/bin/postgres --version | awk '{print $3}')
    else
        server=$(podman exec "${CTR[$release]}" sh -c "/usr/lib/postgresql/$v/bin/postgres --version" | awk '{print $3}')
    fi
    {
        printf 'PostgreSQL %s (%s on %s): %d passed, %d failed, %d s' "$v" "$release" "$server" \
            "$passed" "${#failed[@]}" $(($(date +%s) - start))
        [ ${#failed[@]} -eq 0 ] || printf ' — FAILED: %s (logs below)' "${failed[*]}"
        echo
    } >"$WORK/line-$v"
}

# ---- images (first run only) and containers ----------------------------------------------------
releases=()
for v in $VERSIONS; do
    r=$(pg_release_of "$v") || fail "no Debian release known for PostgreSQL $v (15, 17, 18)"
    [ "$r" = bookworm ] || releases+=("$r")
done
# The 15 suite needs nothing more than this host: it runs while the rest is prepared. CI sets
# PG_MATRIX_HOST_SUITE=0: its make test has just run every integration test (these nine among them)
# against this host's PostgreSQL 15, so the line says where that result comes from instead.
for v in $VERSIONS; do
    if [ "$(pg_release_of "$v")" = bookworm ] && [ "${PG_MATRIX_HOST_SUITE:-1}" = 0 ]; then
        mkdir -p "$WORK/res-$v"
        for t in "${TESTS[@]}"; do echo 0 >"$WORK/res-$v/$t.rc"; done
        echo "PostgreSQL $v (bookworm on $(/usr/lib/postgresql/"$v"/bin/postgres --version | awk '{print $3}')): run by make test (all integration tests), not repeated here" >"$WORK/line-$v"
    elif [ "$(pg_release_of "$v")" = bookworm ]; then
        say "PostgreSQL $v: running ${#TESTS[@]} tests on this host (bookworm)"
        suite "$v" bookworm &
    fi
done
pids=()
for r in "${releases[@]}"; do
    (use_build_image "$r") &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a release image could not be built"; done
for r in "${releases[@]}"; do
    CTR[$r]=pgtier-pgm-$r-$$
    podman run -d --name "${CTR[$r]}" --network=host -v "$SRC:$SRC:ro" -v "$WORK:$WORK" \
        "localhost/pgtier-builddeps:$r" sleep infinity >/dev/null
done

# ---- pgtier in each release, one after the other (a build uses every core), then the suites -----
# trixie's pgtier is the image's: `make build` on the stand-in for postgres:17, which is trixie's
# PostgreSQL (the binary the container runs, built as the container and Swarm tests build it, so
# podman's layer cache keeps every step and trixie is compiled once), copied out of the image.
# Every other release builds pgtier and the unit tests from the working tree (-Werror), and runs
# them (Catch2 v3 and a newer compiler than bookworm's).
for r in "${releases[@]}"; do
    mkdir -p "$WORK/build-$r"
    if [ "$r" = trixie ]; then
        use_standin_postgres 17
        say "pgtier in trixie: the image's, make build on $PG_IMAGE"
        build_pgtier_image "localhost/pgtier-pgm:$r" "$PG_IMAGE" "$WORK/build-$r.log"
        ctr=$(podman create --no-healthcheck "localhost/pgtier-pgm:$r")
        podman cp "$ctr:/usr/local/bin/pgtier" "$WORK/build-$r/pgtier"
        podman rm "$ctr" >/dev/null
    else
        say "building pgtier and the unit tests in $r"
        podman exec "${CTR[$r]}" bash -ec "
            cmake -S '$SRC' -B '$WORK/build-$r' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGTIER_WERROR=ON
            cmake --build '$WORK/build-$r' -j \$(nproc) --target pgtier pgtier_unit_tests" >"$WORK/build-$r.log" 2>&1 ||
            { tail -40 "$WORK/build-$r.log" >&2; fail "building pgtier in $r failed"; }
        podman exec "${CTR[$r]}" "$WORK/build-$r/pgtier_unit_tests" >"$WORK/unit-$r.log" 2>&1 ||
            { tail -40 "$WORK/unit-$r.log" >&2; fail "unit tests in $r failed"; }
        say "unit tests in $r ($(grep -o 'Catch2 [0-9.]*' "$WORK/build-$r.log")): $(tail -n 2 "$WORK/unit-$r.log" | tr -s ' \n' ' ')"
    fi
    for v in $VERSIONS; do
        if [ "$(pg_release_of "$v")" = "$r" ]; then
            say "PostgreSQL $v: running ${#TESTS[@]} tests in $r"
            suite "$v" "$r" &
        fi
    done
done

versions_rc=0
if [ "$VERSIONS" = "15 17 18" ]; then
    say "test_versions.sh: version refusals and upgrade paths 15 -> 17, 17 -> 18"
    start=$(date +%s)
    PGTIER_BIN=$PGTIER PGV_BUILDS=$WORK bash "$SRC/tests/pgversions/test_versions.sh" >"$WORK/versions.log" 2>&1 ||
        versions_rc=$?
    versions_line="upgrade paths and refusals (test_versions.sh): $(grep -c '^ok:' "$WORK/versions.log") passed, $([ "$versions_rc" = 0 ] && echo 0 || echo 1) failed, $(($(date +%s) - start)) s"
fi
wait

# ---- the matrix ----------------------------------------------------------------------------------
status=0
echo "==== pg-matrix-test ($(($(date +%s) - T0)) s)"
for v in $VERSIONS; do
    cat "$WORK/line-$v"
    for t in "${TESTS[@]}"; do
        [ "$(cat "$WORK/res-$v/$t.rc")" = 0 ] && continue
        status=1
        echo "---- PostgreSQL $v, $t (last 30 lines):"
        tail -n 30 "$WORK/res-$v/$t.log"
    done
done
if [ -n "${versions_line:-}" ]; then
    echo "$versions_line"
    if [ "$versions_rc" != 0 ]; then
        status=1
        echo "---- test_versions.sh (last 40 lines):"
        tail -n 40 "$WORK/versions.log"
    fi
fi
[ "$status" = 0 ] && echo "pg-matrix-test: ok" || echo "pg-matrix-test: FAILED"
exit "$status"
