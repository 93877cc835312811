# shellcheck shell=bash
# Helpers shared by the round-trip and restore integration tests (issue 3). Source after lib.sh and
# lib_backup.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib_backup.sh"; . "$(dirname "$0")/lib_restore.sh"
#
#   start_source_cluster       the opening of a restore test: B=$WORK/backups, cluster src started
#                              (pg_start) with autovacuum off (pg_quiet)
#   make_table_db DB ROWS      in the current cluster: database DB with table t (id, v) of ROWS rows
#   SAMPLE_DBS                 the user databases make_sample_cluster creates (awkward names)
#   make_sample_cluster        in the current cluster: roles with memberships, settings, a comment;
#                              SAMPLE_DBS owned by r_admin with settings, comments, schema s (table,
#                              sequence, view, function, grants); large objects in "app"; tables in
#                              postgres and template1
#   sample_content DB [TAG]    change DB's content (insert a row tagged TAG into s.items)
#   dump_db CLUSTER DB [pg_dump args]   pg_dump of DB on CLUSTER, \restrict lines removed
#   cluster_state CLUSTER      a text picture of a cluster: database list, pg_dump --create of each
#                              connectable database, pg_dumpall --globals-only and catalog rows
#                              (settings, memberships, owners, connection limits, comments)
#   compare_clusters SRC DST [CONTEXT]  fail (with a diff) unless cluster_state is the same
#   snapshot CLUSTER NAME      cluster_state CLUSTER into $WORK/snap-NAME.txt
#   same_snapshot CLUSTER NAME CONTEXT  fail unless CLUSTER's state equals snapshot NAME (taken of
#                              it or of another cluster)
#   db_catalog CLUSTER DB      database-level attributes of DB (owner, encoding, connlimit,
#                              comment, ACL, settings) without its name, one per line
#   work_dbs [CLUSTER]         leftover pgtier_restore_* databases (empty when none)
#   take_backup TAG TYPE [--force]   pgtier --dir $B backup TYPE (must not skip); sets ARCHIVE to
#                              the new archive
#   flip_byte FILE OFFSET      invert one byte of FILE in place
#   save_dumps CLUSTER TAG DB...   pg_dump --create of each DB, kept; saved_dump TAG DB prints its path
#   same_dump FILE_A FILE_B CONTEXT  fail with a diff unless the two files are identical
#   copy_archive ARCHIVE DIR   copy an archive with its sidecar and manifest into DIR; prints the path
#   inject_sql ARCHIVE DB DIR SQL [WHERE]  a consistent copy of ARCHIVE (valid checksums) whose DB
#                              section has SQL added (default: a line after its first COPY block;
#                              DB "(globals)": the globals section, at its end); prints the path

# The opening every restore test shares: backups in $B, cluster src started, autovacuum off.
start_source_cluster() {
    B="$WORK/backups"
    pg_start src
    pg_quiet
}

SAMPLE_DBS=("my db" 'q"uote' "it's" "dot.ted" "café_ü" "Ünïcødé 名前" "app")

