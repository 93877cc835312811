#!/usr/bin/env bash
# pgtier demo: `make demo`, or  scripts/demo.sh PGTIER_BINARY
#
# Starts a throwaway PostgreSQL cluster (tests/integration/lib.sh), loads a little sample data
# (`shop` with customers, orders and a sequence; `app logs`, a name with a space), then walks
# through: backup full -> a change in shop -> backup incr (holds only shop) -> backup incr with no
# change (skipped) -> backup diff -> list -> verify -> restore one database beside the original
# (--as) and the plan of `restore latest` -> offsite copies to a throwaway S3 server (Ceph RGW):
# sync, list and verify the bucket, restore one database from the bucket alone -> a look at the
# files from the host, and stops the cluster. Each step checks its outcome; the script exits non-zero as soon as one fails.
# The backups are kept in .demo/backups in the repository (gitignored; replaced on every run).
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    echo "usage: $0 PGTIER_BINARY" >&2
    exit 2
fi
[ -x "$1" ] || { echo "demo: $1 is not an executable pgtier binary (run: make all)" >&2; exit 1; }
PGTIER_BIN=$(realpath "$1")
export PGTIER_BIN
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

. "$REPO/tests/integration/lib.sh"
# shellcheck source=../tests/integration/lib_s3.sh
. "$REPO/tests/integration/lib_s3.sh"


# pgtier must see only the demo cluster and default settings.
unset PGTIER_CONFIG PGTIER_STORAGE_DIR PGTIER_POSTGRES_HOST PGTIER_POSTGRES_PORT PGTIER_POSTGRES_USER \
    PGTIER_POSTGRES_PASSWORD_FILE POSTGRES_PASSWORD_FILE PGPASSFILE 2>/dev/null || true
: >"$WORK/pgtier.toml"
export PGTIER_CONFIG="$WORK/pgtier.toml"
export LC_ALL=C.UTF-8

BACKUPS="$REPO/.demo/backups"
rm -rf "$BACKUPS"
mkdir -p "$BACKUPS"

BOLD='' PLAIN=''
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi
STEP=0
step() {
    STEP=$((STEP + 1))
    printf '\n%s== %d. %s%s\n' "$BOLD" "$STEP" "$*" "$PLAIN"
}
note() { printf '   -> %s\n' "$*"; }
die() {
    printf '\ndemo FAILED at step %d: %s\n' "$STEP" "$*" >&2
    exit 1
}

# pgtier ARGS... — show the command, run it (logs go to the terminal on stderr), keep its stdout
# in $OUT and its exit status in $RC.
pgtier() {
    printf '$ pgtier --dir %s %s\n' "${BACKUPS#"$REPO"/}" "$*"
    set +e
    OUT=$("$PGTIER" --dir "$BACKUPS" "$@" 2>"$WORK/pgtier.err")
    RC=$?
    set -e
    sed 's/^/   [log] /' "$WORK/pgtier.err"
    [ -z "$OUT" ] || printf '%s\n' "$OUT"
    [ "$RC" -eq 0 ] || die "pgtier $* exited with status $RC"
}

# Published archives of a tier (name pattern of docs/design.md, On-disk layout), sorted.
archives() {
    [ -d "$BACKUPS/$1" ] || return 0
    find "$BACKUPS/$1" -maxdepth 1 -type f -regextype posix-extended \
        -regex ".*/[0-9]{8}_[0-9]{6}(-[0-9]+)?_$1\.sql\.bz2" | sort
}
# The one archive of TIER that is not in BEFORE.
new_archive() {
    local added
    added=$(comm -13 <(printf '%s\n' "$2" | sed '/^$/d') <(archives "$1"))
    [ -n "$added" ] || die "no new $1 archive in ${BACKUPS#"$REPO"/}/$1"
    [ "$(printf '%s\n' "$added" | wc -l)" -eq 1 ] || die "more than one new $1 archive: $added"
    printf '%s\n' "$added"
}
sections() { jq -r '.sections[] | if .kind == "globals" then "(globals)" else .database end' "$1.json"; }
settle() {
    note "waiting 1.5 s for the server to flush its statistics"
    sleep 1.5
}

