#!/usr/bin/env bash
# Offsite copies, remote retention: a history of real backups aged by rewriting their manifests'
# started_at / finished_at (as test_prune.sh does) is synced to the bucket; `prune --remote
# --dry-run --at T` decides every remote archive exactly as the local `prune --dry-run --at T`
# does for the same policy; with shorter [offsite] days (PGTIER_OFFSITE_*_DAYS / _MIN_FULL) a
# real `prune --remote` and then `offsite sync` delete exactly the expected archives (manifest,
# sidecar and archive objects all gone), keep the newest full, do not upload again what remote
# retention would delete, and never touch the local directory or objects pgtier did not make
# (names outside pgtier's pattern, an archive without manifest, a manifest naming another
# archive, other folders, keys outside the prefix).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

s3_start
pg_start rt
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
tier_of() { basename "$(dirname "${ARCH[$1]}")"; }

# ---- the history, made before [offsite] is configured (a backup may sync by itself), then aged ------
take Fa full --force
take Fb full --force
take Da diff --force
change hot 1
take Ia incr
take Fc full --force
take Db diff --force
change cold 1
take Ib incr
take Ic incr --force # every database: Ia and Ib hold no database's newest section
set_age Fa 40
set_age Fb 30
set_age Da 25
set_age Ia 12
set_age Fc 10
set_age Db 8
set_age Ib 5
set_age Ic 2
KEYS=(Fa Fb Da Ia Fc Db Ib Ic)
BUCKET=pgtier-retention
PREFIX=pg/main
s3_mb "$BUCKET"
export PGTIER_OFFSITE_URL="s3://$BUCKET/$PREFIX" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
    PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
pass "8 archives aged 40..2 days; gateway at $S3_ENDPOINT"

# objects KEY... — the object keys of these archives (archive, sidecar, manifest), sorted
objects() {
    local k
    for k in "$@"; do
        printf '%s\n' "$PREFIX/$(tier_of "$k")/$(name "$k")" "$PREFIX/$(tier_of "$k")/$(name "$k").sha256" \
            "$PREFIX/$(tier_of "$k")/$(name "$k").json"
    done | sort
}
remote_keys() { s3_ls "$BUCKET" "$PREFIX/" | awk '{print $1}' | sort; }

# ---- everything is within the policy now: sync uploads all 8 --------------------------------------
run_pgtier sync1 --dir "$B" offsite sync
expect_rc sync1 0 "offsite sync of 8 archives"
grep -qE ": 8 uploaded .*, 0 deleted by remote retention, 0 pending" "$WORK/sync1.out" || fail_run sync1 "expected 8 uploaded, 0 deleted, 0 pending"
diff <(objects "${KEYS[@]}") <(remote_keys) >&2 || fail "the bucket does not hold exactly the 8 archives' 24 objects"
for k in "${KEYS[@]}"; do
    s3_get "$BUCKET" "$PREFIX/$(tier_of "$k")/$(name "$k").json" "$WORK/rm.json"
    cmp -s "$WORK/rm.json" "${ARCH[$k]}.json" || fail "the remote manifest of $k is not the aged local one"
done
pass "offsite sync: 24 objects, the manifests are the aged local ones"

# ---- foreign objects: never decided, never deleted --------------------------------------------------
echo "notes" >"$WORK/notes.txt"
echo "x" | bzip2 >"$WORK/foreign.bz2"
jq '.name = "20200103_000000_full.sql.bz2"' "${ARCH[Fa]}.json" >"$WORK/other-name.json"
FOREIGN=(
    "$PREFIX/full/notes.txt=$WORK/notes.txt"
    "$PREFIX/full/20200101_000000_full.sql.bz2=$WORK/foreign.bz2"
    "$PREFIX/full/20200102_000000_full.sql.bz2=$WORK/foreign.bz2"
    "$PREFIX/full/20200102_000000_full.sql.bz2.json=${ARCH[Fa]}.json"
    "$PREFIX/incremental/sub/20200101_000000_incremental.sql.bz2=$WORK/foreign.bz2"
    "$PREFIX/other/x=$WORK/notes.txt"
    "pg/main-other/full/20200101_000000_full.sql.bz2=$WORK/foreign.bz2"
    "outside/full/$(name Fa)=$WORK/foreign.bz2"
    "outside/full/$(name Fa).json=${ARCH[Fa]}.json"
)
for f in "${FOREIGN[@]}"; do s3_put "$BUCKET" "${f%%=*}" "${f#*=}"; done
foreign_state() {
    local f
    for f in "${FOREIGN[@]}"; do
        s3_get "$BUCKET" "${f%%=*}" "$WORK/fg.bin" || echo "MISSING ${f%%=*}"
        echo "${f%%=*} $(sha256sum <"$WORK/fg.bin" | cut -d' ' -f1)"
    done
}
foreign_state >"$WORK/foreign.before"
grep -q MISSING "$WORK/foreign.before" && fail "setup: a foreign object is missing"
tree_state "$B" >"$WORK/tree.before"
pass "${#FOREIGN[@]} foreign objects put with curl"

