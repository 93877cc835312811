#!/usr/bin/env bash
# Issue 16: pgtier across PostgreSQL majors, each server and each pgtier from the Debian release
# that ships that major (lib_releases.sh: bookworm 15 on this host, trixie 17 and sid 18 in
# containers; the builds come from run.sh, or are made here when missing).
#   1. pg_dump older than the server (this host's pg_dump 15 against a 17 server) is refused up
#      front: exit 2, both versions and the fix named, nothing published, the failed run shown by
#      status and health; the daemon says so as critical at start and its runs fail the same way.
#   2. An archive of a newer server (17) into an older one (15) is refused up front by restore
#      full, latest and database, nothing changed; --force-version gets past the check.
#   3. The major-upgrade path: archives of 15 (taken with pg_dump 15) restore into 17, and archives
#      of 17 (pg_dump 17) into 18, by `restore full`, `restore latest` (full + incremental) and
#      `restore database --as`: roles, settings and data as in the source, compared as the newer
#      pg_dump/pg_dumpall print both clusters.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/lib_backup.sh"
. "$(dirname "$0")/../integration/lib_restore.sh"
. "$(dirname "$0")/lib_releases.sh"
export TZ=UTC

release_up trixie
release_up sid
for r in trixie sid; do
    [ -x "$(pgtier_of "$r")" ] || build_in_release "$r" >"$WORK/build-$r.log" 2>&1 ||
        { tail -30 "$WORK/build-$r.log" >&2; fail "building pgtier in $r failed"; }