command -v jq >/dev/null || die "jq is required (scripts/install-deps installs it)"

# ---------------------------------------------------------------------------------------------
step "start a throwaway PostgreSQL cluster"
pg_start demo
echo "   $(postgres --version), socket $PGHOST, port $PGPORT"

step "load sample data: database 'shop' (customers, orders, a sequence) and 'app logs'"
psql_q -d postgres >/dev/null <<'SQL'
CREATE ROLE shop_owner LOGIN;
CREATE DATABASE shop OWNER shop_owner;
CREATE DATABASE "app logs";
SQL
psql_q -d shop >/dev/null <<'SQL'
SET ROLE shop_owner;
CREATE TABLE customers (
    id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
    amount numeric(10,2) NOT NULL, ordered_at timestamptz NOT NULL DEFAULT now());
CREATE SEQUENCE invoice_no START 1000;
INSERT INTO customers (name, email)
SELECT 'Customer ' || g, 'customer' || g || '@example.com' FROM generate_series(1, 20) g;
INSERT INTO orders (customer_id, amount, ordered_at)
SELECT 1 + g % 20, round((random() * 200 + 5)::numeric, 2), now() - g * interval '3 hours'
FROM generate_series(1, 100) g;
SELECT nextval('invoice_no') FROM generate_series(1, 42);
RESET ROLE;
ANALYZE;
SQL
psql_q -d "app logs" >/dev/null <<'SQL'
CREATE TABLE entries (id bigserial PRIMARY KEY, at timestamptz NOT NULL, level text NOT NULL, message text);
INSERT INTO entries (at, level, message)
SELECT now() - g * interval '1 minute', (ARRAY['INFO','WARN','ERROR'])[1 + g % 3], 'event number ' || g
FROM generate_series(1, 200) g;
ANALYZE;
SQL
psql_q -d shop -c "SELECT count(*) || ' customers' FROM customers" -c "SELECT count(*) || ' orders' FROM orders" \
    -c "SELECT 'invoice_no at ' || last_value FROM invoice_no" | sed 's/^/   shop: /'
psql_q -d "app logs" -c "SELECT count(*) || ' log entries' FROM entries" | sed 's/^/   app logs: /'
settle

step "full backup: globals + every database"
pgtier backup full
FULL=$(new_archive full "")
note "$(basename "$FULL"): $(sections "$FULL" | paste -sd, | sed 's/,/, /g')"

step "a change: a new order in shop"
echo "\$ psql -d shop -c \"INSERT INTO orders (customer_id, amount) VALUES (7, 99.90)\""
psql_q -d shop -c "INSERT INTO orders (customer_id, amount) VALUES (7, 99.90)"
settle

step "incremental backup: only what changed since the newest archive holding it"
before=$(archives incremental)
pgtier backup incr
INCR=$(new_archive incremental "$before")
dbs=$(sections "$INCR")
note "$(basename "$INCR") holds: $(printf '%s\n' "$dbs" | paste -sd, | sed 's/,/, /g')"
[ "$dbs" = shop ] || die "the incremental should hold only 'shop', it holds: $(printf '%s\n' "$dbs" | paste -sd ' ')"
bzip2 -dc "$INCR" | grep -F -- '99.90' >/dev/null || die "the new order is not in the incremental"
note "the new order (99.90) is in it"

step "incremental backup again, with no change in between: skipped"
before=$(archives incremental)
pgtier backup incr
[ "$(archives incremental)" = "$before" ] || die "an incremental was written although nothing changed"
note "no new archive written (exit status 0)"

step "differential backup: globals + every database, since the cluster changed after the full"
before=$(archives differential)
pgtier backup diff
DIFF=$(new_archive differential "$before")
note "$(basename "$DIFF"): $(sections "$DIFF" | paste -sd, | sed 's/,/, /g')"

step "list the archives (no database connection needed)"
pgtier list

step "verify every archive: sidecar SHA-256, manifest, full bzip2 decode of each section"
pgtier verify