# ---- dry runs: remote decisions == local decisions for the same policy and time ---------------------
decisions() { grep -E '^(keep|DELETE|deleted) ' "$WORK/$1.out" | awk '{print $1, $2, $3}' | sort; }
for days in 0 20 40; do
    at=$(date -u -d "@$((NOW + days * 86400))" +%Y-%m-%dT%H:%M:%SZ)
    run_pgtier "ldry$days" --dir "$B" prune --dry-run --at "$at"
    expect_rc "ldry$days" 0 "local prune --dry-run --at $at"
    run_pgtier "rdry$days" --dir "$B" prune --remote --dry-run --at "$at"
    expect_rc "rdry$days" 0 "prune --remote --dry-run --at $at"
    [ "$(decisions "rdry$days" | wc -l)" = 8 ] || fail_run "rdry$days" "expected 8 decisions (foreign objects are not archives)"
    diff <(decisions "ldry$days") <(decisions "rdry$days") >&2 || fail "at +$days days: remote decisions differ from local ones (< local, > remote)"
    # the reasons too, line for line
    diff <(grep -E '^(keep|DELETE) ' "$WORK/ldry$days.out" | sort) <(grep -E '^(keep|DELETE) ' "$WORK/rdry$days.out" | sort) >&2 \
        || fail "at +$days days: remote reasons differ from local ones"
    grep -qE "^8 archives at ${at%Z}.*dry run, nothing deleted" "$WORK/rdry$days.out" || fail_run "rdry$days" "summary line"
    echo "  +$days days: $(decisions "rdry$days" | grep -c '^DELETE') to delete"
done
[ "$(decisions rdry0 | grep -c '^DELETE')" = 0 ] || fail_run rdry0 "now, nothing is beyond the policy"
# 40 days later: Fa (80 days) goes, the newest full Fc stays.
grep -qE "^DELETE +full +$(name Fa) " "$WORK/rdry40.out" || fail_run rdry40 "Fa is not deleted 40 days later"
grep -qE "^keep +full +$(name Fc) .*newest full" "$WORK/rdry40.out" || fail_run rdry40 "Fc is not kept as the newest full"
diff <(objects "${KEYS[@]}") <(remote_keys | grep -vxF -f <(printf '%s\n' "${FOREIGN[@]%%=*}")) >&2 || fail "a dry run changed the bucket"
run_pgtier rat --dir "$B" prune --remote --at "$at"
expect_rc rat 2 "prune --remote --at without --dry-run (deleting as of another time is refused)"
diff <(objects "${KEYS[@]}") <(remote_keys | grep -vxF -f <(printf '%s\n' "${FOREIGN[@]%%=*}")) >&2 || fail "a refused prune --remote --at changed the bucket"
pass "prune --remote --dry-run --at now/+20/+40 days: the local decisions, archive by archive; nothing deleted; --at without --dry-run refused (exit 2)"

# ---- shorter remote incrementals: a real prune --remote --------------------------------------------
PGTIER_OFFSITE_INCREMENTAL_DAYS=1 run_pgtier rp1 --dir "$B" prune --remote
expect_rc rp1 0 "prune --remote with offsite.incremental_days = 1"
[ "$(grep -cE '^deleted ' "$WORK/rp1.out")" = 2 ] || fail_run rp1 "expected 2 deletions (Ia, Ib)"
# Which day counts it used, and from where: [offsite] where set, else [retention] (no other default).
want="remote retention: incremental_days 1 ([offsite]), differential_days 42 ([retention]), full_days 42 ([retention]), min_full 2 ([retention]), keep_monthly_full 0 ([retention])"
grep -qxF "$want" "$WORK/rp1.out" || fail_run rp1 "prune --remote does not print: $want"
for k in Ia Ib; do grep -qE "^deleted +incremental +$(name "$k") +age .* > 1 days \(incremental_days\)" "$WORK/rp1.out" || fail_run rp1 "$k not deleted by incremental_days"; done
grep -qE "^keep +incremental +$(name Ic) " "$WORK/rp1.out" || fail_run rp1 "Ic (newest incremental) not kept"
diff <(objects Fa Fb Da Fc Db Ic) <(remote_keys | grep -vxF -f <(printf '%s\n' "${FOREIGN[@]%%=*}")) >&2 \
    || fail "after prune --remote the bucket is not Fa Fb Da Fc Db Ic (archive, sidecar, manifest each)"
