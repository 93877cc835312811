#!/usr/bin/env bash
# Issue 23, items 2 and 5: two clusters under one bucket prefix, and a plan that says where
# everything comes from. Node A (two fulls, then an incremental) and node B (a full between
# them), each with its own backup directory, sync to the same s3://BUCKET/PREFIX; every manifest
# records its cluster's system identifier. Then:
#   - `offsite sync` of A warns that the prefix holds another live cluster (B);
#   - `list` and `list --remote` show the CLUSTER column;
#   - node C, whose backup directory does not exist yet: `restore plan` without [offsite]
#     explains what to do (exit 1); with [offsite] it plans from the bucket alone, names both
#     identities, takes B's chain only (the newest full's; before, A's incremental landed on
#     B's full), names the bucket as the source of every archive and the bytes to download;
#     `--cluster A` plans A's full + incremental; `restore latest` restores B's data, then
#     `--cluster A --replace` A's;
#   - `prune --remote --dry-run` keeps A's two fulls by min_full = 2 (B's full does not count);
#   - continuity: under a second prefix, A (cluster_name = "phoenix") takes a full; C, another
#     cluster with the same cluster_name, fetches it and its incremental builds on it; the plan
#     combines them as one identity and `offsite sync` of C warns of nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

BUCKET=pgtier-clusters
PREFIX=shared/pg
offsite_bucket
URL="s3://$BUCKET/$PREFIX at $S3_ENDPOINT" # as pgtier names the bucket
sysid() { psql_q -d postgres -c "SELECT system_identifier FROM pg_control_system()"; }
# one_node NAME DB — cluster NAME started with database DB (table t, one row 'NAME-1')
one_node() {
    pg_start "$1"
    pg_quiet
    psql_q -d postgres -c "CREATE DATABASE $2"
    psql_db "$2" -c "CREATE TABLE t (v text)" -c "INSERT INTO t VALUES ('$1-1')"
    settle
}
# backup_on NODE CONFIG TAG TYPE [ARGS] — a backup of NODE that must publish
backup_on() {
    local node=$1 cfg=$2 tag=$3
    shift 3
    pg_use "$node"
    run_pgtier "$tag" --config "$cfg" backup "$@"
    expect_rc "$tag" 0 "backup $* on $node"
    grep -q "wrote " "$WORK/$tag.out" || fail_run "$tag" "no archive written"
    sleep 1 # two nodes never name an archive in the same second here
}
written() { sed -n 's|.*wrote \([a-z]*/[^ ]*\.sql\.bz2\).*|\1|p' "$WORK/$1.out"; }

# ---- two nodes, one prefix ----------------------------------------------------------------------------
offsite_toml "$WORK/a-backups" >"$WORK/a.toml"
offsite_toml "$WORK/b-backups" >"$WORK/b.toml"
one_node a only_a
SIDA=$(sysid)
one_node b only_b
SIDB=$(sysid)
[ "$SIDA" != "$SIDB" ] || fail "setup: the two clusters have one system identifier"
backup_on a "$WORK/a.toml" a-full1 full
A_FULL1=$(written a-full1)
backup_on a "$WORK/a.toml" a-full2 full --force
A_FULL2=$(written a-full2)
backup_on b "$WORK/b.toml" b-full full
B_FULL=$(written b-full)
pg_use a
psql_db only_a -c "INSERT INTO t VALUES ('a-2')"
settle
backup_on a "$WORK/a.toml" a-incr incr
A_INCR=$(written a-incr)
[ "$(jq -r .system_identifier "$WORK/a-backups/$A_INCR.json")" = "$SIDA" ] || fail "A's manifest does not record system_identifier $SIDA"
[ "$(jq -r .system_identifier "$WORK/b-backups/$B_FULL.json")" = "$SIDB" ] || fail "B's manifest does not record system_identifier $SIDB"
jq -e 'has("cluster_name") | not' "$WORK/a-backups/$A_INCR.json" >/dev/null || fail "a cluster_name recorded without one configured"
pass "A ($SIDA): $A_FULL1, $A_FULL2, $A_INCR; B ($SIDB): $B_FULL; one prefix ($(elapsed) s)"

