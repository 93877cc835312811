#!/usr/bin/env bash
# Offsite copies, one database out of a big archive: a cluster with one big database (about
# 25 MB of SQL) and one small one is backed up (full) and synced; the local archive files are
# removed; `restore database latest-full small --as small_copy` reads the archive from the
# bucket by ranged GETs: the copy equals the original (pg_dump of both identical), and the
# bytes it downloaded (the exact count it prints) are far fewer than the archive's:
# under a quarter of it, and at least the small section twice (checked, then replayed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
. "$(dirname "$0")/lib_s3.sh"
export TZ=UTC
T0=$EPOCHREALTIME

s3_start
BUCKET=pgtier-single
PREFIX=db1
s3_mb "$BUCKET"

start_source_cluster
psql_q -d postgres -c "CREATE ROLE small_owner NOLOGIN" -c "CREATE ROLE small_reader NOLOGIN"
psql_q -d postgres -c "CREATE DATABASE big" -c "CREATE DATABASE small OWNER small_owner"
psql_db big -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a, md5((-g)::text) AS b, md5((g * 7)::text) AS c FROM generate_series(1, ${BIG_ROWS:-220000}) g"
psql_db small >/dev/null <<'SQL'
CREATE SCHEMA app AUTHORIZATION small_owner;
CREATE TABLE app.customers (id serial PRIMARY KEY, name text NOT NULL, since date, note text);
INSERT INTO app.customers (name, since, note)
  SELECT 'customer ' || g, date '2020-01-01' + g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'ünï ''q'' "dq" \ tab	x' END
  FROM generate_series(1, 300) g;
CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         customer int REFERENCES app.customers, amount numeric(10, 2));
INSERT INTO app.orders (customer, amount) SELECT 1 + g % 300, g * 1.25 FROM generate_series(1, 1000) g;
CREATE VIEW app.totals AS SELECT customer, sum(amount) AS total FROM app.orders GROUP BY customer;
CREATE INDEX ON app.orders (customer);
ALTER TABLE app.customers OWNER TO small_owner;
ALTER TABLE app.orders OWNER TO small_owner;
GRANT USAGE ON SCHEMA app TO small_reader;
GRANT SELECT ON app.totals TO small_reader;
SQL
settle

take_backup full full
NAME=$(basename "$ARCHIVE")
SIZE=$(jq -r .compressed_size "$ARCHIVE.json")
read -r SMALL_LEN BIG_SQL < <(jq -r '[(.sections[] | select(.database == "small") | .length), (.sections[] | select(.database == "big") | .uncompressed_length)] | @tsv' "$ARCHIVE.json")
[ "$BIG_SQL" -ge $((20 * 1024 * 1024)) ] || fail "setup: big's section is $BIG_SQL bytes of SQL, want at least 20 MiB"
[ "$SMALL_LEN" -gt 0 ] || fail "setup: no section of small"
export PGTIER_OFFSITE_URL="s3://$BUCKET/$PREFIX" PGTIER_OFFSITE_ENDPOINT="$S3_ENDPOINT" \
    PGTIER_OFFSITE_PATH_STYLE=true AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
run_pgtier sync --dir "$B" offsite sync
expect_rc sync 0 "offsite sync"
grep -qx "$PREFIX/full/$NAME $SIZE" <(s3_ls "$BUCKET" "$PREFIX/full/") || fail "the archive ($SIZE bytes) is not in the bucket"
pass "backup full ($NAME, $SIZE bytes; big's SQL $BIG_SQL bytes, small's section $SMALL_LEN bytes compressed) synced"

dump_db src small >"$WORK/small.sql"
rm -f "$B/full/$NAME" "$B/full/$NAME.sha256" "$B/full/$NAME.json" "$B/full/latest_full.sql.bz2"
[ -z "$(archives "$B" full)" ] || fail "setup: a local full is left"

run_pgtier r --dir "$B" restore database latest-full small --as small_copy
expect_rc r 0 "restore database latest-full small --as small_copy from the bucket"
dump_db src small_copy >"$WORK/small_copy.sql"
grep -q 'customer 300' "$WORK/small_copy.sql" || fail "the copy's dump lacks the data"
same_dump "$WORK/small.sql" "$WORK/small_copy.sql" "small_copy restored from the bucket"
[ "$(psql_q -d postgres -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'small_copy'")" = small_owner ] \
    || fail "small_copy is not owned by small_owner"
[ -z "$(work_dbs)" ] || fail "work databases left: $(work_dbs)"
pass "small_copy == small (pg_dump identical, owner small_owner)"

# ---- how much it read ------------------------------------------------------------------------------------
line=$(grep -E "^read [0-9]+ bytes from s3://$BUCKET/$PREFIX " "$WORK/r.out" || true)
[ -n "$line" ] || fail_run r "no 'read N bytes from s3://$BUCKET/$PREFIX …' line"
grep -qF "the archive is $(awk -v s="$SIZE" 'BEGIN { printf "%.1f MiB", s / 1048576 }')" <<<"$line" || fail_run r "the line does not give the archive's size: $line"
READ=$(awk '{print $2}' <<<"$line")
[ "$READ" -ge $((2 * SMALL_LEN)) ] || fail "it read $READ bytes, less than small's section twice (2 x $SMALL_LEN: checked, then replayed)"
[ "$((READ * 4))" -lt "$SIZE" ] || fail "it read $READ bytes of a $SIZE-byte archive: not under a quarter"
pass "read $READ bytes from the bucket for a $SIZE-byte archive ($((READ * 100 / SIZE))%): $line"

# ---- the bucket and the local directory: nothing written -----------------------------------------------
[ -z "$(archives "$B" full)" ] || fail "the restore fetched the archive into the backup directory"
[ -z "$(partials "$B")" ] || fail "partials left: $(partials "$B")"
pass "nothing downloaded into $B ($(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s in all)"
