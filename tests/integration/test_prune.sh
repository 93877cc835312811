#!/usr/bin/env bash
# Issue 4, retention: a history of real backups, aged by rewriting the manifests' started_at;
# `prune --dry-run` prints every decision with its rule and deletes nothing; `prune` deletes exactly
# those (manifest, sidecar, archive), repoints latest_* where needed and never touches files pgtier
# did not make; what remains verifies; `--at` changes the decisions; keep_monthly_full keeps the
# newest full of recent months; retention also runs after a published backup.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start pr
pg_quiet
for db in hot cold; do
    psql_q -d postgres -c "CREATE DATABASE $db"
    psql_db "$db" -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t VALUES (1, '$db')"
done
settle
B="$WORK/backups"
NOW=$(date -u +%s)

# take / set_age / name: lib_backup.sh
change() { psql_db "$1" -c "INSERT INTO t VALUES (2, 'change-$2')"; settle; }

# ---- the history (creation order; ages assigned afterwards) ----------------------------------------
take Fa full --force
take Fb full --force
take Dc diff --force   # created before Db but dated later: latest_differential will name Db, which goes
take Db diff --force
take Fc full --force
change cold 1
take Ix incr           # cold only: cold's newest section, after the base Dc
psql_q -d postgres -c "CREATE ROLE auditor NOLOGIN"
settle
take Ig incr           # globals only (a new role): the newest globals
change hot 1
take Ih incr           # hot only, superseded by Iy
change hot 2
take Iy incr           # hot only: hot's newest section
take If incr --force   # every database, dated in the future
[ "$(manifest_dbs "${ARCH[Ix]}" | tr '\n' ' ')" = "cold " ] || fail "Ix should hold only cold: $(manifest_dbs "${ARCH[Ix]}")"
manifest_has_globals "${ARCH[Ig]}" && [ -z "$(manifest_dbs "${ARCH[Ig]}")" ] || fail "Ig should hold only globals: $(manifest_dbs "${ARCH[Ig]}")"
! manifest_has_globals "${ARCH[Iy]}" || fail "Iy should not hold globals"
[ "$(manifest_dbs "${ARCH[Iy]}" | tr '\n' ' ')" = "hot " ] || fail "Iy should hold only hot: $(manifest_dbs "${ARCH[Iy]}")"
for k in "${!ARCH[@]}"; do [ -f "${ARCH[$k]}" ] || fail "retention after a fresh backup deleted $k ($(name "$k"))"; done

set_age Fa 100
set_age Fb 60
set_age Db 50
set_age Fc 45
set_age Dc 30
set_age Ix 20
set_age Ig 19
set_age Ih 18
set_age Iy 2
set_age If -5
# what the policy (defaults: 14/42/42 days, min_full 2) must decide now, and by which rule
declare -A WANT=(
    [Fa]="DELETE:age [0-9.]+ days > 42 days"
    [Fb]="keep:min_full"
    [Db]="DELETE:age [0-9.]+ days > 42 days"
    [Fc]="keep:newest full"
    [Dc]="keep:newest differential"
    [Ix]="keep:restore chain"
    [Ig]="keep:restore chain"
    [Ih]="DELETE:age [0-9.]+ days > 14 days"
    [Iy]="keep:newest incremental"
    [If]="keep:future"
)

# foreign files pgtier did not make: never touched
echo "hello" >"$B/full/README.txt"
echo "x" | bzip2 >"$B/full/20200101_000000_full.sql.bz2"
(cd "$B/full" && sha256sum 20200101_000000_full.sql.bz2 >20200101_000000_full.sql.bz2.sha256)
echo "{}" >"$B/incremental/notes.json"
foreign() { sha256sum "$B/full/README.txt" "$B/full/20200101_000000_full.sql.bz2" "$B/full/20200101_000000_full.sql.bz2.sha256" "$B/incremental/notes.json"; }
foreign >"$WORK/foreign.before"