run_pgtier a-sync --config "$WORK/a.toml" offsite sync
expect_rc a-sync 0 "offsite sync of A"
grep -q "also holds the archives of another live cluster, $SIDB (system identifier)" "$WORK/a-sync.err" \
    || fail_run a-sync "offsite sync does not warn of cluster B under the same prefix"
pass "offsite sync of A warns: $(grep -o 'also holds.*newest started [^;]*' "$WORK/a-sync.err" | head -n1)"

run_pgtier a-list --config "$WORK/a.toml" list
expect_rc a-list 0 "list"
grep -qE '^TYPE .* CLUSTER +STATE +ARCHIVE$' "$WORK/a-list.out" || fail_run a-list "no CLUSTER column"
grep -qE " $SIDA +complete +$A_INCR\$" "$WORK/a-list.out" || fail_run a-list "the incremental's CLUSTER is not $SIDA"
run_pgtier lr --config "$WORK/a.toml" list --remote
expect_rc lr 0 "list --remote"
grep -qE " $SIDB +complete +$B_FULL\$" "$WORK/lr.out" || fail_run lr "B's full is not listed with cluster $SIDB"
grep -qE " $SIDA +complete +$A_FULL1\$" "$WORK/lr.out" || fail_run lr "A's first full is not listed with cluster $SIDA"
run_pgtier lrj --config "$WORK/a.toml" list --remote --json
[ "$(jq -r '[.archives[].cluster] | unique | join(" ")' "$WORK/lrj.out")" = "$(printf '%s\n' "$SIDA" "$SIDB" | sort | tr '\n' ' ' | sed 's/ $//')" ] \
    || fail_run lrj "list --json: the clusters are not A's and B's"
pass "list and list --remote show the CLUSTER of each archive"

# ---- node C: no backup directory yet ------------------------------------------------------------------
C_DIR="$WORK/c-backups"
offsite_toml "$C_DIR" >"$WORK/c.toml"
run_pgtier bare --dir "$C_DIR" restore plan
expect_rc bare 1 "restore plan without the backup directory nor [offsite]"
grep -q "backup directory $C_DIR does not exist" "$WORK/bare.err" || fail_run bare "no word of the missing directory"
grep -q 'mkdir -p' "$WORK/bare.err" && grep -q 'configure \[offsite\]' "$WORK/bare.err" || fail_run bare "no advice (create it, or configure [offsite])"
[ ! -e "$C_DIR" ] || fail "restore plan created $C_DIR"

run_pgtier plan --config "$WORK/c.toml" restore plan
expect_rc plan 0 "restore plan from the bucket alone"
P="$WORK/plan.out"
grep -qF "note: backup directory $C_DIR does not exist: planning from $URL alone" "$P" || fail_run plan "no note of the missing directory"
grep -qxF "cluster: $SIDB (system identifier)" "$P" || fail_run plan "the plan is not B's (the newest full's)"
grep -q "^note: the archives come from 2 clusters: $SIDB (1 archive, .*; $SIDA (3 archives" "$P" || fail_run plan "the plan does not name both identities"
grep -q -- "--cluster ID" "$P" || fail_run plan "the plan does not say how to choose the other cluster"
grep -q "^base: full/$(basename "$B_FULL"); " "$P" || fail_run plan "the base is not B's full"
! grep -qE "$(basename "$A_INCR")|$(basename "$A_FULL2")" "$P" || fail_run plan "A's archives are in B's plan (the mix of issue 23)"
grep -qxF "  database \"only_b\" from full/$(basename "$B_FULL")" "$P" || fail_run plan "only_b is not from B's full"
B_READ=$(jq -r '.compressed_size + ([.sections[].length] | add)' "$WORK/b-backups/$B_FULL.json")
grep -qE "^  full/$(basename "$B_FULL"): bucket $URL, [^,]+, [^,]+ to download\$" "$P" \
    || fail_run plan "the base is not named as read from the bucket"