pass "prune --remote (incremental_days 1): Ia and Ib gone (3 objects each), the rest stays; it printed the day counts and their sections"

# ---- a sync with every remote day count at 1: deletes, and does not upload again -------------------
export PGTIER_OFFSITE_INCREMENTAL_DAYS=1 PGTIER_OFFSITE_DIFFERENTIAL_DAYS=1 PGTIER_OFFSITE_FULL_DAYS=1 PGTIER_OFFSITE_MIN_FULL=1
run_pgtier rdry1 --dir "$B" prune --remote --dry-run
expect_rc rdry1 0 "prune --remote --dry-run with 1-day remote retention"
[ "$(decisions rdry1 | grep '^DELETE' | awk '{print $3}' | sort)" = "$(printf '%s\n' "$(name Fa)" "$(name Fb)" "$(name Da)" | sort)" ] \
    || fail_run rdry1 "expected exactly Fa, Fb, Da to delete"
run_pgtier sync2 --dir "$B" offsite sync
expect_rc sync2 0 "offsite sync with 1-day remote retention"
# Ia and Ib are local but not remote: remote retention would delete them, so they are not sent.
grep -qE ": 0 uploaded .*, 3 deleted by remote retention, 0 pending" "$WORK/sync2.out" || fail_run sync2 "expected 0 uploaded, 3 deleted, 0 pending"
diff <(objects Fc Db Ic) <(remote_keys | grep -vxF -f <(printf '%s\n' "${FOREIGN[@]%%=*}")) >&2 \
    || fail "after the sync the bucket is not Fc Db Ic"
pass "offsite sync (1-day remote days, min_full 1): Fa Fb Da deleted, Ia Ib not uploaded again; Fc (newest full) Db Ic stay"

run_pgtier rp2 --dir "$B" prune --remote
expect_rc rp2 0 "a second prune --remote"
! grep -q '^deleted ' "$WORK/rp2.out" || fail_run rp2 "a second prune --remote deleted more"
grep -qE "^keep +full +$(name Fc) .*newest full" "$WORK/rp2.out" || fail_run rp2 "Fc not kept as the newest full"
[ "$(decisions rp2 | wc -l)" = 3 ] || fail_run rp2 "expected 3 remote archives"
pass "a second prune --remote deletes nothing; the newest full stays"

# ---- what pgtier did not make is untouched; the local directory too ---------------------------------
foreign_state >"$WORK/foreign.after"
diff "$WORK/foreign.before" "$WORK/foreign.after" >&2 || fail "remote retention touched objects pgtier did not make"
tree_state "$B" >"$WORK/tree.after"
diff "$WORK/tree.before" "$WORK/tree.after" >&2 || fail "remote retention changed the local backup directory"
for k in "${KEYS[@]}"; do [ -f "${ARCH[$k]}" ] || fail "local $k is gone"; done
run_pgtier list --dir "$B" list --remote --json
expect_rc list 0 "list --remote --json"
[ "$(jq -r '.archives[] | select(.state == "complete") | .name' "$WORK/list.out" 2>/dev/null | sort)" = "$(printf '%s\n' "$(name Fc)" "$(name Db)" "$(name Ic)" | sort)" ] \
    || fail_run list "list --remote --json does not show exactly Fc, Db, Ic as complete"
[ "$(jq -r '.archives[] | select(.state != "complete") | "\(.name) \(.state)"' "$WORK/list.out" | sort)" = "20200101_000000_full.sql.bz2 incomplete: no .json manifest
20200102_000000_full.sql.bz2 broken: the manifest describes another archive" ] || fail_run list "list --remote --json: the foreign archives' states"
pass "foreign objects byte-identical, local directory unchanged, list --remote shows 3 ($(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s in all)"
