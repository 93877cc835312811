#!/usr/bin/env bash
# A forged archive never runs a command on the restoring host. Archives whose sections were
# rewritten to hold psql meta-commands (`\! touch MARK`: on a line of its own, after a statement on
# the same line, in the globals, a \connect to another database), with every checksum recomputed so
# that verify passes them, are refused by every restore path — restore database, full (--jobs 1 and
# 2), latest, a zstd archive, one read from the bucket, and the daemon's auto_restore — naming the
# archive, the section and the line; MARK never appears, no work database is left and the target
# cluster is unchanged. A psql without \restrict is refused before anything changes. An archive
# whose function body and comment hold lines starting with a backslash (text, not commands)
# restores as ever. Also: work databases are pgtier's only when marked (--as of a work database's
# name is refused; a user database with such a name survives every restore).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC

start_source_cluster
psql_q -d postgres -c "CREATE ROLE shopper LOGIN"
psql_q -d postgres -c "CREATE DATABASE shop OWNER shopper" -c "CREATE DATABASE other"
psql_db shop >/dev/null <<'SQL'
CREATE TABLE t (id int, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;
CREATE FUNCTION digits(text) RETURNS text LANGUAGE sql AS $body$
SELECT substring($1 from
'\d+')
$body$;
COMMENT ON TABLE t IS 'first line
\! not a command: a comment''s second line';
SQL
psql_db other -c "CREATE TABLE o AS SELECT 1 AS x"
settle
take_backup full full
FULL=$ARCHIVE
MARK="$WORK/pwned"
CMD="\\! touch $MARK"

no_mark() { [ ! -e "$MARK" ] || fail "$1: the forged archive ran a shell command ($MARK exists)"; }
# refused TAG PATTERN ARGS... — pgtier ARGS exits 1 saying PATTERN (extended regex) and
# "meta-command"; nothing ran, no work database is left.
refused() {
    local tag=$1 pattern=$2
    shift 2
    run_pgtier "$tag" "$@"
    expect_rc "$tag" 1 "$tag: a forged archive"
    grep -q "meta-command" "$WORK/$tag.err" || fail_run "$tag" "the refusal does not say meta-command"
    grep -Eq -- "$pattern" "$WORK/$tag.err" || fail_run "$tag" "the refusal does not match /$pattern/"
    no_mark "$tag"
    [ -z "$(work_dbs)" ] || fail "$tag: work databases left: $(work_dbs)"
}

LINE=$(inject_sql "$FULL" shop "$WORK/line" "$CMD")
SAME=$(inject_sql "$FULL" shop "$WORK/same" "$CMD" same-line)
GLOB=$(inject_sql "$FULL" "(globals)" "$WORK/glob" "$CMD" start)
CONN=$(inject_sql "$FULL" shop "$WORK/conn" "\\connect postgres")
run_pgtier verify-forged verify "$LINE" "$SAME" "$GLOB"
expect_rc verify-forged 0 "verify of the forged archives (their checksums are consistent)"
# The line the command is on, as the section's text counts it.
line_of() { # ARCHIVE DB
    python3 - "$1" "$2" "$CMD" <<'PY'
import bz2, json, sys
path, db, cmd = sys.argv[1:4]
m = json.load(open(path + ".json")); data = open(path, "rb").read()
for s in m["sections"]:
    if s.get("database") == db or (db == "(globals)" and s["kind"] == "globals"):
        text = bz2.decompress(data[s["offset"]:s["offset"] + s["length"]]).decode()
        print(next(i for i, l in enumerate(text.split("\n"), 1) if cmd in l))
PY
}
pass "forged archives (verify passes them): shop's section with the command on a line of its own (line $(line_of "$LINE" shop)) and after a SET (line $(line_of "$SAME" shop)), the globals (line 1), a \\connect postgres"

pg_start dst
with_pg dst psql_q -d postgres -c "CREATE DATABASE shop" -c "CREATE TABLE keep (x int)"
with_pg dst psql_q -d shop -c "CREATE TABLE mine AS SELECT 7 AS x"
snapshot_dst() { with_pg dst cluster_state dst >"$WORK/dst-$1.txt"; }
snapshot_dst before
unchanged() { snapshot_dst after; diff -u "$WORK/dst-before.txt" "$WORK/dst-after.txt" >&2 || fail "$1 changed the target cluster"; }
# PGHOST/PGPORT of dst for pgtier
dst() { with_pg dst "$@"; }

dst refused db-line "database \"shop\" from $(basename "$LINE"): line $(line_of "$LINE" shop) " --dir "$B" restore database "$LINE" shop --replace
dst refused db-same "line $(line_of "$SAME" shop)" --dir "$B" restore database "$SAME" shop --as shop2
dst refused db-conn "connect postgres" --dir "$B" restore database "$CONN" shop --as shop3
unchanged "restore database of forged sections"
pass "restore database refuses a meta-command on its own line, after a statement, and a \\connect elsewhere; shop is untouched"

dst refused full-glob "globals.*line 1 holds.*before anything was changed" --dir "$B" restore full "$GLOB" --replace
unchanged "restore full with forged globals"
[ ! -e "$B/.pgtier/restoring" ] || fail "the refused globals left the restoring marker (backups would be refused)"
# (A database refused halfway leaves the marker, as any failed whole-cluster restore: another
# directory keeps it out of $B.)
dst refused full-j1 "line $(line_of "$LINE" shop)" --dir "$WORK/fulldir" restore full "$LINE" --replace --jobs 1
dst refused full-j2 "line $(line_of "$LINE" shop)" --dir "$WORK/fulldir" restore full "$LINE" --replace --jobs 2
with_pg dst psql_q -d shop -c "SELECT x FROM mine" >/dev/null || fail "restore full --replace of a forged shop replaced shop"
mkdir -p "$WORK/latest/full"
cp "$LINE" "$LINE.sha256" "$LINE.json" "$WORK/latest/full/"
dst refused latest "line $(line_of "$LINE" shop)" --dir "$WORK/latest" restore latest --replace --jobs 2
grep -q 'Failed: "shop"' "$WORK/full-j2.err" || fail_run full-j2 "the refusal does not list shop as failed"
pass "restore full (forged globals: refused before anything changed; forged shop, --jobs 1 and 2) and restore latest refuse them"
# The databases restored before shop was refused stay (as after any failed database).
snapshot_dst before

# ---- zstd ------------------------------------------------------------------------------------------
PGTIER_COMPRESSION_FORMAT=zstd take_backup zfull full --force
ZLINE=$(inject_sql "$ARCHIVE" shop "$WORK/zline" "$CMD")
dst refused zstd "$(basename "$ZLINE")" --dir "$B" restore database "$ZLINE" shop --as zshop
pass "a forged zstd archive is refused too"

# ---- from the bucket ---------------------------------------------------------------------------
# The version matrix (tests/pgversions) has no Ceph in its release images and says so; the bucket
# path does not depend on the server major, and make test always runs it (install-deps has Ceph).
if [ "${PGTIER_TEST_NO_S3:-0}" = 1 ]; then
    echo "skip: the forged archive read from the bucket (PGTIER_TEST_NO_S3=1: no S3 server in this image)"
else
    s3_start
    s3_mb forged
    export PGTIER_OFFSITE_URL="s3://forged/p" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
        PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
    mkdir -p "$WORK/up/full"
    cp "$GLOB" "$GLOB.sha256" "$GLOB.json" "$WORK/up/full/"
    run_pgtier up --dir "$WORK/up" offsite sync
    expect_rc up 0 "uploading the forged archive"
    rm -f "$WORK/up/full/"*
    dst refused bucket "globals" --dir "$WORK/up" restore full latest-full --replace
    unchanged "restore full from the bucket"
    pass "a forged archive read from the bucket is refused"
    unset PGTIER_OFFSITE_URL
fi

# ---- the daemon's auto_restore onto an empty cluster ----------------------------------------------
pg_start empty
{
    daemon_toml "$WORK/latest-glob" UTC "0 0 1 1 *" "0 0 2 1 *" "0 0 3 1 *"
    printf '[daemon]\nauto_restore = true\n'
} >"$WORK/ar.toml"
mkdir -p "$WORK/latest-glob/full"
cp "$GLOB" "$GLOB.sha256" "$GLOB.json" "$WORK/latest-glob/full/"
with_pg empty cluster_state empty >"$WORK/empty-before.txt"
with_pg empty start_daemon ar --config "$WORK/ar.toml"
daemon_gone() { ! kill -0 "$DPID" 2>/dev/null; }
wait_until 60 daemon_gone || { show_log "$WORK/ar.log"; fail "the daemon did not stop after a refused auto_restore"; }
grep -q "auto_restore failed" "$WORK/ar.log" && grep -q "meta-command" "$WORK/ar.log" || { show_log "$WORK/ar.log"; fail "the daemon's log does not say why the auto_restore failed"; }
no_mark "auto_restore"
with_pg empty cluster_state empty >"$WORK/empty-after.txt"
diff -u "$WORK/empty-before.txt" "$WORK/empty-after.txt" >&2 || fail "the refused auto_restore changed the cluster"
pass "the daemon's auto_restore refuses forged globals: nothing ran, the cluster is as it was"

# ---- a psql without \restrict ---------------------------------------------------------------------
mkdir -p "$WORK/oldpsql"
printf '#!/bin/sh\necho "psql (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)"\n' >"$WORK/oldpsql/psql"
chmod +x "$WORK/oldpsql/psql"
PATH="$WORK/oldpsql:$PATH" dst run_pgtier oldpsql --dir "$B" restore database "$FULL" shop --as shop4
expect_rc oldpsql 1 "restore with psql 15.13"
grep -q 'psql 15.13 cannot.*15.14' "$WORK/oldpsql.err" || fail_run oldpsql "no clear refusal of psql 15.13"
unchanged "the refused restore with an old psql"
pass "psql 15.13 (no \\restrict) is refused before anything changes"

# ---- the genuine archive still restores: backslash lines inside a function body and a comment ----
dst run_pgtier genuine --dir "$B" restore database "$FULL" shop --as shop_copy
expect_rc genuine 0 "restore of the genuine archive"
[ "$(with_pg dst psql_db shop_copy -c "SELECT digits('ab12c')")" = 12 ] || fail "the restored function does not work"
with_pg dst psql_db shop_copy -c "SELECT obj_description('t'::regclass)" | grep -q 'not a command' || fail "the comment with a backslash line was not restored"
pass "the genuine archive (backslash lines in a function body and a comment) restores"

# ---- work databases: the name alone proves nothing -------------------------------------------------
dst run_pgtier as-work --dir "$B" restore database "$FULL" shop --as pgtier_restore_3999999_1
[ "$RC" != 0 ] || fail_run as-work "--as pgtier_restore_3999999_1 was accepted"
grep -q "pgtier's own work databases" "$WORK/as-work.err" || fail_run as-work "no clear refusal of a work database name"
dst run_pgtier as-replaced --dir "$B" restore database "$FULL" shop --as pgtier_replaced_3999999_1
[ "$RC" != 0 ] || fail_run as-replaced "--as pgtier_replaced_3999999_1 was accepted"
with_pg dst psql_q -d postgres -c "CREATE DATABASE pgtier_restore_3999999_1"
with_pg dst psql_q -d pgtier_restore_3999999_1 -c "CREATE TABLE precious AS SELECT 1 AS x"
dst run_pgtier after-user-db --dir "$B" restore database "$FULL" other --as other2
expect_rc after-user-db 0 "a restore beside a user database named like a work database"
[ "$(with_pg dst psql_q -d pgtier_restore_3999999_1 -c "SELECT x FROM precious")" = 1 ] || fail "the user's database pgtier_restore_3999999_1 was dropped"
grep -q 'pgtier_restore_3999999_1.*not its mark' "$WORK/after-user-db.err" || fail_run after-user-db "no warning about the unmarked pgtier_restore_3999999_1"
[ -z "$(with_pg dst psql_q -d postgres -c "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'other2'")" ] \
    || fail "the restored other2 still carries the work database mark"
pass "--as of a work database's name is refused; a user database so named survives a restore (warned); a restored database carries no mark"
