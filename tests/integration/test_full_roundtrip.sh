#!/usr/bin/env bash
# Issue 2, test 1: a full backup of a cluster with awkward database names, roles with memberships
# and database-level settings is a valid archive (bzip2 -t, sha256sum -c inside the tier folder,
# manifest sections) and replays with `bzcat | psql -v ON_ERROR_STOP=1` into a fresh cluster that
# then holds the same databases and roles.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

pg_start src

make_sample_cluster

mapfile -t SRC_DBS < <(db_list)
[ "${#SRC_DBS[@]}" -ge 9 ] || fail "setup: expected at least 9 databases, have ${#SRC_DBS[@]}"
pass "source cluster: ${#SRC_DBS[@]} databases, roles with memberships and settings"

# ---- the backup -----------------------------------------------------------------------------
B="$WORK/backups"
run_pgtier full --dir "$B" backup full
expect_rc full 0 "backup full"
A=$(new_archive "$B" full "")
NAME=$(basename "$A")
line=$(result_line full)
[[ $line == *"full"* && $line == *"$NAME"* ]] || fail_run full "result line does not name the archive $NAME: $line"
pass "backup full wrote $NAME: $line"

bzip2 -t "$A" || fail "bzip2 -t $A failed"
pass "bzip2 -t accepts the archive"
(cd "$B/full" && sha256sum -c "$NAME.sha256") >"$WORK/shacheck.out" 2>&1 || { cat "$WORK/shacheck.out" >&2; fail "sha256sum -c $NAME.sha256 inside full/ failed"; }
grep -qx "$NAME: OK" "$WORK/shacheck.out" || fail "sha256sum -c did not check $NAME: $(cat "$WORK/shacheck.out")"
pass "sha256sum -c $NAME.sha256 inside full/: $(cat "$WORK/shacheck.out")"
check_archive "$A" full
pass "manifest matches the file: sizes, sha256, contiguous standalone bzip2 sections"

# Sections: globals first, then exactly the connectable databases, each once.
[ "$(jq -r '.sections[0].kind' "$A.json")" = globals ] || fail "first section is not globals"
[ "$(jq '[.sections[] | select(.kind == "globals")] | length' "$A.json")" = 1 ] || fail "full archive must have exactly one globals section"
diff <(printf '%s\n' "${SRC_DBS[@]}") <(manifest_dbs "$A") >"$WORK/dbs.diff" \
    || { cat "$WORK/dbs.diff" >&2; fail "database sections differ from the cluster's databases (< cluster, > manifest)"; }
[ "$(manifest_dbs "$A" | uniq -d | wc -l)" = 0 ] || fail "a database appears twice in the manifest"
diff <(printf '%s\n' "${SRC_DBS[@]}") <(jq -r '.fingerprint.databases[].name' "$A.json" | sort) >"$WORK/fp.diff" \
    || { cat "$WORK/fp.diff" >&2; fail "fingerprint.databases differs from the cluster's databases"; }
jq -e '[.sections[] | .fingerprint | type == "string" and length > 0] | all' "$A.json" >/dev/null || fail "a section has no fingerprint"
[ "$(jq -r .server_version "$A.json")" != "" ] || fail "empty server_version"
[ "$(jq -r .tool_version "$A.json")" = "$(tr -d '[:space:]' <"$PGTIER_SOURCE_DIR/VERSION")" ] \
    || fail "tool_version $(jq -r .tool_version "$A.json") is not VERSION $(cat "$PGTIER_SOURCE_DIR/VERSION")"
pass "sections: globals + one per database (${#SRC_DBS[@]}), fingerprints present"

# Each database section alone is that database's dump (a reader can seek to it).
for db in "${SRC_DBS[@]}"; do
    read -r off len < <(jq -r --arg d "$db" '.sections[] | select(.database == $d) | "\(.offset) \(.length)"' "$A.json")
    dd if="$A" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | bzip2 -dc >"$WORK/one.sql"
    grep -q "^-- PostgreSQL database dump complete" "$WORK/one.sql" || fail "section of '$db' is not a complete pg_dump"
    case $db in
    postgres | template1) ;;
    *) grep -Fq "CREATE DATABASE $(qident "$db") " "$WORK/one.sql" || fail "section of '$db' does not create that database" ;;
    esac
done
pass "each database section decodes alone into that database's complete dump"

# ---- the latest link --------------------------------------------------------------------------
L="$B/full/latest_full.sql.bz2"
[ -L "$L" ] || fail "latest_full.sql.bz2 is not a symlink"
target=$(readlink "$L")
[[ $target != /* ]] || fail "latest_full.sql.bz2 is absolute: $target"
[ "$(readlink -f "$L")" = "$(readlink -f "$A")" ] || fail "latest_full.sql.bz2 -> $target does not resolve to $NAME"
# Relative means it still resolves after the whole folder moves (as through a bind mount).
mv "$B" "$WORK/moved"
[ "$(readlink -f "$WORK/moved/full/latest_full.sql.bz2")" = "$WORK/moved/full/$NAME" ] || fail "latest link breaks when the backup folder moves"
mv "$WORK/moved" "$B"
pass "latest_full.sql.bz2 -> $target (relative, resolves)"

# ---- replay into a fresh cluster ------------------------------------------------------------
pg_start dst
bzcat "$A" | psql -X -q -v ON_ERROR_STOP=1 -f - postgres >"$WORK/replay.out" 2>"$WORK/replay.err" \
    || { tail -n 20 "$WORK/replay.err" >&2; fail "replaying the archive with psql -v ON_ERROR_STOP=1 failed"; }
if grep -q "ERROR" "$WORK/replay.err"; then
    grep ERROR "$WORK/replay.err" | head >&2
    fail "replay printed errors"
fi
pass "bzcat | psql -v ON_ERROR_STOP=1 replayed the archive into a fresh cluster"

mapfile -t DST_DBS < <(db_list)
diff <(printf '%s\n' "${SRC_DBS[@]}") <(printf '%s\n' "${DST_DBS[@]}") || fail "database lists differ after replay"

compare_clusters src dst "after replay"
pass "pg_dump --create of all ${#SRC_DBS[@]} databases, pg_dumpall --globals-only and role/database catalog rows are identical on both clusters"

grep -q 'GRANT r_reader TO r_app' "$WORK/state-dst.txt" || fail "membership r_reader -> r_app missing after replay"
grep -q 'work_mem=5MB' "$WORK/state-dst.txt" || fail "ALTER ROLE ... IN DATABASE setting lost"
[ "$(with_pg dst psql_db app -c "SELECT count(*) FROM pg_largeobject_metadata")" = 2 ] || fail "large objects missing after replay"
pass "database/role settings, memberships, owners, comments and large objects reproduced"

# ---- file modes (docs/design.md, On-disk layout: files 0640, directories 0750) -------------------
for f in "$A" "$A.sha256" "$A.json"; do
    [ "$(stat -c %a "$f")" = 640 ] || fail "$(basename "$f") has mode $(stat -c %a "$f"), expected 0640"
done
for d in "$B/full" "$B/.pgtier"; do
    [ "$(stat -c %a "$d")" = 750 ] || fail "$d has mode $(stat -c %a "$d"), expected 0750"
done
pass "files 0640, directories 0750"
