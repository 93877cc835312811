#!/usr/bin/env bash
# Issue 3: `restore database` of one database from each archive type (full, differential,
# incremental), for names with a space, quotes, a dot and non-ASCII letters; `--as NEW` beside the
# original (original untouched, NEW has the source's content and database-level attributes);
# `--replace` of an existing, modified database brings back the archived content.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"

start_source_cluster
make_sample_cluster
# A non-default database ACL and a role-in-database setting for the renaming checks.
psql_q -d postgres -c 'REVOKE CONNECT, TEMPORARY ON DATABASE "my db" FROM PUBLIC' \
    -c 'GRANT CONNECT, TEMPORARY ON DATABASE "my db" TO r_reader' \
    -c 'GRANT CONNECT ON DATABASE "my db" TO r_app WITH GRANT OPTION'
settle

# ---- a full, an incremental (3 databases changed), a differential (2 more changed) ----------------
take_backup full full
FULL=$ARCHIVE
save_dumps src full "${SAMPLE_DBS[@]}" postgres
with_pg src pg_dump -d postgres | strip_restrict >"$WORK/postgres-at-full.sql"
with_pg src pg_dump -d template1 | strip_restrict >"$WORK/template1-at-full.sql"

INCR_DBS=("my db" 'q"uote' "Ünïcødé 名前")
for db in "${INCR_DBS[@]}"; do sample_content "$db" "in the incremental"; done
settle
take_backup incr incr
INCR=$ARCHIVE
diff <(printf '%s\n' "${INCR_DBS[@]}" | sort) <(manifest_dbs "$INCR") >&2 || fail "setup: the incremental does not hold exactly ${INCR_DBS[*]}"
save_dumps src incr "${INCR_DBS[@]}"

for db in "dot.ted" "café_ü" "my db"; do sample_content "$db" "in the differential"; done
settle
take_backup diff diff
DIFF=$ARCHIVE
save_dumps src diff "${SAMPLE_DBS[@]}"
pass "archives: full $(basename "$FULL"), incremental $(basename "$INCR") (${#INCR_DBS[@]} databases), differential $(basename "$DIFF")"

# ---- list-databases -----------------------------------------------------------------------------
PGHOST=/nonexistent PGPORT=1 run_pgtier list --dir "$B" restore list-databases latest-incremental --json
expect_rc list 0 "restore list-databases --json (with no server reachable)"
diff <(printf '%s\n' "${INCR_DBS[@]}" | sort) <(jq -r '.databases[].database' "$WORK/list.out" | sort) >&2 \
    || fail_run list "list-databases --json does not list the incremental's databases"
jq -e --slurpfile m "$INCR.json" 'all(.databases[]; . as $d | any($m[0].sections[]; .database == $d.database
    and .uncompressed_length == $d.sql_bytes and .length == $d.compressed_bytes))' "$WORK/list.out" >/dev/null \
    || fail_run list "list-databases --json sizes differ from the manifest"
run_pgtier list2 --dir "$B" restore list-databases "$(basename "$FULL")"
expect_rc list2 0 "restore list-databases (text)"
for db in "${SAMPLE_DBS[@]}"; do grep -qF "$db" "$WORK/list2.out" || fail_run list2 "text list lacks '$db'"; done
pass "restore list-databases (text and --json) lists the archive's databases with the manifest's sizes"

# ---- into a second cluster that has the roles (role creation is test_restore_roles.sh) -------------
pg_start dst
with_pg src pg_dumpall --globals-only | psql -X -q -d postgres >/dev/null 2>&1 || true
[ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('r_admin', 'r_app', 'r_reader')")" = 3 ] \
    || fail "setup: roles not copied to dst"
restore_and_check() { # TAG ARCHIVE DB DUMPTAG
    local tag=$1 archive=$2 db=$3 dumptag=$4
    run_pgtier "$tag" --dir "$B" restore database "$archive" "$db"
    expect_rc "$tag" 0 "restore database '$db' from $archive"
    grep -qF "$db" "$WORK/$tag.out" || fail_run "$tag" "the result line does not name '$db'"
    dump_db dst "$db" --create >"$WORK/got.sql"
    same_dump "$(saved_dump "$dumptag" "$db")" "$WORK/got.sql" "'$db' restored from $archive differs from the source at the $dumptag backup"
}
pg_use dst
restore_and_check f1 "$FULL" "it's" full
restore_and_check f2 latest-full "app" full
pass "from the full: \"it's\", app identical to the source at the full"
restore_and_check i1 latest-incremental "Ünïcødé 名前" incr
restore_and_check i2 "$INCR" 'q"uote' incr
pass "from the incremental: \"Ünïcødé 名前\", 'q\"uote' identical to the source at the incremental"
restore_and_check d1 latest-differential "my db" diff
restore_and_check d2 "$(basename "$DIFF")" "café_ü" diff
pass "from the differential: \"my db\", café_ü identical to the source at the differential"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"

# ---- --replace of an existing, modified database --------------------------------------------------
psql_db "my db" -c "DELETE FROM s.items WHERE id < 50" -c "DROP VIEW s.big_items" -c "CREATE TABLE junk (x int)"
psql_q -d postgres -c "COMMENT ON DATABASE \"my db\" IS 'modified'" -c "ALTER DATABASE \"my db\" SET work_mem = '9MB'"
dump_db dst "my db" --create >"$WORK/modified.sql"
snapshot dst before-refusal
run_pgtier rr0 --dir "$B" restore database "$FULL" "my db"
expect_rc rr0 1 "restore database onto an existing database without --replace"
grep -q "already exists" "$WORK/rr0.err" || fail_run rr0 "the refusal does not say 'already exists'"
same_snapshot dst before-refusal "restore database without --replace (refused)"
run_pgtier rr --dir "$B" restore database "$FULL" "my db" --replace
expect_rc rr 0 "restore database --replace"
dump_db dst "my db" --create >"$WORK/got.sql"
same_dump "$(saved_dump full "my db")" "$WORK/got.sql" "'my db' after --replace from the full differs from the source at the full"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "--replace brings back the archived content, ACL, comment and settings of a modified database"

