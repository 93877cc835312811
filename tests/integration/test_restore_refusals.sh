#!/usr/bin/env bash
# Issue 3: restores that must refuse, say why, and change nothing: an existing target without
# --replace, an archive from a newer PostgreSQL major (labelled "version mismatch", exit 2), an
# unknown database (the message lists the archive's databases), a corrupted or
# truncated archive (one database, a whole archive, and a corrupted incremental under
# `restore latest`). In every case the cluster's databases, content and roles are identical before
# and after, and no pgtier_restore_* work database is left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
psql_q -d postgres -c "CREATE ROLE r_owner LOGIN"
DBS=("my db" "dot.ted" "Ünïcødé" "app")
for db in "${DBS[@]}"; do
    psql_q -d postgres -v n="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER r_owner', :'n') \gexec
SQL
    # Enough rows that a section spans more than a few hundred bytes.
    psql_db "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g"
done
settle
take_backup full full
FULL=$ARCHIVE
psql_db app -c "UPDATE t SET v = 'changed' WHERE id = 1"
settle
take_backup incr incr
INCR=$ARCHIVE
[ "$(manifest_dbs "$INCR")" = app ] || fail "setup: the incremental should hold only app, has: $(manifest_dbs "$INCR" | tr '\n' ' ')"
pass "setup: ${#DBS[@]} databases, full $(basename "$FULL") and incremental $(basename "$INCR") (app)"

# refused TAG WHAT GREP-REGEX ARGS... — pgtier ARGS must exit non-zero with a message matching
# GREP-REGEX (case-insensitive) on stderr, and leave the current cluster exactly as it was.
# The state checked after one refusal is the state before the next (call unchanged CLUSTER after
# changing a cluster on purpose).
unchanged() { rm -f "$WORK/snap-current-$1.txt"; }
refused() {
    local tag=$1 what=$2 pattern=$3 cluster
    shift 3
    # shellcheck disable=SC2031  # PGHOST is pg_use's; cluster_state changes it in a subshell only
    cluster=$(basename "$(dirname "$PGHOST")")
    [ -f "$WORK/snap-current-$cluster.txt" ] || snapshot "$cluster" "current-$cluster"
    run_pgtier "$tag" --dir "$B" "$@"
    expect_rc "$tag" nonzero "$what"
    grep -Eqi -- "$pattern" "$WORK/$tag.err" || fail_run "$tag" "$what: the message does not match /$pattern/"
    same_snapshot "$cluster" "current-$cluster" "$what (refused)"
    mv "$WORK/snap-current-$cluster.now.txt" "$WORK/snap-current-$cluster.txt"
    [ -z "$(work_dbs "$cluster")" ] || fail "$what: leftover work database(s): $(work_dbs "$cluster")"
    pass "$what: exit $RC, '$(grep -v '^[0-9-]*T' "$WORK/$tag.err" | head -n1 | cut -c1-140)'"
}

# ---- an existing target -----------------------------------------------------------------------------
refused exists "existing target without --replace" "already exists" restore database "$FULL" "my db"
refused exists-as "existing --as target without --replace" "already exists" restore database "$FULL" app --as "dot.ted"
[ "$RC" -eq 1 ] || fail "an existing target: exit $RC, expected 1"

# ---- targets that cannot be: template1, a missing archive ------------------------------------------
refused tmpl1 "template1 as the target" "template1|--as" restore database "$FULL" template1
refused no-archive "an archive that does not exist" "no archive|not found|does not exist|no such" restore database nosuch.sql.bz2 app --as fresh
refused no-archive-full "restore full of an archive that does not exist" "no archive|not found|does not exist|no such" restore full "$WORK/nowhere.sql.bz2"

# ---- an archive from a newer major: a version mismatch (exit 2), not a "configuration error" -----
V=$(copy_archive "$FULL" "$WORK/newer")
jq '.server_version = "99.0 (forged)"' "$V.json" >"$WORK/newer.json" && cat "$WORK/newer.json" >"$V.json"
refused newer "an archive dumped from a newer major (99)" "^pgtier: version mismatch: .*PostgreSQL 99\.0, newer than the target server" \
    restore database "$V" app --as fresh