grep -q "^to download from $URL: .* ($B_READ bytes) of 1 archive(s)" "$P" || fail_run plan "the bytes to download are not the base whole plus its sections ($B_READ)"
pass "restore plan (no directory): B's chain only, both identities named, every archive from $URL, $B_READ bytes to download"

run_pgtier plan-a --config "$WORK/c.toml" restore plan --cluster "$SIDA"
expect_rc plan-a 0 "restore plan --cluster A"
grep -qxF "cluster: $SIDA (system identifier)" "$WORK/plan-a.out" || fail_run plan-a "--cluster did not choose A"
grep -q "^base: full/$(basename "$A_FULL2"); " "$WORK/plan-a.out" || fail_run plan-a "the base is not A's newest full"
grep -qxF "  database \"only_a\" from incremental/$(basename "$A_INCR")" "$WORK/plan-a.out" || fail_run plan-a "only_a is not from A's incremental"
! grep -q "$(basename "$B_FULL")" "$WORK/plan-a.out" || fail_run plan-a "B's full is in A's plan"
run_pgtier plan-x --config "$WORK/c.toml" restore plan --cluster 42
expect_rc plan-x 1 "restore plan --cluster of no archive"
grep -q "no archive of cluster \"42\"" "$WORK/plan-x.err" || fail_run plan-x "no word of the unknown cluster"
pass "restore plan --cluster $SIDA: A's full and incremental; an unknown --cluster is refused"

pg_start c
run_pgtier rl --config "$WORK/c.toml" restore latest --if-empty
expect_rc rl 0 "restore latest (B's chain) into C"
[ "$(psql_db only_b -c 'SELECT v FROM t')" = "b-1" ] || fail "only_b is not B's"
[ -z "$(psql_q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'only_a'")" ] || fail "A's database came with B's chain"
run_pgtier rla --config "$WORK/c.toml" restore latest --cluster "$SIDA" --replace
expect_rc rla 0 "restore latest --cluster A"
[ "$(psql_db only_a -c 'SELECT v FROM t ORDER BY v' | tr '\n' ' ')" = "a-1 a-2 " ] || fail "only_a is not A's newest state"
[ ! -e "$C_DIR" ] || fail "restore latest created $C_DIR"
pass "restore latest restores B's data; --cluster $SIDA A's (full + incremental) ($(elapsed) s)"

# ---- remote retention per identity --------------------------------------------------------------------
AT=$(date -u -d '+100 days' +%Y-%m-%dT%H:%M:%SZ)
run_pgtier rp --config "$WORK/a.toml" prune --remote --dry-run --at "$AT"
expect_rc rp 0 "prune --remote --dry-run"
grep -qE "^keep +full +$(basename "$A_FULL1") +one of the newest 2 fulls \(min_full\): kept \[cluster $SIDA\]\$" "$WORK/rp.out" \
    || fail_run rp "A's older full is not kept by min_full of its own cluster (B's full counted?)"
grep -qE "^keep +full +$(basename "$B_FULL") +newest full: always kept \[cluster $SIDB\]\$" "$WORK/rp.out" || fail_run rp "B's full is not kept as its cluster's newest"
! grep -qE '^DELETE ' "$WORK/rp.out" || fail_run rp "remote retention would delete an archive"
pass "prune --remote: min_full counts each cluster's fulls apart"

