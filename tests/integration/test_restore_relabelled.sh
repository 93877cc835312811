#!/usr/bin/env bash
# Issue 11: a section's label in the manifest is checked against its content before it is
# replayed. A manifest edited so that a section (its bytes and SHA-256 untouched, so every checksum
# still passes) claims to be another database is refused with a clear message and the target cluster
# is left exactly as it was: `restore database … --as`, `restore database` of swapped labels, a
# postgres section relabelled as a created database, and `restore full`. `verify` does not call such
# an archive OK either: its FAILED line names the relabelled section.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
psql_q -d postgres -c "CREATE ROLE r_owner LOGIN"
for db in alpha beta; do
    psql_q -d postgres -c "CREATE DATABASE $db OWNER r_owner"
    psql_db "$db" -c "CREATE TABLE t_$db AS SELECT g AS id FROM generate_series(1, 100) g"
done
psql_q -d postgres -c "CREATE TABLE in_postgres (x int)"
settle
take_backup full full
FULL=$ARCHIVE

# relabel DIR JQ-FILTER — a copy of FULL in DIR whose manifest is edited by JQ-FILTER; prints its path.
relabel() {
    local copy
    copy=$(copy_archive "$FULL" "$WORK/$1")
    jq "$2" "$copy.json" >"$copy.json.new"
    mv "$copy.json.new" "$copy.json"
    printf '%s\n' "$copy"
}
GAMMA=$(relabel gamma '(.sections[] | select(.database == "alpha") | .database) = "gamma" | (.fingerprint.databases[] | select(.name == "alpha") | .name) = "gamma"')
SWAP=$(relabel swap '.sections |= map(if .database == "alpha" then .database = "beta" elif .database == "beta" then .database = "alpha" else . end)')
DELTA=$(relabel delta '(.sections[] | select(.database == "postgres") | .database) = "delta"')
jq -e '[.sections[].database] | index("gamma") != null' "$GAMMA.json" >/dev/null || fail "setup: relabelling failed"

pg_start dst
snapshot dst before
refused() { # TAG WHAT ARGS...
    local tag=$1 what=$2
    shift 2
    run_pgtier "$tag" --dir "$B" "$@"
    expect_rc "$tag" 1 "$what"
    grep -qiE 'header|names database' "$WORK/$tag.err" || fail_run "$tag" "$what: the message does not say the section's header names another database"
    [ -z "$(work_dbs dst)" ] || fail "$what: work database left: $(work_dbs dst)"
    same_snapshot dst before "$what"
    pass "$what: refused, cluster unchanged ($(grep -iE 'header|names database' "$WORK/$tag.err" | head -n1 | cut -c1-120))"
}
# shellcheck disable=SC2031  # cluster_state changes PGHOST/PGPORT in a subshell only, on purpose
export PGHOST="$WORK/dst/socket" PGPORT
PGPORT=$(pg_port dst)
refused as "alpha's section labelled gamma, restore --as" restore database "$GAMMA" gamma --as newdb
refused plain "alpha's section labelled gamma, restore under its label" restore database "$GAMMA" gamma
refused swap "alpha and beta labels swapped" restore database "$SWAP" beta
refused delta "postgres's section labelled delta" restore database "$DELTA" delta
refused full "restore full of a relabelled archive" restore full "$GAMMA"

run_pgtier control --dir "$B" restore database "$FULL" alpha --as alpha2
expect_rc control 0 "the untouched archive restores (control)"
[ "$(psql_db alpha2 -c "SELECT count(*) FROM t_alpha")" = 100 ] || fail "alpha2 lacks t_alpha"
pass "the untouched archive restores alpha as alpha2 (control)"

# ---- verify reads every section's header while it decodes it -----------------------------------------
# verify_relabelled TAG ARCHIVE SECTION... — exit 1, one FAILED line naming each SECTION (its
# label in the manifest) as not the database its manifest says.
verify_relabelled() {
    local tag=$1 archive=$2 line section
    shift 2
    run_pgtier "$tag" --dir "$B" verify "$archive"
    expect_rc "$tag" 1 "verify of a relabelled archive ($tag)"
    line=$(grep '^FAILED ' "$WORK/$tag.out" || true)
    [ "$(grep -c . <<<"$line")" = 1 ] || fail_run "$tag" "expected one FAILED line"
    [[ $line == "FAILED $archive: "* ]] || fail_run "$tag" "the FAILED line does not name $archive"
    for section in "$@"; do
        grep -qF "section database \"$section\": not the database its manifest says" <<<"$line" \
            || fail_run "$tag" "the FAILED line does not name section $section as relabelled"
    done
    pass "verify $tag: exit 1, $(cut -c1-220 <<<"${line#FAILED "$archive": }")"
}
verify_relabelled vswap "$SWAP" alpha beta
verify_relabelled vgamma "$GAMMA" gamma
verify_relabelled vdelta "$DELTA" delta
grep -qF "intact: globals" "$WORK/vswap.out" || fail_run vswap "the FAILED line does not list globals as intact"
! grep -qF 'database "alpha"' <<<"$(sed 's/.*\[intact: //' "$WORK/vswap.out")" || fail_run vswap "a swapped section is listed as intact"
run_pgtier vfull --dir "$B" verify "$FULL"
expect_rc vfull 0 "verify of the untouched archive (control)"
[ "$(cat "$WORK/vfull.out")" = "OK $FULL" ] || fail_run vfull "expected exactly 'OK $FULL'"
pass "verify of the untouched archive: OK (control)"