# check_decisions TAG WORD — every archive's line: action (WORD for deletions), tier, name, reason
check_decisions() {
    local tag=$1 delword=$2 k want act re line tier
    for k in "${!WANT[@]}"; do
        want=${WANT[$k]}
        act=${want%%:*}
        re=${want#*:}
        [ "$act" = DELETE ] && act=$delword
        tier=$(basename "$(dirname "${ARCH[$k]}")")
        line=$(grep -E "^[a-zA-Z]+ +[a-z]+ +$(name "$k")( |$)" "$WORK/$tag.out" || true)
        [ -n "$line" ] || fail_run "$tag" "no line for $k ($(name "$k"))"
        [ "$(printf '%s\n' "$line" | wc -l)" = 1 ] || fail_run "$tag" "several lines for $k"
        [ "$(awk '{print $1}' <<<"$line")" = "$act" ] || fail_run "$tag" "$k ($(name "$k"), age ${AGE[$k]} days): expected $act ($re), got: $line"
        [ "$(awk '{print $2}' <<<"$line")" = "$tier" ] || fail_run "$tag" "$k: tier column is not $tier: $line"
        grep -Eq -- "$re" <<<"$line" || fail_run "$tag" "$k ($(name "$k")): reason does not match /$re/: $line"
    done
    [ "$(grep -cE '^(keep|DELETE|deleted) ' "$WORK/$tag.out")" = "${#WANT[@]}" ] || fail_run "$tag" "expected ${#WANT[@]} archive lines (foreign files are not archives)"
}

# ---- dry run ---------------------------------------------------------------------------------------
tree_state "$B" >"$WORK/tree.before"
run_pgtier dry --dir "$B" prune --dry-run
expect_rc dry 0 "prune --dry-run"
check_decisions dry DELETE
ndel=$(printf '%s\n' "${WANT[@]}" | grep -c '^DELETE')
grep -Eq "^${#WANT[@]} archives at .*: $((${#WANT[@]} - ndel)) kept, $ndel to delete .*dry run, nothing deleted" "$WORK/dry.out" \
    || fail_run dry "summary line is not '${#WANT[@]} archives …: $((${#WANT[@]} - ndel)) kept, $ndel to delete … dry run'"
tree_state "$B" >"$WORK/tree.after"
diff "$WORK/tree.before" "$WORK/tree.after" >&2 || fail "prune --dry-run changed the backup directory"
pass "dry run: $ndel to delete, every rule named, nothing deleted"

# ---- --at in the future changes the decision --------------------------------------------------------
# 30 days later: If (then 25 days old) is the newest incremental and holds every database, so Iy
# and Ix lose their protection and are older than 14 days.
at=$(date -u -d "@$((NOW + 30 * 86400))" +%Y-%m-%dT%H:%M:%SZ)
run_pgtier dry30 --dir "$B" prune --dry-run --at "$at"
expect_rc dry30 0 "prune --dry-run --at $at"
grep -Eq "^keep +incremental +$(name If) .*newest incremental" "$WORK/dry30.out" || fail_run dry30 "If is not kept as the newest incremental 30 days later"
grep -Eq "^DELETE +incremental +$(name Iy) +age" "$WORK/dry30.out" || fail_run dry30 "Iy (32 days old, superseded by If) is not deleted 30 days later"
grep -Eq "^DELETE +incremental +$(name Ix) +age" "$WORK/dry30.out" || fail_run dry30 "Ix (50 days old, superseded by If) is not deleted 30 days later"
grep -Eq "^keep +differential +$(name Dc) " "$WORK/dry30.out" || fail_run dry30 "Dc (newest differential) is not kept"
grep -q "archives at $(date -u -d "$at" +%Y-%m-%dT%H:%M:%S)" "$WORK/dry30.out" || fail_run dry30 "summary does not name the --at time"
tree_state "$B" >"$WORK/tree.after"
diff "$WORK/tree.before" "$WORK/tree.after" >&2 || fail "prune --dry-run --at changed the backup directory"
# and before everything: all dated in the future, all kept
run_pgtier dryold --dir "$B" prune --dry-run --at 2000-01-01T00:00:00Z
expect_rc dryold 0 "prune --dry-run --at 2000"
[ "$(grep -cE '^keep .*dated in the future' "$WORK/dryold.out")" = "${#WANT[@]}" ] || fail_run dryold "at 2000 every archive is dated in the future and kept"
run_pgtier badat --dir "$B" prune --dry-run --at 'next tuesday'
expect_rc badat 2 "prune --at with a bad time"
grep -q "next tuesday" "$WORK/badat.err" || fail_run badat "the message does not name the bad --at value"
run_pgtier realat --dir "$B" prune --at "$at"
expect_rc realat 2 "prune --at without --dry-run (deleting as of another time is refused)"
tree_state "$B" >"$WORK/tree.after"
diff "$WORK/tree.before" "$WORK/tree.after" >&2 || fail "prune --at without --dry-run changed the backup directory"
pass "--at: 30 days later If supersedes Iy and Ix; year 2000 keeps everything; a bad time exits 2; without --dry-run refused"

# ---- keep_monthly_full --------------------------------------------------------------------------------
# Fa (100 days old) is the only full of its month: kept when that month is among the last N.
mon_now=$(date -u -d "@$NOW" +%Y-%m)
mon_a=$(date -u -d "$(iso_days_ago 100)" +%Y-%m)
diffm=$(((10#${mon_now%-*} * 12 + 10#${mon_now#*-}) - (10#${mon_a%-*} * 12 + 10#${mon_a#*-})))
PGTIER_RETENTION_KEEP_MONTHLY_FULL=$((diffm + 1)) run_pgtier mon1 --dir "$B" prune --dry-run
expect_rc mon1 0 "prune with keep_monthly_full=$((diffm + 1))"
grep -Eq "^keep +full +$(name Fa) .*$mon_a" "$WORK/mon1.out" || fail_run mon1 "keep_monthly_full=$((diffm + 1)): Fa ($mon_a) is not kept as the newest full of its month"
grep -Eq "^DELETE +incremental +$(name Ih) " "$WORK/mon1.out" || fail_run mon1 "keep_monthly_full kept an incremental"
grep -Eq "^DELETE +differential +$(name Db) " "$WORK/mon1.out" || fail_run mon1 "keep_monthly_full kept a differential"
PGTIER_RETENTION_KEEP_MONTHLY_FULL=$diffm run_pgtier mon2 --dir "$B" prune --dry-run
expect_rc mon2 0 "prune with keep_monthly_full=$diffm"
grep -Eq "^DELETE +full +$(name Fa) " "$WORK/mon2.out" || fail_run mon2 "keep_monthly_full=$diffm (months after $mon_a): Fa must go"
PGTIER_RETENTION_KEEP_MONTHLY_FULL=-1 run_pgtier mon3 --dir "$B" prune --dry-run
expect_rc mon3 2 "keep_monthly_full = -1 is a configuration error"
pass "keep_monthly_full: $((diffm + 1)) months keep Fa ($mon_a), $diffm do not; -1 is refused"

# ---- prune ---------------------------------------------------------------------------------------------
run_pgtier real --dir "$B" prune
expect_rc real 0 "prune"
check_decisions real deleted
grep -Eq "^${#WANT[@]} archives at .*: $((${#WANT[@]} - ndel)) kept, $ndel deleted" "$WORK/real.out" || fail_run real "summary line"
! grep -q 'dry run' "$WORK/real.out" || fail_run real "a real prune says 'dry run'"
for k in "${!WANT[@]}"; do
    a=${ARCH[$k]}
    if [[ ${WANT[$k]} == DELETE:* ]]; then
        for f in "$a.json" "$a.sha256" "$a"; do [ ! -e "$f" ] || fail "prune left $(basename "$f") of $k"; done
    else
        for f in "$a.json" "$a.sha256" "$a"; do [ -f "$f" ] || fail "prune removed $(basename "$f") of kept $k"; done
    fi
done
foreign >"$WORK/foreign.after"
diff "$WORK/foreign.before" "$WORK/foreign.after" >&2 || fail "prune touched files pgtier did not make"
for t in full differential incremental; do
    l="$B/$t/latest_$t.sql.bz2"
    [ -L "$l" ] || fail "latest_$t is gone"
    [ -e "$l" ] || fail "latest_$t dangles: -> $(readlink "$l")"
done
[ "$(readlink "$B/differential/latest_differential.sql.bz2")" = "$(name Dc)" ] || fail "latest_differential was not repointed to Dc ($(name Dc)): -> $(readlink "$B/differential/latest_differential.sql.bz2")"
[ "$(readlink "$B/full/latest_full.sql.bz2")" = "$(name Fc)" ] || fail "latest_full changed: -> $(readlink "$B/full/latest_full.sql.bz2")"
[ -z "$(find "$B" -name '*.tmp' -o -name '.*.partial')" ] || fail "temporary files left: $(find "$B" -name '*.tmp' -o -name '.*.partial')"
kept=()
for k in "${!WANT[@]}"; do [[ ${WANT[$k]} == keep:* ]] && kept+=("$(name "$k")"); done
run_pgtier ver --dir "$B" verify "${kept[@]}" latest-full latest-differential latest-incremental
expect_rc ver 0 "verify of what remains"
[ "$(grep -c '^OK ' "$WORK/ver.out")" = $((${#kept[@]} + 3)) ] || fail_run ver "not every kept archive verified OK"
run_pgtier plan --dir "$B" restore plan
expect_rc plan 0 "restore plan after prune"
grep -q "$(name Dc)" "$WORK/plan.out" || fail_run plan "restore plan does not use Dc as base"
pass "prune deleted exactly the $ndel planned (manifest, sidecar, archive); latest_* resolve (differential repointed); kept archives verify; foreign files untouched"

run_pgtier again --dir "$B" prune
expect_rc again 0 "second prune"
! grep -q '^deleted ' "$WORK/again.out" || fail_run again "a second prune deleted more"
pass "a second prune deletes nothing"

# ---- retention after a published backup ----------------------------------------------------------------
# A new forced incremental (every database) supersedes Ix (20 days) and Iy stays (2 days).
take In incr --force
[ ! -e "${ARCH[Ix]}" ] && [ ! -e "${ARCH[Ix]}.json" ] || fail "retention after the backup did not delete Ix (20 days, superseded)"
[ -f "${ARCH[Iy]}" ] || fail "retention after the backup deleted Iy (2 days old)"
[ -f "${ARCH[If]}" ] || fail "retention after the backup deleted If (dated in the future)"
grep -q "retention: deleted incremental/$(name Ix)" "$WORK/take-In.err" || fail_run take-In "no 'retention: deleted' log for Ix"
foreign >"$WORK/foreign.after"
diff "$WORK/foreign.before" "$WORK/foreign.after" >&2 || fail "retention touched files pgtier did not make"
pass "retention after backup incr: Ix deleted, Iy and If kept"