# ---- manifests of an older pgtier (no identity): never a base for the new ones ----------------------
for m in "$WORK"/a-backups/*/*.json; do
    jq 'del(.system_identifier)' "$m" >"$WORK/m.json"
    cat "$WORK/m.json" >"$m"
done
pg_use a
psql_db only_a -c "INSERT INTO t VALUES ('a-3')"
settle
run_pgtier up --dir "$WORK/a-backups" backup incr
expect_rc up 0 "backup incr over manifests without identity"
grep -q 'wrote full/' "$WORK/up.out" || fail_run up "the first backup after the upgrade built on archives without identity"
A_UP=$(written up)
run_pgtier up-plan --dir "$WORK/a-backups" restore plan
expect_rc up-plan 0 "restore plan after the upgrade"
grep -qxF "cluster: $SIDA (system identifier)" "$WORK/up-plan.out" || fail_run up-plan "the plan is not the identified cluster's"
grep -q "^note: the archives come from 2 clusters: $SIDA (1 archive, .*; - (3 archives" "$WORK/up-plan.out" || fail_run up-plan "the archives without identity are not named apart"
grep -q "^base: full/$(basename "$A_UP"); " "$WORK/up-plan.out" || fail_run up-plan "the base is not the new full"
run_pgtier up-old --dir "$WORK/a-backups" restore plan --cluster -
expect_rc up-old 0 "restore plan --cluster -"
grep -q "^cluster: unknown" "$WORK/up-old.out" || fail_run up-old "--cluster - is not the archives without identity"
grep -qxF "  database \"only_a\" from incremental/$(basename "$A_INCR")" "$WORK/up-old.out" || fail_run up-old "the old chain is not planned"
pass "after an upgrade (manifests without identity) the next backup is a full; plans keep the two apart, --cluster - takes the old ones"

# ---- cluster_name: a rebuilt node continues the history -----------------------------------------------
PREFIX=ha/pg
# cluster_name belongs to [storage] (offsite_toml's extra lines go to [offsite])
{ printf '[storage]\ndir = "%s"\ncluster_name = "phoenix"\n' "$WORK/a2-backups"; offsite_toml "$WORK/a2-backups" | sed '1,2d'; } >"$WORK/a2.toml"
{ printf '[storage]\ndir = "%s"\ncluster_name = "phoenix"\n' "$WORK/c2-backups"; offsite_toml "$WORK/c2-backups" | sed '1,2d'; } >"$WORK/c2.toml"
backup_on a "$WORK/a2.toml" a2-full full
A2_FULL=$(written a2-full)
[ "$(jq -r .cluster_name "$WORK/a2-backups/$A2_FULL.json")" = phoenix ] || fail "cluster_name is not in the manifest"
pg_use c
run_pgtier fetch --config "$WORK/c2.toml" fetch latest-full
expect_rc fetch 0 "fetch A's full onto C"
psql_db only_a -c "INSERT INTO t VALUES ('c-3')"
settle
backup_on c "$WORK/c2.toml" c2-incr incr
grep -q 'wrote incremental/' "$WORK/c2-incr.out" || fail_run c2-incr "C's first backup did not build on A's full (same cluster_name)"
C2_INCR=$(written c2-incr)
[ "$(jq -r .system_identifier "$WORK/c2-backups/$C2_INCR.json")" = "$(sysid)" ] || fail "C's manifest does not record C's system identifier"
run_pgtier c2-sync --config "$WORK/c2.toml" offsite sync
expect_rc c2-sync 0 "offsite sync of C"
! grep -q 'another live cluster' "$WORK/c2-sync.err" || fail_run c2-sync "one cluster_name on two servers taken for two clusters"
run_pgtier plan2 --config "$WORK/c2.toml" restore plan
expect_rc plan2 0 "restore plan over phoenix"
grep -qxF "cluster: phoenix (cluster_name)" "$WORK/plan2.out" || fail_run plan2 "the identity is not the cluster_name"
! grep -q "clusters:" "$WORK/plan2.out" || fail_run plan2 "phoenix taken for several clusters"
grep -q "^base: full/$(basename "$A2_FULL"); " "$WORK/plan2.out" || fail_run plan2 "the base is not A's full"
grep -qxF "  database \"only_a\" from incremental/$(basename "$C2_INCR")" "$WORK/plan2.out" || fail_run plan2 "only_a is not from C's incremental"
grep -qxF "to download: nothing (every archive is in $WORK/c2-backups)" "$WORK/plan2.out" || fail_run plan2 "the plan does not say that nothing is downloaded"
grep -qE "^  full/$(basename "$A2_FULL"): local $WORK/c2-backups, " "$WORK/plan2.out" || fail_run plan2 "the fetched full is not named as local"
pass "cluster_name \"phoenix\": C's incremental builds on A's full, one identity, no warning; the plan reads everything locally ($(elapsed) s)"