make_sample_cluster() {
    # ---- roles, memberships, role settings
    psql_q -d postgres <<'SQL'
CREATE ROLE r_admin LOGIN CREATEDB PASSWORD 'admin-pw';
CREATE ROLE r_reader NOLOGIN;
CREATE ROLE r_app LOGIN CONNECTION LIMIT 5;
CREATE ROLE "Rôle Ü ""x""" NOLOGIN;
GRANT r_reader TO r_app;
GRANT r_app TO r_admin WITH ADMIN OPTION;
GRANT "Rôle Ü ""x""" TO r_reader;
ALTER ROLE r_app SET statement_timeout = '5s';
COMMENT ON ROLE r_app IS 'the application role';
SQL
    # ---- databases: a space, a double quote, a single quote, a dot, non-ASCII letters
    local db ident
    for db in "${SAMPLE_DBS[@]}"; do
        ident=${db//\"/\"\"}
        psql_q -d postgres -c "CREATE DATABASE \"$ident\" OWNER r_admin"
        psql_q -d postgres -c "ALTER DATABASE \"$ident\" SET work_mem = '3MB'"
        psql_q -d postgres -c "COMMENT ON DATABASE \"$ident\" IS 'db $(printf '%s' "$db" | sed "s/'/''/g")'"
        psql_db "$db" >/dev/null <<'SQL'
CREATE SCHEMA s;
CREATE SEQUENCE s.counter START 100;
SELECT setval('s.counter', 142);
CREATE TABLE s.items (id serial PRIMARY KEY, name text NOT NULL, qty int, added timestamptz DEFAULT '2024-01-02 03:04:05+00');
INSERT INTO s.items (name, qty) SELECT 'item ' || g || ' ünï ''q'' "dq" \ tab	x', g FROM generate_series(1, 200) g;
CREATE VIEW s.big_items AS SELECT * FROM s.items WHERE qty > 100;
CREATE FUNCTION s.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
COMMENT ON TABLE s.items IS 'items table';
GRANT USAGE ON SCHEMA s TO r_reader;
GRANT SELECT ON s.items TO r_reader;
ALTER TABLE s.items OWNER TO r_app;
SQL
    done
    psql_q -d postgres -c "ALTER ROLE r_app IN DATABASE \"café_ü\" SET work_mem = '5MB'"
    psql_q -d postgres -c "ALTER ROLE r_reader IN DATABASE \"my db\" SET search_path = s, public"
    psql_q -d postgres -c "ALTER DATABASE \"dot.ted\" CONNECTION LIMIT 7"
    psql_db app -c "SELECT lo_from_bytea(0, convert_to(repeat('large object data ', 500), 'UTF8'))" >/dev/null
    psql_db app -c "CREATE TABLE docs (id int, doc oid)" -c "INSERT INTO docs SELECT 1, lo_from_bytea(0, '\\x00ff10'::bytea)"
    # Content in the maintenance databases too (dumped without --create).
    psql_q -d postgres -c "CREATE TABLE in_postgres (k text PRIMARY KEY, v int)" -c "INSERT INTO in_postgres VALUES ('a', 1), ('b', 2)"
    psql_q -d template1 -c "CREATE TABLE in_template1 (x int)" -c "INSERT INTO in_template1 VALUES (42)"
}

sample_content() {
    local db=$1 tag=${2:-changed}
    psql_db "$db" -v tag="$tag" >/dev/null <<'SQL'
INSERT INTO s.items (name, qty) VALUES (:'tag', 999);
SELECT nextval('s.counter');
SQL
}

_conninfo_db() {
    local q=${1//\\/\\\\}
    printf "dbname='%s'" "${q//\'/\\\'}"
}

dump_db() {
    local cluster=$1 db=$2
    shift 2
    with_pg "$cluster" pg_dump "$@" -d "$(_conninfo_db "$db")" | strip_restrict
}

_catalog_rows() {
    psql_q -d postgres <<'SQL'
SELECT coalesce(d.datname, '*'), coalesce(r.rolname, '*'), array_to_string(s.setconfig, ',')
  FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
  LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1, 2;
SELECT r.rolname, m.rolname, a.admin_option FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member ORDER BY 1, 2;
SELECT datname, pg_get_userbyid(datdba), datconnlimit, datallowconn, datistemplate,
       shobj_description(oid, 'pg_database'), datacl FROM pg_database ORDER BY 1;
SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
       rolbypassrls, rolconnlimit, rolvaliduntil, shobj_description(oid, 'pg_authid')
  FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1;
SQL
}

cluster_state() {
    local cluster=$1 db
    (
        PGHOST="$WORK/$cluster/socket" PGPORT=$(pg_port "$cluster")
        export PGHOST PGPORT
        echo "=== databases"
        db_list
        echo "=== catalog"
        _catalog_rows
        echo "=== globals"
        pg_dumpall --globals-only | strip_restrict
        db_list | while IFS= read -r db; do
            echo "=== database $db"
            pg_dump --create -d "$(_conninfo_db "$db")" | strip_restrict || echo "!!! pg_dump of $db failed"
        done
    )
}

compare_clusters() {
    local src=$1 dst=$2 context=${3:-clusters}
    cluster_state "$src" >"$WORK/state-$src.txt"
    cluster_state "$dst" >"$WORK/state-$dst.txt"
    grep -q '^=== database ' "$WORK/state-$src.txt" || fail "$context: could not read cluster $src"
    if ! diff -u "$WORK/state-$src.txt" "$WORK/state-$dst.txt" >"$WORK/compare.diff"; then
        head -n 60 "$WORK/compare.diff" >&2
        fail "$context: cluster $dst differs from $src (diff above, < $src, > $dst)"
    fi
}

snapshot() { cluster_state "$1" >"$WORK/snap-$2.txt"; }

same_snapshot() {
    local cluster=$1 name=$2 context=$3
    cluster_state "$cluster" >"$WORK/snap-$name.now.txt"
    if ! diff -u "$WORK/snap-$name.txt" "$WORK/snap-$name.now.txt" >"$WORK/snap.diff"; then
        head -n 60 "$WORK/snap.diff" >&2
        fail "$context: cluster $cluster differs from snapshot $name (diff above, < snapshot, > now)"
    fi
}

db_catalog() {
    local cluster=$1 db=$2
    with_pg "$cluster" psql_q -d postgres -v d="$db" <<'SQL'
SELECT 'owner ' || pg_get_userbyid(datdba), 'encoding ' || pg_encoding_to_char(encoding),
       'collate ' || datcollate, 'connlimit ' || datconnlimit,
       'comment ' || coalesce(shobj_description(oid, 'pg_database'), '<none>'),
       'acl ' || coalesce(datacl::text, '<default>')
  FROM pg_database WHERE datname = :'d';
SELECT 'setting ' || coalesce(r.rolname, '*') || ' ' || array_to_string(s.setconfig, ',')
  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
  LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = :'d' ORDER BY 1;
SQL
}

work_dbs() {
    if [ $# -gt 0 ]; then
        with_pg "$1" psql_q -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'pgtier\_restore\_%' ORDER BY 1"
    else
        psql_q -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'pgtier\_restore\_%' ORDER BY 1"
    fi
}

make_table_db() {
    psql_q -d postgres -c "CREATE DATABASE $(qident "$1")"
    psql_db "$1" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" -c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, $2) g"
}

ARCHIVE=
take_backup() {
    local tag=$1 type=$2 tier before
    shift 2
    case $type in full) tier=full ;; diff | differential) tier=differential ;; *) tier=incremental ;; esac
    before=$(archives "$B" "$tier")
    run_pgtier "$tag" --dir "$B" backup "$type" "$@"
    expect_rc "$tag" 0 "backup $type ($tag)"
    ! grep -qi skipped "$WORK/$tag.out" || fail_run "$tag" "backup $type ($tag) was skipped"
    # shellcheck disable=SC2034  # ARCHIVE is read by the tests that call take_backup
    ARCHIVE=$(new_archive "$B" "$tier" "$before")
}