# ---- --as NEW beside the original (on the source cluster) -----------------------------------------
pg_use src
NEW='my db "restored".v2 ü'
dump_db src "my db" --create >"$WORK/orig-before.sql"
db_catalog src "my db" >"$WORK/orig-cat-before.txt"
run_pgtier as1 --dir "$B" restore database latest-differential "my db" --as "$NEW"
expect_rc as1 0 "restore database --as NEW"
dump_db src "my db" --create >"$WORK/orig-after.sql"
same_dump "$WORK/orig-before.sql" "$WORK/orig-after.sql" "the original 'my db' changed during restore --as"
db_catalog src "my db" >"$WORK/orig-cat-after.txt"
same_dump "$WORK/orig-cat-before.txt" "$WORK/orig-cat-after.txt" "the original's database-level attributes changed during restore --as"
dump_db src "my db" >"$WORK/orig-content.sql"
dump_db src "$NEW" >"$WORK/new-content.sql"
same_dump "$WORK/orig-content.sql" "$WORK/new-content.sql" "the content of '$NEW' differs from 'my db'"
db_catalog src "$NEW" >"$WORK/new-cat.txt"
same_dump "$WORK/orig-cat-before.txt" "$WORK/new-cat.txt" "database-level attributes of '$NEW' (owner, comment, ACL, settings) differ from 'my db'"
grep -q 'setting r_reader search_path' "$WORK/new-cat.txt" || fail "ALTER ROLE r_reader IN DATABASE setting not carried over to '$NEW'"
grep -q 'r_reader=Tc' "$WORK/new-cat.txt" || fail "GRANT ... ON DATABASE not carried over to '$NEW': $(cat "$WORK/new-cat.txt")"
[ -z "$(work_dbs src)" ] || fail "leftover work databases: $(work_dbs src)"
pass "--as '$NEW': original untouched; same content, owner, comment, ACL and settings as 'my db'"

# --as with a name that needs \connect quoting in a different way, from the incremental.
NEW2='Ünïcødé copy'
run_pgtier as2 --dir "$B" restore database "$INCR" "Ünïcødé 名前" --as "$NEW2"
expect_rc as2 0 "restore database --as from the incremental"
dump_db src "$NEW2" >"$WORK/new2.sql"
dump_db src "Ünïcødé 名前" >"$WORK/orig2.sql"
same_dump "$WORK/orig2.sql" "$WORK/new2.sql" "'$NEW2' differs from 'Ünïcødé 名前'"
# ... and postgres (dumped without CREATE DATABASE) --as a new database.
run_pgtier as3 --dir "$B" restore database "$FULL" postgres --as "pg copy"
expect_rc as3 0 "restore database postgres --as 'pg copy'"
dump_db src "pg copy" >"$WORK/pgcopy.sql"
same_dump "$WORK/postgres-at-full.sql" "$WORK/pgcopy.sql" "'pg copy' differs from postgres at the full"
# The --as target that exists is refused like any other.
run_pgtier as4 --dir "$B" restore database "$FULL" app --as "$NEW2"
expect_rc as4 1 "restore database --as an existing name"
grep -q "already exists" "$WORK/as4.err" || fail_run as4 "the refusal does not say 'already exists'"
same_dump "$WORK/orig2.sql" <(dump_db src "$NEW2") "'$NEW2' changed by a refused restore --as"
pass "--as from an incremental and from postgres's section; --as onto an existing name refused"

# ---- postgres --replace and template1 --as (sections without CREATE DATABASE) ---------------------
pg_use dst
psql_q -d postgres -c "CREATE TABLE junk_in_postgres (x int)" -c "COMMENT ON DATABASE postgres IS 'local comment'"
run_pgtier pgr --dir "$B" restore database "$FULL" postgres --replace
expect_rc pgr 0 "restore database postgres --replace"
same_dump "$WORK/postgres-at-full.sql" <(dump_db dst postgres) "postgres after --replace differs from the source's postgres at the full"
[ "$(psql_q -d postgres -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'postgres'")" = "local comment" ] \
    || fail "restore database postgres --replace lost the database's own comment (not in the archive)"
run_pgtier t1 --dir "$B" restore database "$FULL" template1 --as "t1 copy"
expect_rc t1 0 "restore database template1 --as 't1 copy'"
same_dump "$WORK/template1-at-full.sql" <(dump_db dst "t1 copy") "'t1 copy' differs from the source's template1 at the full"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "postgres --replace: content as archived, its own comment kept; template1 --as a new database"

# ---- a name with a dot (pg_dump writes \connect "dot.ted"), from the full and the differential -----
pg_use dst
restore_and_check dot1 "$(basename "$FULL")" "dot.ted" full
run_pgtier dot2 --dir "$B" restore database latest-differential "dot.ted" --replace
expect_rc dot2 0 "restore database dot.ted --replace from the differential"
dump_db dst "dot.ted" --create >"$WORK/got.sql"
same_dump "$(saved_dump diff "dot.ted")" "$WORK/got.sql" "'dot.ted' restored from the differential differs from the source at the differential"
[ -z "$(work_dbs dst)" ] || fail "leftover work databases: $(work_dbs dst)"
pass "dot.ted from the full, then --replace from the differential"