[ "$RC" -eq 2 ] || fail "an archive from a newer major: exit $RC, expected 2"
! grep -q 'configuration error' "$WORK/newer.err" || fail_run newer "the version refusal is labelled a configuration error"

# ---- an unknown database -------------------------------------------------------------------------
refused unknown "unknown database" "not in" restore database "$FULL" "no such db"
[ "$RC" -eq 1 ] || fail "unknown database: exit $RC, expected 1"
for db in "${DBS[@]}" postgres template1; do
    grep -qF -- "$db" "$WORK/unknown.err" || fail_run unknown "the message does not list '$db', a database of the archive"
done
refused unknown-incr "database not in the incremental" "not in" restore database "$INCR" "my db" --as fresh
grep -qF '"app"' "$WORK/unknown-incr.err" || fail_run unknown-incr "the message does not list app, the incremental's database"
! grep -qF '"my db"' <(sed 's/database "my db" is not in//' "$WORK/unknown-incr.err") \
    || fail_run unknown-incr "the message lists 'my db' among the incremental's databases"
pass "the unknown-database messages list exactly the archive's databases"

# ---- a corrupted / truncated database section ------------------------------------------------------
section() { jq -r --arg d "$2" '.sections[] | select(.database == $d) | "\(.offset) \(.length)"' "$1.json"; }

C=$(copy_archive "$FULL" "$WORK/corrupt")
read -r off len < <(section "$C" "my db")
[ "$len" -gt 200 ] || fail "setup: section of 'my db' is only $len bytes"
flip_byte "$C" $((off + len / 2))
# Sanity: without the flip the same command succeeds (so the refusal is about the corruption).
refused corrupt "one flipped byte in the section" "sha-?256|checksum|corrupt|damaged|does not match|crc" \
    restore database "$C" "my db" --as "my db restored"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'my db restored'")" = 0 ] || fail "'my db restored' exists"
# The same byte flipped in the section's bzip2 header.
C2=$(copy_archive "$FULL" "$WORK/corrupt2")
flip_byte "$C2" $((off + 1))
refused corrupt-head "a flipped byte in the section's bzip2 header" "sha-?256|checksum|corrupt|damaged|does not match|bzip2|magic" \
    restore database "$C2" "my db" --as "my db restored"
# A replace must not drop the existing database when the archive is bad.
refused corrupt-replace "a corrupted section with --replace" "sha-?256|checksum|corrupt|damaged|does not match|crc" \
    restore database "$C" "my db" --replace

T=$(copy_archive "$FULL" "$WORK/truncated")
read -r off len < <(section "$T" "Ünïcødé")
truncate -s $((off + len / 2)) "$T"
refused truncated "an archive truncated inside the section" "truncat|short|past the end|end of file|incomplete|sha-?256|size" \
    restore database "$T" "Ünïcødé" --replace
truncate -s "$off" "$T"
refused truncated2 "an archive truncated before the section" "truncat|short|past the end|end of file|incomplete|sha-?256|size" \
    restore database "$T" "Ünïcødé" --as "Ü2"

# Sanity: the uncorrupted copy restores (the command itself is fine).
OK=$(copy_archive "$FULL" "$WORK/intact")
run_pgtier intact --dir "$B" restore database "$OK" "my db" --as "my db restored"
expect_rc intact 0 "restore database --as from the intact copy"
with_pg src psql_q -d postgres -c 'DROP DATABASE "my db restored"'
unchanged src
pass "the intact copy of the archive restores with the same command"

# ---- an SQL error during the replay (an archive with valid checksums): target untouched ------------
X=$(inject_sql "$FULL" "my db" "$WORK/sqlerror" "SELECT 1/0;")
run_pgtier verify-x --dir "$B" verify "$X"
expect_rc verify-x 0 "setup: pgtier verify of the archive with the injected statement"
refused sqlerr-replace "an SQL error while replacing 'my db'" "division by zero" restore database "$X" "my db" --replace
grep -q "SELECT 1/0" "$WORK/sqlerr-replace.err" || fail_run sqlerr-replace "the message does not show the failing statement"
refused sqlerr-as "an SQL error while restoring 'my db' --as a new name" "division by zero" restore database "$X" "my db" --as "my db 2"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'my db 2'")" = 0 ] || fail "'my db 2' exists after a failed restore"