done
major_of() { in_release "$1" pg_dump --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'; }
[ "$(pg_dump --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')" = 15 ] || fail "this host's pg_dump is not 15: $(pg_dump --version)"
[ "$(major_of trixie)" = 17 ] || fail "trixie's pg_dump is not 17"
[ "$(major_of sid)" = 18 ] || fail "sid's pg_dump is not 18"

# run_in RELEASE TAG ARGS... — run_pgtier with RELEASE's pgtier, in RELEASE.
run_in() {
    local release=$1 tag=$2
    shift 2
    _RUN_CMD[$tag]="($release) pgtier $*"
    set +e
    in_release "$release" timeout -k 5 300 "$(pgtier_of "$release")" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
    RC=$?
    set -e
}

# state RELEASE CLUSTER — the cluster as RELEASE's client tools print it (cluster_state of
# lib_restore.sh, run there): databases, catalog rows, pg_dumpall --globals-only, pg_dump --create
# of each database. What the servers print differently for the same objects is made alike:
# - the "Dumped from database version" comments (the server's version);
# - role memberships: PostgreSQL 16 added per-grant INHERIT and records the grantor, which
#   pg_dumpall prints for a 16+ server ("WITH INHERIT TRUE GRANTED BY postgres"); INHERIT TRUE is
#   what a 15 grant does for these roles (rolinherit), and postgres granted them;
# - view definitions: PostgreSQL 16 deparses columns without the table's name ("id", not
#   "items.id"): qualifiers are dropped inside CREATE VIEW on both sides;
# - Debian's PostgreSQL 17.12 keeps an attribute option pg_attver=N on every column, which its
#   own pg_dump leaves out and pg_dump 18.6 prints ("ALTER COLUMN … SET (pg_attver=…)"): a 17
#   server's internal marker that a restore (through pg_dump 17's archive) rightly lacks.
state() {
    local release=$1 cluster=$2
    with_pg "$cluster" in_release "$release" bash -s <"$PGTIER_SOURCE_DIR/tests/pgversions/cluster_state.sh" |
        grep -Ev '^-- Dumped from database version|^ALTER TABLE ONLY .* SET \(pg_attver=[0-9]+\);$' |
        sed -E 's/^(GRANT .* TO .*) GRANTED BY [^;]*;$/\1;/; s/ WITH INHERIT TRUE;$/;/; s/, INHERIT TRUE;$/;/' |
        awk '/^CREATE VIEW /{v=1} v{gsub(/[A-Za-z_][A-Za-z0-9_]*\./, "")} v && /;$/{v=0} {print}'
}
# same_state RELEASE SRC DST CONTEXT
same_state() {
    state "$1" "$2" >"$WORK/state-$2.txt"
    state "$1" "$3" >"$WORK/state-$3.txt"
    grep -q '^=== database ' "$WORK/state-$2.txt" || fail "$4: could not read cluster $2"
    diff -u "$WORK/state-$2.txt" "$WORK/state-$3.txt" >"$WORK/state.diff" ||
        { head -n 60 "$WORK/state.diff" >&2; fail "$4: cluster $3 differs from $2 (diff above)"; }
}

# ---- 1. pg_dump 15 against a PostgreSQL 17 server ------------------------------------------------
pg_start_in trixie s17
make_sample_cluster
B17="$WORK/b17"
run_pgtier mm --dir "$B17" backup full
expect_rc mm 2 "backup full with pg_dump 15 against a 17 server"
grep -Eq 'pg_dump 15\.[0-9]+ is older than the server \(PostgreSQL 17\.[0-9]+\)' "$WORK/mm.err" ||
    fail_run mm "the refusal does not name pg_dump 15 and the 17 server"
grep -q 'PG_IMAGE=postgres:17-bookworm' "$WORK/mm.err" && grep -q 'postgresql-client-17' "$WORK/mm.err" ||
    fail_run mm "the refusal does not name the fix (PG_IMAGE=postgres:17-bookworm, postgresql-client-17)"
[ "$(find "$B17" -name '*.bz2*' | wc -l)" = 0 ] || fail "files were written: $(find "$B17" -name '*.bz2*')"
pass "backup full, pg_dump 15 against 17: exit 2 before any work: $(grep -o 'pg_dump 15[^:]*' "$WORK/mm.err" | head -1)"
run_pgtier mm-status --dir "$B17" status
grep -q 'pg_dump 15' "$WORK/mm-status.out" || fail_run mm-status "status does not show the refused run"
run_pgtier mm-health --dir "$B17" health
expect_rc mm-health 1 "health after the refused run"
grep -q 'pg_dump 15' "$WORK/mm-health.out" || fail_run mm-health "health does not quote the refusal"
pass "status and health show the refused run: $(grep -m1 'pg_dump 15' "$WORK/mm-health.out" | cut -c1-110)…"
daemon_toml "$B17" UTC '0 0 1 1 *' '0 0 2 1 *' '0 0 3 1 *' 2 >"$WORK/d.toml"
printf '[daemon]\nretry_delays = "1s"\n' >>"$WORK/d.toml"
start_daemon dm --config "$WORK/d.toml"
wait_log "$WORK/dm.log" 'critical.*pg_dump 15\.[0-9]+ is older than the server \(PostgreSQL 17' 1 20 ||
    { show_log "$WORK/dm.log"; fail "the daemon did not log the mismatch as critical at start"; }
wait_log "$WORK/dm.log" 'full backup failed: pg_dump 15.* is older' 2 20 ||
    { show_log "$WORK/dm.log"; fail "the daemon's run (and its retry) did not fail up front the same way"; }
stop_pid "$DPID" 10
pass "daemon: critical at start, its run and retry fail up front with the same message"

# ---- 3a. 15 -> 17: archives of the 15 server (pgtier and pg_dump of bookworm) -------------------
pg_start s15
pg_quiet
make_sample_cluster
B="$WORK/b15"
take_backup f15 full
sample_content app upgrade-incr
psql_db "my db" -c "CREATE TABLE added AS SELECT g FROM generate_series(1, 50) g"
settle
take_backup i15 incr
pass "15: full and incremental taken with pg_dump $(pg_dump --version | awk '{print $3}')"
# restore latest into an empty 17: the state of the 15 server now
pg_start_in trixie t17a
run_in trixie rl17 --dir "$B" restore latest
expect_rc rl17 0 "restore latest of 15's archives into 17"
same_state trixie s15 t17a "15 -> 17 restore latest"
pass "15 -> 17: restore latest (full + incremental) gives the same roles, settings and databases"
# restore full (the full alone) into another empty 17, then restore database --as beside
pg_use s15
FULL15=$(archives "$B" full | tail -1)
pg_start_in trixie t17b
run_in trixie rf17 --dir "$B" restore full "$FULL15"
expect_rc rf17 0 "restore full of 15's archive into 17"
in_release trixie psql -XAtq -d "my db" -c "SELECT to_regclass('added') IS NULL" | grep -qx t ||
    fail "restore full restored the incremental's table"
run_in trixie rd17 --dir "$B" restore database latest-incremental app --as "app copy"
expect_rc rd17 0 "restore database --as of 15's archive into 17"
for q in "SELECT count(*) FROM s.items" "SELECT md5(string_agg(name || qty, ',' ORDER BY id)) FROM s.items" "SELECT count(*) FROM pg_largeobject_metadata"; do
    a=$(with_pg s15 psql_db app -c "$q")
    b=$(with_pg t17b psql_db "app copy" -c "$q")
    [ "$a" = "$b" ] || fail "15 -> 17 restore database --as: '$q' gives $b, the source $a"
done
[ "$(with_pg t17b psql_db app -c 'SELECT count(*) FROM s.items')" != "$(with_pg s15 psql_db app -c 'SELECT count(*) FROM s.items')" ] ||
    fail "restore full gave app the incremental's row"
pass "15 -> 17: restore full (the full's state), restore database --as (rows, checksum, large objects as the source)"

# ---- 2. a 17 archive into the 15 server: refused up front ----------------------------------------
pg_use s17
B="$WORK/b17ok"
run_in trixie f17 --dir "$B" backup full
expect_rc f17 0 "backup full of the 17 server with pg_dump 17"
sample_content app from17
settle
run_in trixie i17 --dir "$B" backup incr
expect_rc i17 0 "backup incr of the 17 server"
FULL17=$(archives "$B" full | tail -1)
pg_start old15
pg_quiet
snapshot old15 before
for cmd in "full $FULL17" "latest" "database latest-full app --as app17"; do
    tag=refuse-${cmd%% *}
    # shellcheck disable=SC2086  # the command's words
    run_pgtier "$tag" --dir "$B" restore $cmd
    expect_rc "$tag" 2 "restore $cmd of a 17 archive into 15"
    grep -Eq 'was dumped from PostgreSQL 17\.[0-9]+, newer than the target server \(PostgreSQL 15\.[0-9]+\)' "$WORK/$tag.err" &&
        grep -q -- '--force-version' "$WORK/$tag.err" || fail_run "$tag" "the refusal does not name 17, 15 and --force-version"
done
same_snapshot old15 before "after the refused restores"
pass "17 archive into 15: restore full / latest / database refused with exit 2, nothing changed: $(grep -o 'was dumped from[^:]*' "$WORK/refuse-full.err")"
run_pgtier forced --dir "$B" restore database latest-full app --as app17 --force-version
grep -q -- '--force-version: restoring full/' "$WORK/forced.err" || fail_run forced "--force-version did not get past the check"
! grep -q 'newer than the target server' "$WORK/forced.err" || fail_run forced "--force-version was still refused"
pass "--force-version gets past the check (then: exit $RC, $(grep -m1 -oE 'ERROR: .{0,60}' "$WORK/forced.err" || echo 'no error'))"

# ---- 3b. 17 -> 18: archives of the 17 server (pgtier and pg_dump of trixie) ---------------------
pg_start_in sid t18a
run_in sid rl18 --dir "$B" restore latest
expect_rc rl18 0 "restore latest of 17's archives into 18"
same_state sid s17 t18a "17 -> 18 restore latest"
pass "17 -> 18: restore latest (full + incremental) gives the same roles, settings and databases"
pg_start_in sid t18b
run_in sid rf18 --dir "$B" restore full "$FULL17"
expect_rc rf18 0 "restore full of 17's archive into 18"
run_in sid rd18 --dir "$B" restore database latest-incremental app --as "app copy"
expect_rc rd18 0 "restore database --as of 17's archive into 18"
for q in "SELECT count(*) FROM s.items" "SELECT md5(string_agg(name || qty, ',' ORDER BY id)) FROM s.items" "SELECT count(*) FROM pg_largeobject_metadata"; do
    a=$(with_pg s17 psql_db app -c "$q")
    b=$(with_pg t18b psql_db "app copy" -c "$q")
    [ "$a" = "$b" ] || fail "17 -> 18 restore database --as: '$q' gives $b, the source $a"
done
pass "17 -> 18: restore full, restore database --as (rows, checksum, large objects as the source)"