flip_byte() {
    local file=$1 off=$2 byte
    byte=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
    # shellcheck disable=SC2059  # the format is the octal escape of the byte to write
    printf "$(printf '\\%03o' $((255 - byte)))" | dd of="$file" bs=1 seek="$off" count=1 conv=notrunc status=none
}

# save_dumps CLUSTER TAG DB... — pg_dump --create of each DB into $WORK/dumps/TAG/; saved_dump
# TAG DB prints its path.
saved_dump() { printf '%s/dumps/%s/%s.sql' "$WORK" "$1" "$(printf '%s' "$2" | sha1sum | cut -c1-16)"; }
save_dumps() {
    local cluster=$1 tag=$2 db
    shift 2
    mkdir -p "$WORK/dumps/$tag"
    for db in "$@"; do
        dump_db "$cluster" "$db" --create >"$(saved_dump "$tag" "$db")"
        grep -q 'dump complete' "$(saved_dump "$tag" "$db")" || fail "pg_dump of '$db' on $cluster failed"
    done
}

# same_dump FILE_A FILE_B CONTEXT — fail with a diff unless the two dumps are identical.
same_dump() {
    if ! diff -u "$1" "$2" >"$WORK/dump.diff"; then
        head -n 40 "$WORK/dump.diff" >&2
        fail "$3 (diff above)"
    fi
}