# ---- a corrupted / truncated whole archive: restore full into an empty cluster -----------------------
pg_start empty
W=$(copy_archive "$FULL" "$WORK/whole")
read -r off len < <(jq -r '.sections[-1] | "\(.offset) \(.length)"' "$W.json")
flip_byte "$W" $((off + len / 2)) # the last section: a streaming restore would have done the rest
refused full-corrupt "restore full of an archive with a flipped byte in its last section" \
    "sha-?256|checksum|corrupt|damaged|does not match" restore full "$W"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = 'r_owner'")" = 0 ] || fail "restore full of a corrupted archive created roles"
refused full-corrupt-r "restore full --replace of the corrupted archive" \
    "sha-?256|checksum|corrupt|damaged|does not match" restore full --replace "$W"
W2=$(copy_archive "$FULL" "$WORK/whole2")
truncate -s $(($(stat -c %s "$W2") - 100)) "$W2"
refused full-trunc "restore full of a truncated archive" \
    "truncat|short|sha-?256|checksum|does not match|size" restore full "$W2"

# ---- restore latest with a corrupted incremental: refused before anything changes ------------------
read -r off len < <(section "$INCR" app)
cp "$INCR" "$WORK/incr.bak"
flip_byte "$INCR" $((off + len / 2))
refused latest-corrupt "restore latest with a corrupted incremental section" \
    "sha-?256|checksum|corrupt|damaged|does not match" restore latest
refused latest-corrupt-ie "restore latest --if-empty with a corrupted incremental section" \
    "sha-?256|checksum|corrupt|damaged|does not match" restore latest --if-empty
cp "$WORK/incr.bak" "$INCR"
cp "$FULL" "$WORK/full.bak"
flip_byte "$FULL" 100
refused latest-corrupt-base "restore latest with a corrupted base (globals section)" \
    "sha-?256|checksum|corrupt|damaged|does not match" restore latest
cp "$WORK/full.bak" "$FULL"
pass "every refusal left the clusters unchanged"

# ---- restore full that fails in the middle: says what was restored, no work database left -------------
run_pgtier full-sqlerr --dir "$B" restore full "$X"
expect_rc full-sqlerr 1 "restore full of an archive whose 'my db' section fails"
grep -q "division by zero" "$WORK/full-sqlerr.err" || fail_run full-sqlerr "the message does not say what failed"
grep -q 'Restored: globals.*\. Failed: "my db"\. Not started: ' "$WORK/full-sqlerr.err" || fail_run full-sqlerr "the message does not list what was restored, failed and not started"
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'my db'")" = 0 ] || fail "'my db' exists after its restore failed"
[ -z "$(work_dbs empty)" ] || fail "leftover work database(s) after a failed restore full: $(work_dbs empty)"
pass "restore full failing at 'my db': exit 1, the failing statement and what was restored are reported, no work database left"

# ---- --as with a name longer than PostgreSQL's 63 bytes (the server would truncate it) -------------
LONG=$(printf 'n%.0s' {1..70})
pg_use src
run_pgtier long1 --dir "$B" restore database "$FULL" app --as "$LONG"
if [ "$RC" -eq 0 ]; then
    unchanged src
    # Accepted: the second time the (truncated) target exists and must be refused up front.
    refused long2 "--as a too long name whose truncated form exists" "already exists|too long|63" restore database "$FULL" app --as "$LONG"
else
    grep -Eqi "too long|63|NAMEDATALEN" "$WORK/long1.err" || fail_run long1 "--as a 70-byte name refused without saying it is too long"
    [ -z "$(work_dbs src)" ] || fail "leftover work databases: $(work_dbs src)"
    pass "--as a 70-byte name refused: $(head -n1 "$WORK/long1.err")"
fi