step "the databases in the newest incremental (from its manifest, no connection needed)"
pgtier restore list-databases latest-incremental

step "restore one database beside the original: shop from the incremental, as shop_restored"
pgtier restore database latest-incremental shop --as shop_restored
echo "\$ psql -d shop_restored -c 'SELECT …'"
psql_q -d shop_restored -c "SELECT count(*) || ' customers' FROM customers" \
    -c "SELECT count(*) || ' orders, newest amount ' || (SELECT amount FROM orders ORDER BY id DESC LIMIT 1) FROM orders" \
    -c "SELECT 'invoice_no at ' || last_value FROM invoice_no" \
    -c "SELECT 'owner ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()" | sed 's/^/   shop_restored: /'
[ "$(psql_q -d shop_restored -c "SELECT count(*) FROM orders")" = "$(psql_q -d shop -c "SELECT count(*) FROM orders")" ] \
    || die "shop_restored does not hold the orders of shop"
note "same rows as shop, which was not touched"

step "what 'restore latest' would do (its plan; nothing is changed)"
pgtier restore plan

step "offsite copies: a throwaway S3 server (Ceph RADOS Gateway on 127.0.0.1) and a bucket"
s3_start
s3_mb demo-offsite
echo "   gateway at $S3_ENDPOINT; [offsite] url = s3://demo-offsite/node1 (set through PGTIER_OFFSITE_* here)"
export PGTIER_OFFSITE_URL=s3://demo-offsite/node1 PGTIER_OFFSITE_ENDPOINT=$S3_ENDPOINT PGTIER_OFFSITE_PATH_STYLE=true
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY

step "upload what the bucket lacks: archive, sidecar, then the manifest (the daemon does this after every backup)"
pgtier offsite sync
pgtier list --remote
pgtier verify --remote --deep

step "restore one database from the bucket alone: shop, with the local archives out of the way"
mv "$BACKUPS" "$BACKUPS.away"
mkdir -p "$BACKUPS"
pgtier restore database latest-incremental shop --as shop_from_s3
rm -rf "$BACKUPS"
mv "$BACKUPS.away" "$BACKUPS"
[ "$(psql_q -d shop_from_s3 -c "SELECT count(*) FROM orders")" = "$(psql_q -d shop -c "SELECT count(*) FROM orders")" ] \
    || die "shop_from_s3 does not hold the orders of shop"
note "same rows as shop; only shop's section was read from the bucket (see the 'read … from' line)"
unset PGTIER_OFFSITE_URL PGTIER_OFFSITE_ENDPOINT PGTIER_OFFSITE_PATH_STYLE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

step "a look from the host: the tier folders"
for tier in full differential incremental; do
    echo "\$ ls -l ${BACKUPS#"$REPO"/}/$tier"
    ls -l "$BACKUPS/$tier"
done

step "checksums with the standard tool, inside the tier folder"
echo "\$ cd ${BACKUPS#"$REPO"/}/full && sha256sum -c *.sha256"
(cd "$BACKUPS/full" && sha256sum -c ./*.sha256) || die "sha256sum -c failed in full/"

step "the archive is a plain SQL script: bzcat latest_full.sql.bz2 | head -n 30"
[ -e "$BACKUPS/full/latest_full.sql.bz2" ] || die "full/latest_full.sql.bz2 is missing or a broken link"
echo "\$ ls -l latest_full.sql.bz2 && bzcat latest_full.sql.bz2 | head -n 30"
(cd "$BACKUPS/full" && ls -l latest_full.sql.bz2)
(
    set +o pipefail
    cd "$BACKUPS/full" && bzcat latest_full.sql.bz2 | head -n 30
)

step "stop the cluster"
pg_stop demo
echo "   stopped (its data directory under $WORK is removed on exit)"

printf '\n%sdemo complete.%s The backups are kept for inspection in %s\n' "$BOLD" "$PLAIN" "$BACKUPS"
echo "(gitignored; the next 'make demo' replaces them). Try: $PGTIER --dir $BACKUPS list"