# copy_archive ARCHIVE DIR — the archive with its sidecar and manifest copied into DIR; prints the
# copy's path.
copy_archive() {
    mkdir -p "$2"
    cp "$1" "$1.sha256" "$1.json" "$2/"
    printf '%s\n' "$2/$(basename "$1")"
}

# inject_sql ARCHIVE DB DIR SQL [WHERE] — a consistent copy of ARCHIVE (bzip2 or zstd) in DIR
# (valid sidecar, manifest offsets and SHA-256s) whose section of DB (or "(globals)") has SQL
# added where WHERE says: "after-copy" (the default), a line of its own after its first COPY data
# block (or at its end when it has none); "same-line", at the end of its first "SET " line, after
# that statement; "start", as its first line. Prints the copy's path. For replay failures that no
# checksum can catch, and for forged archives.
inject_sql() {
    local src=$1 db=$2 dir=$3 sql=$4 where=${5:-after-copy}
    mkdir -p "$dir"
    python3 - "$src" "$db" "$dir" "$sql" "$where" <<'PY'
import bz2, hashlib, json, os, subprocess, sys
src, db, outdir, sql, where = sys.argv[1:6]
name = os.path.basename(src)
zstd = name.endswith(".zst")
def decompress(chunk):
    if zstd:
        return subprocess.run(["zstd", "-dcq"], input=chunk, check=True, stdout=subprocess.PIPE).stdout
    return bz2.decompress(chunk)
def compress(raw):
    if zstd:
        return subprocess.run(["zstd", "-cq", "-3"], input=raw, check=True, stdout=subprocess.PIPE).stdout
    return bz2.compress(raw, 9)
m = json.load(open(src + ".json"))
data = open(src, "rb").read()
out = bytearray()
found = False
for s in m["sections"]:
    chunk = data[s["offset"]:s["offset"] + s["length"]]
    if s.get("database") == db or (db == "(globals)" and s.get("kind") == "globals"):
        found = True
        text = decompress(chunk).decode()
        marker = "\n\\.\n"
        if where == "start":
            text = sql + "\n" + text
        elif where == "same-line":
            at = text.index("\nSET ") + 1
            end = text.index("\n", at)
            text = text[:end] + " " + sql + text[end:]
        elif marker in text:
            text = text.replace(marker, marker + "\n" + sql + "\n", 1)
        else:
            text = text + "\n" + sql + "\n"
        raw = text.encode()
        chunk = compress(raw)
        s["uncompressed_length"] = len(raw)
    s["offset"] = len(out)
    s["length"] = len(chunk)
    s["sha256"] = hashlib.sha256(chunk).hexdigest()
    out += chunk
if not found:
    sys.exit("inject_sql: no section of database %r in %s" % (db, src))
digest = hashlib.sha256(out).hexdigest()
m["sha256"] = digest
m["compressed_size"] = len(out)
m["uncompressed_size"] = sum(s["uncompressed_length"] for s in m["sections"])
dst = os.path.join(outdir, name)
open(dst, "wb").write(out)
open(dst + ".sha256", "w").write("%s  %s\n" % (digest, name))
json.dump(m, open(dst + ".json", "w"), indent=2)
print(dst)
PY
}
