#!/usr/bin/env bash
# pgtier benchmark (issue 2): `make bench`, or  bench/bench.sh PGTIER_BINARY
#
# Starts a throwaway cluster (tests/integration/lib.sh), generates data that compresses like real
# tables (numbers, timestamps, uuids, JSON, random text of varied length) in 20 databases of
# unequal sizes (big, app01..app18, small), and measures in one run, on the same warm cache:
#   pgtier   pgtier --dir D backup full   (default jobs and --jobs 1; bzip2 and zstd)
#   bzip2    pg_dumpall | bzip2 -9 > f && sha256sum f > f.sha256   (what the shell scripts do)
#   lbzip2   pg_dumpall | lbzip2 -9 > f
#   zstd     pg_dumpall | zstd -3 -T0 > f && sha256sum f > f.sha256
# then restore database (vs bzcat/zstdcat | extract | psql), verify (1 thread vs all), restore full
# into a second cluster (--jobs 1, default, vs bzcat/zstdcat | psql), an offsite backup, and the
# same with every database's rows doubled. It prints wall times, ratios, archive sizes and
# pgtier's peak RSS (GNU time's "Maximum resident set size"; this is the largest of
# pgtier and the children it waited for, i.e. pg_dump, so it is an upper bound for pgtier itself),
# checks the pgtier archives (`bzip2 -t`/`zstd -t`, `sha256sum -c` inside the tier folder) and ends with a
# summary of the issue's targets. A copy of the report goes to .bench/ in the repository.
# Each measurement also shows its CPU time (user+sys of the command and its children) and "others":
# the share of the host's CPU that unrelated processes used meanwhile (a disturbed measurement
# shows up there; the summary warns). A default run took about 20 minutes on a 2-core
# host shared with a CI run.
#
# Environment:
#   BENCH_SCALE=1     data size factor; 1 gives >= 200 MB of pg_dumpall text, 0.1 is a quick run
#   BENCH_REPEAT=1    run each measurement N times (round-robin) and keep the best (lowest) time
#   BENCH_STRICT=0    1: exit 3 when a target is missed (the default only reports it)
#   BENCH_IDLE_WAIT=300  before each measurement, wait for the other processes on the host to go
#                     quiet (< 20% CPU busy over 1 s), at most this many seconds in all; the
#                     summary says how busy the host was when a measurement started anyway
#   BENCH_REFERENCE=  another pgtier binary for the phase `reference` (BENCH_ONLY="setup
#                     reference"): the zstd full of both builds, taken in turn
#   BENCH_HUGE_GIB=4  size of the database of the phase `hugedb` (BENCH_ONLY=hugedb, not in a
#   BENCH_HUGE_LIMIT_MIB=128  default run), and the memory cgroup its restore runs in
#
# Exit status: 0 when every measurement ran and every pgtier archive checked out (targets are
# reported, not enforced, unless BENCH_STRICT=1); 1 on any failure.
#
# Layout: the run is a list of phases (BENCH_PHASES, each a function phase_NAME) that record their
# figures with `result` and their targets with `target`; the summary prints both. A new benchmark
# (e.g. restore, issue 3) is one more phase_* function appended to BENCH_PHASES.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
[ -x "$1" ] || { echo "bench: $1 is not an executable pgtier binary" >&2; exit 1; }
PGTIER_BIN=$(realpath "$1")
export PGTIER_BIN
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_REPEAT=${BENCH_REPEAT:-1}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_IDLE_WAIT=${BENCH_IDLE_WAIT:-300}
awk -v s="$BENCH_SCALE" 'BEGIN { exit !(s ~ /^[0-9]*\.?[0-9]+$/ && s > 0) }' \
    || { echo "bench: BENCH_SCALE must be a positive number, got '$BENCH_SCALE'" >&2; exit 2; }
[[ $BENCH_REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_REPEAT must be a positive integer" >&2; exit 2; }
[[ $BENCH_IDLE_WAIT =~ ^[0-9]+$ ]] || { echo "bench: BENCH_IDLE_WAIT must be a number of seconds" >&2; exit 2; }

for tool in bzip2 lbzip2 zstd sha256sum awk jq age age-keygen; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is missing (run scripts/install-deps)" >&2; exit 1; }
done
gnu_time_out=$(/usr/bin/time -v true 2>&1 || true)
[[ $gnu_time_out == *"Maximum resident set size"* ]] \
    || { echo "bench: GNU time (/usr/bin/time -v) is missing (run scripts/install-deps)" >&2; exit 1; }

. "$REPO/tests/integration/lib.sh"

command -v pg_dumpall >/dev/null || fail "pg_dumpall not found"

# pgtier must see only the cluster under test and default settings.
unset PGTIER_CONFIG PGTIER_STORAGE_DIR PGTIER_POSTGRES_HOST PGTIER_POSTGRES_PORT PGTIER_POSTGRES_USER \
    PGTIER_POSTGRES_PASSWORD_FILE PGTIER_COMPRESSION_LEVEL PGTIER_COMPRESSION_THREADS \
    POSTGRES_PASSWORD_FILE PGPASSFILE 2>/dev/null || true
: >"$WORK/pgtier.toml"
export PGTIER_CONFIG="$WORK/pgtier.toml"
export LC_ALL=C.UTF-8

mkdir -p "$REPO/.bench"
RESULTS="$REPO/.bench/bench-$(date -u +%Y%m%d_%H%M%S).txt"
: >"$RESULTS"
say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }

# ---- small helpers -----------------------------------------------------------------------------
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
# better NEW BEST: true when NEW is lower than BEST (or BEST is empty).
better() { awk -v a="$2" -v b="$1" 'BEGIN { exit !(a == "" || b + 0 < a + 0) }'; }
kmax() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }
fsize() { stat -c %s "$1"; }

declare -a SUMMARY_RESULTS=() SUMMARY_TARGETS=()
TARGETS_MISSED=0
result() { SUMMARY_RESULTS+=("$(printf '  %-44s %s' "$1" "$2")"); }
# target NAME MET(1/0) DETAIL
target() {
    local mark=MET
    [ "$2" = 1 ] || { mark=MISSED; TARGETS_MISSED=$((TARGETS_MISSED + 1)); }
    SUMMARY_TARGETS+=("$(printf '  %-6s %-40s %s' "$mark" "$1" "$3")")
}

# CPU busy percentage of the whole host over one second (from /proc/stat).
cpu_sample() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat; }
busy_pct() {
    local a b
    a=$(cpu_sample)
    sleep 1
    b=$(cpu_sample)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); dt = y[1] - x[1]; di = y[2] - x[2];
        printf "%d", (dt > 0) ? 100 * (dt - di) / dt + 0.5 : 0 }'
}
# Wait until the host is quiet, within the run's BENCH_IDLE_WAIT budget; remembers the busiest
# start of a measurement in BUSY_MAX.
BUSY_MAX=0
IDLE_WAITED=0
wait_idle() {
    local busy announced=0
    busy=$(busy_pct)
    while [ "$busy" -ge 20 ] && [ "$IDLE_WAITED" -lt "$BENCH_IDLE_WAIT" ]; do
        if [ "$announced" = 0 ]; then
            say "   (host busy: ${busy}% CPU used by other processes; waiting, $((BENCH_IDLE_WAIT - IDLE_WAITED)) s of BENCH_IDLE_WAIT left)"
            announced=1
        fi
        sleep 4
        IDLE_WAITED=$((IDLE_WAITED + 5))
        busy=$(busy_pct)
    done
    [ "$busy" -le "$BUSY_MAX" ] || BUSY_MAX=$busy
}

# ---- data --------------------------------------------------------------------------------------
# A cluster of 20 databases of unequal sizes (issue 15): `big` holds a quarter of the rows, `small`
# 2% of big's, and app01..app18 the rest in decreasing shares. TOTAL_ROWS at BENCH_SCALE=1 gives
# about 24 MB of dump text per 100000 rows (60% orders, 40% events, plus 10% as many customers),
# i.e. >= 200 MB of pg_dumpall text in all.
TOTAL_ROWS=$(awk -v s="$BENCH_SCALE" 'BEGIN { r = int(900000 * s); print (r < 20000 ? 20000 : r) }')
BENCH_DBS=(big app01 app02 app03 app04 app05 app06 app07 app08 app09 app10 app11 app12 app13 app14
    app15 app16 app17 app18 small)
BENCH_WEIGHTS=(250 130 100 80 65 55 45 40 35 30 25 20 20 15 15 10 10 5 5 5)
declare -A DB_ROWS=()
for i in "${!BENCH_DBS[@]}"; do
    DB_ROWS[${BENCH_DBS[$i]}]=$(awk -v t="$TOTAL_ROWS" -v w="${BENCH_WEIGHTS[$i]}" \
        'BEGIN { r = int(t * w / 960); print (r < 200 ? 200 : r) }')
done

create_schema() {
    psql_q -d postgres -c "CREATE DATABASE $1" >/dev/null
    psql_q -d "$1" >/dev/null <<'SQL'
CREATE TABLE customers (
    id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text, country char(2),
    created_at timestamptz NOT NULL, balance numeric(12,2), active boolean, notes text);
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id integer NOT NULL, created_at timestamptz NOT NULL,
    status text NOT NULL, amount numeric(10,2) NOT NULL, currency char(3) NOT NULL,
    items smallint NOT NULL, ref uuid NOT NULL, note text);
CREATE TABLE events (
    id bigint PRIMARY KEY, ts timestamptz NOT NULL, level text NOT NULL, host text NOT NULL,
    duration_ms double precision, message text NOT NULL, payload jsonb);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX events_ts ON events (ts);
CREATE SEQUENCE invoice_no START 1000;
COMMENT ON TABLE events IS 'generated by bench/bench.sh';
SQL
}

# gen_rows DB FIRST LAST — rows FIRST..LAST (orders get 60%, events 40%, customers 10% of the range).
# Server-side: generate_series + random() + md5, words drawn from a vocabulary, varied lengths.
gen_rows() {
    local db=$1 first=$2 last=$3
    psql_q -d "$db" -v first="$first" -v last="$last" >/dev/null <<'SQL'
CREATE FUNCTION pg_temp.words(lo int, hi int) RETURNS text LANGUAGE sql VOLATILE AS $f$
  SELECT string_agg(v.w[1 + floor(random() * array_length(v.w, 1))::int], ' ')
  FROM generate_series(1, lo + floor(random() * (hi - lo + 1))::int),
       (SELECT string_to_array('the of and to in is was for on that with as by at from his her an which be this are have had not but were they one all their has been who it its more would other when there also into after first new two time only some most over such can than about under made may years then these between through state during world city school national used since many both where later including although several university part known people until war three well main year high united early however against second same family government being series called name season film team album game music group house river area order number public small large local water line service system report market price value customer account invoice payment shipment warehouse product category discount review rating status pending shipped delivered cancelled refunded error warning timeout connection request response user session login logout update delete insert select query index table column schema backup restore archive', ' ')) AS v(w)
$f$;
SELECT (:last - :first + 1) AS n, :first AS f \gset
INSERT INTO customers
SELECT g, initcap(pg_temp.words(2, 3)),
       'user' || g || '@' || (ARRAY['example.com','mail.test','corp.example','shop.test'])[1 + g % 4],
       initcap(pg_temp.words(1, 2)), (ARRAY['DE','FR','US','GB','NL','SE','PL','IT'])[1 + (g * 7) % 8],
       timestamptz '2015-01-01 00:00:00+00' + random() * interval '3000 days',
       round((random() * 10000)::numeric, 2), random() < 0.9,
       CASE WHEN random() < 0.3 THEN pg_temp.words(3, 25) END
FROM generate_series(:f / 10 + 1, (:f + :n) / 10) g;
INSERT INTO orders
SELECT g, 1 + floor(random() * greatest((:f + :n) / 10, 1))::int,
       timestamptz '2020-01-01 00:00:00+00' + random() * interval '1500 days',
       (ARRAY['pending','paid','shipped','delivered','cancelled','refunded'])[1 + floor(random() * 6)::int],
       round((random() * 500)::numeric + 1, 2), (ARRAY['EUR','USD','GBP'])[1 + floor(random() * 3)::int],
       1 + floor(random() * 9)::int, md5(random()::text || g)::uuid,
       CASE WHEN random() < 0.6 THEN pg_temp.words(2, 30) END
FROM generate_series(:f * 6 / 10 + 1, (:f + :n) * 6 / 10) g;
INSERT INTO events
SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '731 ms' + random() * interval '500 ms',
       (ARRAY['INFO','INFO','INFO','DEBUG','WARN','ERROR'])[1 + floor(random() * 6)::int],
       'app-' || lpad((1 + floor(random() * 40))::int::text, 2, '0') || '.internal',
       round((random() * random() * 5000)::numeric, 3)::double precision,
       pg_temp.words(4, 40) || ' id=' || md5(g::text || random()::text),
       jsonb_build_object('user_id', floor(random() * 100000)::int,
                          'path', '/' || replace(pg_temp.words(1, 3), ' ', '/'),
                          'status', (ARRAY[200,200,200,201,204,301,404,500])[1 + floor(random() * 8)::int],
                          'bytes', floor(random() * 1e6)::int, 'trace', substr(md5(random()::text), 1, 16))
FROM generate_series(:f * 4 / 10 + 1, (:f + :n) * 4 / 10) g;
SELECT setval('invoice_no', 1000 + :f + :n);
SQL
}

settle_data() {
    local db
    for db in "$@"; do psql_q -d "$db" -c "VACUUM (FREEZE, ANALYZE)" >/dev/null; done
    psql_q -d postgres -c "CHECKPOINT" >/dev/null
    sync
}

# Dump text size and a warm-up of the cache: sets DUMP_BYTES and DUMP_SECS (pg_dumpall alone).
# DUMP_RSS_KB is the peak RSS of pg_dumpall and its pg_dump children (for reference: GNU time's
# figure for pgtier includes its pg_dump child).
measure_dump() {
    local t0 t1
    t0=$(now_ns)
    DUMP_BYTES=$(/usr/bin/time -f %M -o "$WORK/dump.rss" pg_dumpall | wc -c)
    t1=$(now_ns)
    DUMP_SECS=$(secs "$t0" "$t1")
    DUMP_RSS_KB=$(tail -n 1 "$WORK/dump.rss")
}

# ---- measurements ------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
# What pgtier picks for --jobs when not told (include/pgtier/core/jobs.hpp).
default_jobs() { awk -v n="$NCPU" 'BEGIN { j = int(n / 4); if (j < 2) j = 2; if (j > 8) j = 8; print j }'; }
# Busy CPU ticks of the whole host (user, nice, system, irq, softirq, steal).
host_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# CPU ticks of the benchmark cluster's server: the postmaster, its live children and the children
# it has reaped (the backends that served a dump).
server_ticks() {
    local pm
    pm=$(head -n 1 "$WORK/bench/data/postmaster.pid")
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
        { pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
          if (pid == pm) t += f[12] + f[13] + f[14] + f[15]; else if (f[2] == pm) t += f[12] + f[13] }
        END { print t + 0 }'
}

# measure TAG CMD... — run CMD under GNU time (stdout/stderr to $WORK/TAG.out/.err) after waiting
# for a quiet host; sets M_RC, M_SECS (wall), M_CPU (user+sys of CMD and its children), M_RSS_KB,
# and M_OTHERS: the percentage of the host's CPU capacity that processes other than CMD and the
# cluster's server used meanwhile (interference; near 0 on a quiet machine).
OTHERS_MAX=0
measure() {
    local tag=$1 t0 t1 h0 h1 s0 s1
    shift
    sync
    wait_idle
    h0=$(host_busy_ticks)
    s0=$(server_ticks)
    t0=$(now_ns)
    M_RC=0
    /usr/bin/time -v -o "$WORK/$tag.time" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" || M_RC=$?
    t1=$(now_ns)
    s1=$(server_ticks)
    h1=$(host_busy_ticks)
    M_SECS=$(secs "$t0" "$t1")
    M_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/$tag.time")
    M_CPU=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$WORK/$tag.time")
    M_OTHERS=$(awk -v h="$((h1 - h0))" -v s="$((s1 - s0))" -v hz="$CLK_TCK" -v cpu="$M_CPU" \
        -v wall="$M_SECS" -v n="$NCPU" 'BEGIN { o = (h - s) / hz - cpu; if (o < 0) o = 0
            printf "%d", (wall > 0) ? 100 * o / (wall * n) + 0.5 : 0 }')
    [ "$M_OTHERS" -le "$OTHERS_MAX" ] || OTHERS_MAX=$M_OTHERS
}

# run_pgtier_full DIR [ARG...] — `pgtier --dir DIR backup full ARG...` (the format comes from
# PGTIER_COMPRESSION_FORMAT in the caller's environment); sets PG_SECS, PG_CPU, PG_RSS_KB,
# PG_OTHERS, PG_LINE, PG_ARCHIVE, PG_USIZE; checks the archive (bzip2 -t or zstd -t, sha256sum -c).
run_pgtier_full() {
    local dir=$1 name
    shift
    mkdir -p "$dir"
    measure pgtier "$PGTIER" --dir "$dir" backup full "$@"
    if [ "$M_RC" -ne 0 ]; then
        echo "---- pgtier --dir $dir backup full $*: exit $M_RC; stdout:" >&2
        cat "$WORK/pgtier.out" >&2
        echo "---- stderr (last 30 lines):" >&2
        tail -n 30 "$WORK/pgtier.err" >&2
        fail "pgtier backup full failed"
    fi
    PG_SECS=$M_SECS PG_CPU=$M_CPU PG_RSS_KB=$M_RSS_KB PG_OTHERS=$M_OTHERS
    PG_LINE=$(sed '/^$/d' "$WORK/pgtier.out" | tail -n 1)
    PG_ARCHIVE=$(find "$dir/full" -maxdepth 1 -type f -regextype posix-extended \
        -regex '.*/[0-9]{8}_[0-9]{6}(-[0-9]+)?_full\.sql\.(bz2|zst)(\.age)?' 2>/dev/null | sort | tail -n 1)
    [ -n "$PG_ARCHIVE" ] || fail "pgtier exited 0 but wrote no archive under $dir/full (stdout: $PG_LINE)"
    name=$(basename "$PG_ARCHIVE")
    case $name in
    *.zst) zstd -tq "$PG_ARCHIVE" 2>"$WORK/decomp-t.err" || fail "$name: zstd -t failed: $(cat "$WORK/decomp-t.err")" ;;
    *.age) age -d -i "$BENCH_AGE_IDENTITY" "$PG_ARCHIVE" | bzip2 -t 2>"$WORK/decomp-t.err" \
        || fail "$name: age -d | bzip2 -t failed: $(cat "$WORK/decomp-t.err")" ;;
    *) bzip2 -t "$PG_ARCHIVE" 2>"$WORK/decomp-t.err" || fail "$name: bzip2 -t failed: $(cat "$WORK/decomp-t.err")" ;;
    esac
    [ -f "$PG_ARCHIVE.sha256" ] || fail "$name: no .sha256 sidecar"
    (cd "$dir/full" && sha256sum -c --quiet "$name.sha256") >"$WORK/sha.out" 2>&1 \
        || fail "$name: 'sha256sum -c $name.sha256' in $dir/full failed: $(cat "$WORK/sha.out")"
    [ -f "$PG_ARCHIVE.json" ] || fail "$name: no .json manifest"
    PG_USIZE=""
    command -v jq >/dev/null && PG_USIZE=$(jq -r '.uncompressed_size // empty' "$PG_ARCHIVE.json" 2>/dev/null || true)
}

# run_pipeline KIND OUTFILE — KIND bzip2 (with the sha256sum sidecar, as the shell scripts do),
# lbzip2, or zstd (zstd -3 -T0, with the sidecar); sets PIPE_SECS, PIPE_CPU, PIPE_OTHERS.
run_pipeline() {
    local kind=$1 out=$2
    rm -f "$out" "$out.sha256"
    # shellcheck disable=SC2016  # the bash -c scripts expand their own $1 and $2
    case $kind in
    bzip2) measure pipe-bzip2 bash -c 'set -euo pipefail; cd "$1"
            pg_dumpall | bzip2 -9 >"$2" && sha256sum "$2" >"$2.sha256"' _ "$(dirname "$out")" "$(basename "$out")" ;;
    lbzip2) measure pipe-lbzip2 bash -c 'set -euo pipefail; pg_dumpall | lbzip2 -9 >"$1"' _ "$out" ;;
    zstd) measure pipe-zstd bash -c 'set -euo pipefail; cd "$1"
            pg_dumpall | zstd -q -3 -T0 >"$2" && sha256sum "$2" >"$2.sha256"' _ "$(dirname "$out")" "$(basename "$out")" ;;
    esac
    if [ "$M_RC" -ne 0 ]; then
        tail -n 20 "$WORK/pipe-$kind.err" >&2
        fail "the $kind pipeline failed (exit $M_RC)"
    fi
    PIPE_SECS=$M_SECS PIPE_CPU=$M_CPU PIPE_OTHERS=$M_OTHERS
}

# The shell way to restore one database from a pg_dumpall-style archive: decompress all of it and
# keep the lines of that database's dump (from its header to its "dump complete" trailer),
# renamed to $3. Stands for what the existing scripts do with `restore-database`.
# shellcheck disable=SC2016  # an awk program: $0 is awk's record
SHELL_EXTRACT_AWK='
    /^-- PostgreSQL database dump$/ { head = "--\n" $0 "\n"; collecting = 1; next }
    on { print; if ($0 ~ /^-- PostgreSQL database dump complete$/) { on = 0; collecting = 0 }; next }
    collecting && index($0, "CREATE DATABASE " db " ") == 1 { printf "%s", head; print; on = 1; next }
    collecting && /^CREATE DATABASE / { collecting = 0; next }
    collecting { head = head $0 "\n" }'

# restore_small ARCHIVE DIR — `pgtier restore database ARCHIVE small --as small_copy` against the
# shell way (bzcat ARCHIVE | extract | psql), best of BENCH_REPEAT; checks that both copies hold
# the rows of small. Sets RS_PG, RS_SHELL, RS_PG_RSS_KB.
restore_small() {
    local archive=$1 dir=$2 i best_pg="" best_sh="" rss="" rows want shell_cat=bzcat
    [[ $archive != *.zst ]] || shell_cat=zstdcat
    want=$(psql_q -d small -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM events)")
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        psql_q -d postgres -c "DROP DATABASE IF EXISTS small_copy" -c "DROP DATABASE IF EXISTS small_shell" >/dev/null
        # shellcheck disable=SC2016  # the bash -c script expands its own $1 and $2
        measure restore-shell bash -c 'set -euo pipefail
            case $1 in *.zst) zstdcat "$1" ;; *) bzcat "$1" ;; esac | awk -v db=small "$2" | sed -e "s/^CREATE DATABASE small /CREATE DATABASE small_shell /" \
                -e "s/^ALTER DATABASE small /ALTER DATABASE small_shell /" -e "s/^\\\\connect small\$/\\\\connect small_shell/" \
                | psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null' _ "$archive" "$SHELL_EXTRACT_AWK"
        [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/restore-shell.err" >&2; fail "the shell restore of small failed (exit $M_RC)"; }
        say "   run $i  $(printf '%-30s' "$shell_cat | extract | psql"): $M_SECS s, CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$best_sh"; then best_sh=$M_SECS; fi

        measure restore-pgtier "$PGTIER" --dir "$dir" restore database "$archive" small --as small_copy
        [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/restore-pgtier.err" >&2; fail "pgtier restore database small --as small_copy failed (exit $M_RC)"; }
        say "   run $i  pgtier restore database small : $M_SECS s, peak RSS $(mib "$M_RSS_KB"), CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$best_pg"; then best_pg=$M_SECS; fi
        rss=$(kmax "$rss" "$M_RSS_KB")
    done
    for db in small_copy small_shell; do
        rows=$(psql_q -d "$db" -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM events)")
        [ "$rows" = "$want" ] || fail "$db holds $rows rows of orders+events, small holds $want"
    done
    RS_PG=$best_pg RS_SHELL=$best_sh RS_PG_RSS_KB=$rss
    # The copies would be in the next archives of the cluster.
    psql_q -d postgres -c "DROP DATABASE small_copy" -c "DROP DATABASE small_shell" >/dev/null
}

# ---- phases ------------------------------------------------------------------------------------
# gen_cluster ROUND — adds each database's share of rows (ROUND 0: rows 0..N-1, ROUND 1: N..2N-1),
# two databases at a time, largest first.
gen_cluster() {
    local round=$1 db n pids=() rc=0
    for db in "${BENCH_DBS[@]}"; do
        n=${DB_ROWS[$db]}
        gen_rows "$db" $((round * n)) $(((round + 1) * n - 1)) &
        pids+=($!)
        if [ "${#pids[@]}" -ge 2 ]; then
            wait "${pids[0]}" || rc=1
            pids=("${pids[@]:1}")
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    [ "$rc" = 0 ] || fail "generating data failed"
    settle_data "${BENCH_DBS[@]}"
}

phase_setup() {
    local t0 t1 db
    say "== setup: a cluster of ${#BENCH_DBS[@]} databases (BENCH_SCALE=$BENCH_SCALE: $TOTAL_ROWS rows in all; big ${DB_ROWS[big]}, app01 ${DB_ROWS[app01]}, app18 ${DB_ROWS[app18]}, small ${DB_ROWS[small]})"
    pg_start bench
    psql_q -d postgres -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
    t0=$(now_ns)
    for db in "${BENCH_DBS[@]}"; do create_schema "$db"; done
    gen_cluster 0
    t1=$(now_ns)
    measure_dump
    local big_b small_b
    big_b=$(pg_dump -d big | wc -c)
    small_b=$(pg_dump -d small | wc -c)
    say "   generated in $(secs "$t0" "$t1") s; pg_dumpall text: $(mb "$DUMP_BYTES") (big $(mb "$big_b"), small $(mb "$small_b")); pg_dumpall alone: $DUMP_SECS s"
    [ "$small_b" -le $((big_b / 20)) ] || fail "small ($small_b bytes) is more than 5% of big ($big_b bytes)"
    result "dump text (pg_dumpall | wc -c), 1x" "$(mb "$DUMP_BYTES")  in ${#BENCH_DBS[@]} databases (pg_dumpall alone ${DUMP_SECS} s, peak RSS $(mib "$DUMP_RSS_KB"))"
    if [ "$DUMP_BYTES" -lt 200000000 ]; then
        say "   note: less than 200 MB of dump text (BENCH_SCALE=$BENCH_SCALE): a quick run, not the issue's benchmark"
    fi
    DUMP_BYTES_1X=$DUMP_BYTES
}

phase_backup() {
    local i best_pg="" best_bz="" best_lbz="" cpu_pg="" cpu_bz="" cpu_lbz="" rss_pg="" pg_size bz_size lbz_size
    say "== backup full vs shell pipelines (best of $BENCH_REPEAT)"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        run_pipeline bzip2 "$WORK/pipe/dumpall.sql.bz2"
        say "   run $i  bzip2 -9 pipeline + sha256sum : $PIPE_SECS s, CPU $PIPE_CPU s, others ${PIPE_OTHERS}%"
        if better "$PIPE_SECS" "$best_bz"; then best_bz=$PIPE_SECS cpu_bz=$PIPE_CPU; fi
        bz_size=$(fsize "$WORK/pipe/dumpall.sql.bz2")

        run_pipeline lbzip2 "$WORK/pipe/dumpall-lbzip2.sql.bz2"
        say "   run $i  lbzip2 -9 pipeline            : $PIPE_SECS s, CPU $PIPE_CPU s, others ${PIPE_OTHERS}%"
        if better "$PIPE_SECS" "$best_lbz"; then best_lbz=$PIPE_SECS cpu_lbz=$PIPE_CPU; fi
        lbz_size=$(fsize "$WORK/pipe/dumpall-lbzip2.sql.bz2")

        rm -rf "$WORK/tiers-1x"
        run_pgtier_full "$WORK/tiers-1x"
        say "   run $i  pgtier backup full            : $PG_SECS s, peak RSS $(mib "$PG_RSS_KB"), CPU $PG_CPU s, others ${PG_OTHERS}%"
        say "           $PG_LINE"
        if better "$PG_SECS" "$best_pg"; then best_pg=$PG_SECS cpu_pg=$PG_CPU; fi
        rss_pg=$(kmax "$rss_pg" "$PG_RSS_KB")
        pg_size=$(fsize "$PG_ARCHIVE")
    done
    say "   pgtier archive $(basename "$PG_ARCHIVE"): bzip2 -t ok, sha256sum -c ok"
    [ -z "$PG_USIZE" ] || say "   pgtier uncompressed (manifest): $(mb "$PG_USIZE") vs pg_dumpall $(mb "$DUMP_BYTES_1X")"
    PG_SECS_1X=$best_pg
    PG_RSS_1X=$rss_pg
    BZ_PIPE_1X=$best_bz
    BZ_ARCHIVE_1X=$PG_ARCHIVE

    local speedup vs_lbz
    speedup=$(ratio "$best_bz" "$best_pg")
    vs_lbz=$(ratio "$best_pg" "$best_lbz")
    result "pgtier backup full" "$best_pg s  (CPU $cpu_pg s incl. pg_dump)"
    result "pg_dumpall | bzip2 -9 && sha256sum" "$best_bz s  (CPU $cpu_bz s)"
    result "pg_dumpall | lbzip2 -9" "$best_lbz s  (CPU $cpu_lbz s)"
    result "ratio bzip2_time / pgtier_time" "$speedup x"
    result "ratio pgtier_time / lbzip2_time" "$vs_lbz"
    result "pgtier peak RSS, 1x" "$(mib "$rss_pg") ($rss_pg kB)"
    result "archive size pgtier" "$(mb "$pg_size") ($pg_size bytes)"
    result "archive size bzip2 -9" "$(mb "$bz_size") ($bz_size bytes)"
    result "archive size lbzip2 -9" "$(mb "$lbz_size") ($lbz_size bytes)"
    target ">= 1.8x faster than the bzip2 pipeline" \
        "$(awk -v r="$speedup" 'BEGIN { print (r >= 1.8) ? 1 : 0 }')" "$speedup x"
    target "within 10% of lbzip2" \
        "$(awk -v r="$vs_lbz" 'BEGIN { print (r <= 1.10) ? 1 : 0 }')" "pgtier/lbzip2 = $vs_lbz"
    target "peak RSS < 64 MiB (1x)" \
        "$(awk -v k="$rss_pg" 'BEGIN { print (k < 65536) ? 1 : 0 }')" "$(mib "$rss_pg")"
    rm -f "$WORK/pipe/"*.bz2 "$WORK/pipe/"*.sha256
}

phase_scale2() {
    local i t0 t1 best_pg="" cpu_pg="" rss_pg=""
    say "== 2x data: doubling the rows of every database"
    t0=$(now_ns)
    gen_cluster 1
    t1=$(now_ns)
    measure_dump
    say "   generated in $(secs "$t0" "$t1") s; pg_dumpall text: $(mb "$DUMP_BYTES"); pg_dumpall alone: $DUMP_SECS s"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        rm -rf "$WORK/tiers-2x"
        run_pgtier_full "$WORK/tiers-2x"
        say "   run $i  pgtier backup full            : $PG_SECS s, peak RSS $(mib "$PG_RSS_KB"), CPU $PG_CPU s, others ${PG_OTHERS}%"
        say "           $PG_LINE"
        if better "$PG_SECS" "$best_pg"; then best_pg=$PG_SECS cpu_pg=$PG_CPU; fi
        rss_pg=$(kmax "$rss_pg" "$PG_RSS_KB")
    done
    say "   pgtier archive $(basename "$PG_ARCHIVE"): bzip2 -t ok, sha256sum -c ok, $(mb "$(fsize "$PG_ARCHIVE")")"
    result "dump text, 2x" "$(mb "$DUMP_BYTES")  (pg_dumpall alone ${DUMP_SECS} s, peak RSS $(mib "$DUMP_RSS_KB"))"
    result "pgtier backup full, 2x" "$best_pg s  (CPU $cpu_pg s; $(ratio "$best_pg" "$PG_SECS_1X")x the 1x time)"
    result "pgtier peak RSS, 2x" "$(mib "$rss_pg") ($rss_pg kB)"
    PG_RSS_2X=$rss_pg
    target "peak RSS < 64 MiB (2x)" \
        "$(awk -v k="$rss_pg" 'BEGIN { print (k < 65536) ? 1 : 0 }')" "$(mib "$rss_pg")"
    # "Same RSS": the 2x figure exceeds the 1x one by at most 10% or 4 MiB, whichever is larger.
    target "same RSS at 2x data (+<=10% or 4 MiB)" \
        "$(awk -v a="$PG_RSS_1X" -v b="$rss_pg" 'BEGIN { d = b - a; lim = a * 0.10; if (lim < 4096) lim = 4096; print (d <= lim) ? 1 : 0 }')" \
        "1x $(mib "$PG_RSS_1X") -> 2x $(mib "$rss_pg")"
}

phase_restore() {
    local archive=$PG_ARCHIVE small_sql
    small_sql=$(jq -r '.sections[] | select(.database == "small") | .uncompressed_length' "$archive.json")
    say "== restore one small database ($(mb "$small_sql") of SQL) from the 1x archive ($(mb "$(fsize "$archive")"), best of $BENCH_REPEAT)"
    restore_small "$archive" "$WORK/tiers-1x"
    RS_PG_1X=$RS_PG
    RS_SHELL_1X=$RS_SHELL
    RS_BZ_RSS_1X=$RS_PG_RSS_KB
    local speedup
    speedup=$(ratio "$RS_SHELL" "$RS_PG")
    result "restore small: pgtier restore database" "$RS_PG s  (peak RSS $(mib "$RS_PG_RSS_KB"))"
    result "restore small: bzcat | extract | psql" "$RS_SHELL s"
    result "ratio shell_time / pgtier_time (restore)" "$speedup x"
    target ">= 10x faster single-database restore" \
        "$(awk -v r="$speedup" 'BEGIN { print (r >= 10) ? 1 : 0 }')" "$speedup x"
}

# After scale2: the same small database from an archive twice as large.
phase_restore2() {
    say "== restore the same small database from the 2x archive ($(mb "$(fsize "$PG_ARCHIVE")"))"
    restore_small "$PG_ARCHIVE" "$WORK/tiers-2x"
    local growth
    growth=$(ratio "$RS_PG" "$RS_PG_1X")
    result "restore small from the 2x archive" "$RS_PG s  ($growth x the 1x time; shell $RS_SHELL s)"
    # "Grows with the database, not the archive": twice the archive, at most 20% (or 0.3 s) more.
    target "restore time independent of archive size" \
        "$(awk -v a="$RS_PG_1X" -v b="$RS_PG" 'BEGIN { print (b <= a * 1.2 || b - a <= 0.3) ? 1 : 0 }')" \
        "1x archive $RS_PG_1X s -> 2x archive $RS_PG s"
}

# ---- offsite (issue 13): a full backup until it is durable in the bucket ---------------------
# One-shot `pgtier backup full` with [offsite] publishes locally, then uploads archive, sidecar
# and manifest (multipart above 64 MiB). Compared with the local-only backup of phase_backup
# and with `pgtier backup full && curl -T` of the same three files (single PUTs, as a cron
# script would).
OFFSITE_RUN=0
run_offsite_backup() {
    local dir=$1 prefix
    OFFSITE_RUN=$((OFFSITE_RUN + 1))
    prefix="run$OFFSITE_RUN"
    rm -rf "$dir"
    mkdir -p "$dir"
    PGTIER_OFFSITE_URL="s3://bench/$prefix" measure offsite "$PGTIER" --dir "$dir" backup full
    [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/offsite.err" >&2; fail "pgtier backup full with [offsite] failed (exit $M_RC)"; }
    grep -q "offsite: 1 uploaded" "$WORK/offsite.out" \
        || { cat "$WORK/offsite.out" "$WORK/offsite.err" >&2; fail "the offsite backup did not report its upload"; }
    local archive name
    archive=$(find "$dir/full" -maxdepth 1 -type f -name '*_full.sql.bz2' | sort | tail -n 1)
    name=$(basename "$archive")
    s3_get bench "$prefix/full/$name" "$WORK/offsite-check.bz2"
    cmp -s "$archive" "$WORK/offsite-check.bz2" || fail "the object in the bucket differs from $archive"
    rm -f "$WORK/offsite-check.bz2"
    OFF_ARCHIVE_BYTES=$(fsize "$archive")
}

run_backup_then_curl() {
    local dir=$1
    OFFSITE_RUN=$((OFFSITE_RUN + 1))
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2016  # the bash -c script expands its own arguments
    measure curl-t bash -c 'set -euo pipefail
        "$1" --dir "$2" backup full >/dev/null
        for f in "$2"/full/*_full.sql.bz2 "$2"/full/*_full.sql.bz2.sha256 "$2"/full/*_full.sql.bz2.json; do
            curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user "$4:$5" \
                -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$f" -o /dev/null "$3/$(basename "$f")"
        done' _ "$PGTIER" "$dir" "$S3_ENDPOINT/bench/curl$OFFSITE_RUN/full" "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
    [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/curl-t.err" >&2; fail "pgtier backup full && curl -T failed (exit $M_RC)"; }
}

phase_offsite() {
    local i best="" best_curl="" rss=""
    # shellcheck source=../tests/integration/lib_s3.sh
    . "$REPO/tests/integration/lib_s3.sh"
    s3_start
    s3_mb bench
    export PGTIER_OFFSITE_ENDPOINT=$S3_ENDPOINT PGTIER_OFFSITE_PATH_STYLE=true
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
    say "== offsite: backup full until durable in the bucket (local Ceph RGW; best of $BENCH_REPEAT)"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        run_offsite_backup "$WORK/tiers-offsite"
        say "   run $i  pgtier backup full + upload   : $M_SECS s, peak RSS $(mib "$M_RSS_KB"), CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$best"; then best=$M_SECS; fi
        rss=$(kmax "$rss" "$M_RSS_KB")
        run_backup_then_curl "$WORK/tiers-curl"
        say "   run $i  pgtier backup full && curl -T : $M_SECS s, CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$best_curl"; then best_curl=$M_SECS; fi
    done
    OFF_RSS_1X=$rss
    result "offsite: backup full + upload, 1x" "$best s  ($(ratio "$best" "$PG_SECS_1X")x the local-only $PG_SECS_1X s; archive $(mb "$OFF_ARCHIVE_BYTES"))"
    result "offsite: backup full && curl -T, 1x" "$best_curl s  (pgtier/curl = $(ratio "$best" "$best_curl"))"
    result "offsite: peak RSS, 1x" "$(mib "$rss") ($rss kB)"
    rm -rf "$WORK/tiers-offsite" "$WORK/tiers-curl"
}

# After scale2: the same with twice the data; the peak RSS must not grow with it.
phase_offsite2() {
    local i best="" rss=""
    say "== offsite: backup full until durable in the bucket, 2x data"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        run_offsite_backup "$WORK/tiers-offsite"
        say "   run $i  pgtier backup full + upload   : $M_SECS s, peak RSS $(mib "$M_RSS_KB"), CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$best"; then best=$M_SECS; fi
        rss=$(kmax "$rss" "$M_RSS_KB")
    done
    result "offsite: backup full + upload, 2x" "$best s  (archive $(mb "$OFF_ARCHIVE_BYTES"))"
    result "offsite: peak RSS, 2x" "$(mib "$rss") ($rss kB)"
    target "offsite: same RSS at 2x data (+<=10% or 4 MiB)" \
        "$(awk -v a="$OFF_RSS_1X" -v b="$rss" 'BEGIN { d = b - a; lim = a * 0.10; if (lim < 4096) lim = 4096; print (d <= lim) ? 1 : 0 }')" \
        "1x $(mib "$OFF_RSS_1X") -> 2x $(mib "$rss")"
    rm -rf "$WORK/tiers-offsite"
}

# rss_target NAME ZSTD_KB BZIP2_KB — zstd's peak RSS within 1.5x of bzip2's in the same phase.
rss_target() {
    target "$1: zstd peak RSS <= 1.5x bzip2's" \
        "$(awk -v z="$2" -v b="$3" 'BEGIN { print (z <= 1.5 * b) ? 1 : 0 }')" \
        "zstd $(mib "$2") / bzip2 $(mib "$3") = $(ratio "$2" "$3")"
}

# ---- databases in parallel, zstd, parallel decoding ----------------------------------------------
# Whether this host can judge the many-core goals (full backup >= 10x the shell pipeline, a
# single-database restore >= 20x the shell way); on fewer cores they are reported, not judged.
many_core_target() {
    local name=$1 met=$2 detail=$3
    if [ "$NCPU" -ge 16 ]; then
        target "$name" "$met" "$detail"
    else
        result "goal on >= 16 cores: $name" "$detail (not judged on $NCPU cores)"
    fi
}

# best_pgtier_full TAG DIR [ARG...] — best of BENCH_REPEAT runs of run_pgtier_full; sets B_SECS,
# B_CPU, B_RSS (largest), B_SIZE, and PG_ARCHIVE (the last run's archive).
best_pgtier_full() {
    local tag=$1 dir=$2 i
    shift 2
    B_SECS="" B_CPU="" B_RSS=""
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        rm -rf "$dir"
        run_pgtier_full "$dir" "$@"
        say "   run $i  $(printf '%-30s' "$tag"): $PG_SECS s, peak RSS $(mib "$PG_RSS_KB"), CPU $PG_CPU s, others ${PG_OTHERS}%"
        if better "$PG_SECS" "$B_SECS"; then B_SECS=$PG_SECS B_CPU=$PG_CPU; fi
        B_RSS=$(kmax "$B_RSS" "$PG_RSS_KB")
    done
    B_SIZE=$(fsize "$PG_ARCHIVE")
}

phase_jobs() {
    local i best_zp="" cpu_zp="" zp_size j1 jd z1 zd
    say "== backup full of the ${#BENCH_DBS[@]}-database cluster: --jobs 1 vs default jobs ($(default_jobs)), bzip2 and zstd (best of $BENCH_REPEAT)"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        run_pipeline zstd "$WORK/pipe/dumpall.sql.zst"
        say "   run $i  zstd -3 -T0 pipeline + sha256sum : $PIPE_SECS s, CPU $PIPE_CPU s, others ${PIPE_OTHERS}%"
        if better "$PIPE_SECS" "$best_zp"; then best_zp=$PIPE_SECS cpu_zp=$PIPE_CPU; fi
        zp_size=$(fsize "$WORK/pipe/dumpall.sql.zst")
    done
    rm -f "$WORK/pipe/"*.zst "$WORK/pipe/"*.sha256
    best_pgtier_full "pgtier bzip2 --jobs 1" "$WORK/tiers-j1" --jobs 1
    j1=$B_SECS
    result "pgtier backup full, bzip2, --jobs 1" "$B_SECS s  (CPU $B_CPU s, peak RSS $(mib "$B_RSS")); default jobs $PG_SECS_1X s"
    rm -rf "$WORK/tiers-j1"
    jd=$PG_SECS_1X
    PGTIER_COMPRESSION_FORMAT=zstd best_pgtier_full "pgtier zstd --jobs 1" "$WORK/tiers-zj1" --jobs 1
    z1=$B_SECS
    result "pgtier backup full, zstd, --jobs 1" "$B_SECS s  (CPU $B_CPU s, peak RSS $(mib "$B_RSS"))"
    rm -rf "$WORK/tiers-zj1"
    PGTIER_COMPRESSION_FORMAT=zstd best_pgtier_full "pgtier zstd (default jobs)" "$WORK/tiers-zstd"
    zd=$B_SECS
    ZST_ARCHIVE_1X=$PG_ARCHIVE
    ZST_RSS_1X=$B_RSS
    result "pgtier backup full, zstd, default jobs" "$B_SECS s  (CPU $B_CPU s, peak RSS $(mib "$B_RSS"))"
    rss_target "backup full, 1x" "$B_RSS" "$PG_RSS_1X"
    result "pg_dumpall | zstd -3 -T0 && sha256sum" "$best_zp s  (CPU $cpu_zp s)"
    result "ratio bzip2 pipeline / pgtier (bzip2, jobs 1 | default)" "$(ratio "$BZ_PIPE_1X" "$j1") x | $(ratio "$BZ_PIPE_1X" "$jd") x"
    result "ratio bzip2 pipeline / pgtier (zstd, jobs 1 | default)" "$(ratio "$BZ_PIPE_1X" "$z1") x | $(ratio "$BZ_PIPE_1X" "$zd") x"
    result "ratio zstd pipeline / pgtier zstd (default jobs)" "$(ratio "$best_zp" "$zd") x"
    result "archive size: bzip2 | zstd (pgtier) | zstd pipeline" "$(mb "$(fsize "$BZ_ARCHIVE_1X")") | $(mb "$B_SIZE") | $(mb "$zp_size")"
    many_core_target "full backup >= 10x the bzip2 pipeline" \
        "$(awk -v r="$(ratio "$BZ_PIPE_1X" "$jd")" 'BEGIN { print (r >= 10) ? 1 : 0 }')" "$(ratio "$BZ_PIPE_1X" "$jd") x (bzip2, default jobs)"
}

# restore_big ARCHIVE DIR — `pgtier restore database ARCHIVE big --as big_copy` (the largest
# database: a quarter of the rows), its rows checked, best of BENCH_REPEAT; sets RB_SECS and
# RB_RSS_KB (the largest).
restore_big() {
    local want rows i sql
    want=$(psql_q -d big -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM events)")
    sql=$(mb "$(jq -r '.sections[] | select(.database == "big") | .uncompressed_length' "$1.json")")
    RB_SECS="" RB_RSS_KB=""
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        psql_q -d postgres -c "DROP DATABASE IF EXISTS big_copy" >/dev/null 2>&1
        measure restore-big "$PGTIER" --dir "$2" restore database "$1" big --as big_copy
        [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/restore-big.err" >&2; fail "pgtier restore database big --as big_copy failed (exit $M_RC)"; }
        rows=$(psql_q -d big_copy -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM events)")
        [ "$rows" = "$want" ] || fail "big_copy holds $rows rows of orders+events, big holds $want"
        say "   run $i  pgtier restore database big ($sql of SQL): $M_SECS s, peak RSS $(mib "$M_RSS_KB"), CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$RB_SECS"; then RB_SECS=$M_SECS; fi
        RB_RSS_KB=$(kmax "$RB_RSS_KB" "$M_RSS_KB")
    done
    psql_q -d postgres -c "DROP DATABASE big_copy" >/dev/null
}

# The zstd archive: one database restored from it, as phase_restore does for the bzip2 one.
phase_restore_zstd() {
    say "== restore one small database from the 1x zstd archive ($(mb "$(fsize "$ZST_ARCHIVE_1X")"), best of $BENCH_REPEAT)"
    restore_small "$ZST_ARCHIVE_1X" "$WORK/tiers-zstd"
    result "restore small (zstd): pgtier | zstdcat | extract | psql" "$RS_PG s | $RS_SHELL s  ($(ratio "$RS_SHELL" "$RS_PG") x; peak RSS $(mib "$RS_PG_RSS_KB"))"
    rss_target "restore database small" "$RS_PG_RSS_KB" "$RS_BZ_RSS_1X"
    restore_big "$ZST_ARCHIVE_1X" "$WORK/tiers-zstd"
    ZST_BIG_RSS_1X=$RB_RSS_KB
    result "restore database big (zstd), 1x" "$RB_SECS s  (peak RSS $(mib "$RB_RSS_KB"))"
    many_core_target "single-database restore >= 20x the shell way" \
        "$(awk -v r="$(ratio "$RS_SHELL_1X" "$RS_PG_1X")" 'BEGIN { print (r >= 20) ? 1 : 0 }')" "$(ratio "$RS_SHELL_1X" "$RS_PG_1X") x (bzip2)"
}

# verify_run TAG ARCHIVE DIR [ARG...] — best of BENCH_REPEAT; sets V_SECS.
verify_run() {
    local tag=$1 archive=$2 dir=$3 i
    shift 3
    V_SECS=""
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        measure verify "$PGTIER" --dir "$dir" verify "$archive" "$@"
        [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/verify.out" "$WORK/verify.err" >&2; fail "pgtier verify $archive $* failed (exit $M_RC)"; }
        say "   run $i  $(printf '%-30s' "$tag"): $M_SECS s, CPU $M_CPU s, others ${M_OTHERS}%"
        if better "$M_SECS" "$V_SECS"; then V_SECS=$M_SECS; fi
    done
}

phase_verify() {
    local b1 bn z1 zn sh_b sh_z
    say "== verify: one thread vs all ($NCPU), bzip2 and zstd archives (best of $BENCH_REPEAT)"
    verify_run "verify bzip2 --threads 1" "$BZ_ARCHIVE_1X" "$WORK/tiers-1x" --threads 1
    b1=$V_SECS
    verify_run "verify bzip2 (all threads)" "$BZ_ARCHIVE_1X" "$WORK/tiers-1x"
    bn=$V_SECS
    verify_run "verify zstd --threads 1" "$ZST_ARCHIVE_1X" "$WORK/tiers-zstd" --threads 1
    z1=$V_SECS
    verify_run "verify zstd (all threads)" "$ZST_ARCHIVE_1X" "$WORK/tiers-zstd"
    zn=$V_SECS
    # shellcheck disable=SC2016  # the bash -c scripts expand their own $1
    measure verify-shell bash -c 'bzip2 -t "$1" && sha256sum -c --quiet "$1.sha256" >/dev/null' _ "$BZ_ARCHIVE_1X"
    sh_b=$M_SECS
    # shellcheck disable=SC2016
    measure verify-shell bash -c 'zstd -tq "$1" && sha256sum -c --quiet "$1.sha256" >/dev/null' _ "$ZST_ARCHIVE_1X"
    sh_z=$M_SECS
    result "verify bzip2: 1 thread | all | bzip2 -t + sha256sum" "$b1 s | $bn s | $sh_b s  (1/all = $(ratio "$b1" "$bn") x)"
    result "verify zstd: 1 thread | all | zstd -t + sha256sum" "$z1 s | $zn s | $sh_z s  (1/all = $(ratio "$z1" "$zn") x)"
}

# The restore target: a second throwaway cluster, emptied of every database but the system ones
# before each run.
empty_target() {
    local db
    psql_q -d postgres -c "SELECT quote_ident(datname) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')" \
        | while read -r db; do psql_q -d postgres -c "DROP DATABASE $db" >/dev/null; done
}
# Rows of orders+events in every bench database of the current cluster, one line each.
cluster_rows() {
    local db
    for db in "${BENCH_DBS[@]}"; do
        printf '%s %s\n' "$db" "$(psql_q -d "$db" -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM events)")"
    done
}

# restore_full_run TAG [CMD...] — empties the target, runs CMD against it, checks every database's
# rows against the source; best of BENCH_REPEAT in RF_SECS.
restore_full_run() {
    local tag=$1 i
    shift
    RF_SECS="" RF_RSS=""
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        empty_target
        measure restore-full "$@"
        [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/restore-full.out" "$WORK/restore-full.err" >&2; fail "$tag failed (exit $M_RC)"; }
        [ "$(cluster_rows)" = "$SOURCE_ROWS" ] || fail "$tag: the restored cluster's rows differ from the source's"
        say "   run $i  $(printf '%-34s' "$tag"): $M_SECS s, peak RSS $(mib "$M_RSS_KB"), CPU $M_CPU s (server not counted), others ${M_OTHERS}%"
        if better "$M_SECS" "$RF_SECS"; then RF_SECS=$M_SECS; fi
        RF_RSS=$(kmax "$RF_RSS" "$M_RSS_KB")
    done
}

phase_restore_full() {
    local sh_b j1 jd zd sh_z
    SOURCE_ROWS=$(cluster_rows)
    say "== restore full of the ${#BENCH_DBS[@]}-database cluster into an empty second cluster (best of $BENCH_REPEAT)"
    pg_start target
    # shellcheck disable=SC2016  # the bash -c scripts expand their own $1
    restore_full_run "bzcat | psql" bash -c 'set -o pipefail; bzcat "$1" | psql -X -q -d postgres >/dev/null 2>&1' _ "$BZ_ARCHIVE_1X"
    sh_b=$RF_SECS
    restore_full_run "pgtier restore full --jobs 1" "$PGTIER" --dir "$WORK/tiers-1x" restore full "$BZ_ARCHIVE_1X" --jobs 1
    j1=$RF_SECS
    restore_full_run "pgtier restore full (default jobs)" "$PGTIER" --dir "$WORK/tiers-1x" restore full "$BZ_ARCHIVE_1X"
    jd=$RF_SECS
    local jd_rss=$RF_RSS
    # shellcheck disable=SC2016
    restore_full_run "zstdcat | psql" bash -c 'set -o pipefail; zstdcat "$1" | psql -X -q -d postgres >/dev/null 2>&1' _ "$ZST_ARCHIVE_1X"
    sh_z=$RF_SECS
    restore_full_run "pgtier restore full zstd (default)" "$PGTIER" --dir "$WORK/tiers-zstd" restore full "$ZST_ARCHIVE_1X"
    zd=$RF_SECS
    empty_target
    pg_stop target
    pg_use bench
    result "restore full bzip2: jobs 1 | default | bzcat | psql" "$j1 s | $jd s | $sh_b s  (jobs 1/default = $(ratio "$j1" "$jd") x; shell/default = $(ratio "$sh_b" "$jd") x)"
    result "restore full zstd: default | zstdcat | psql" "$zd s | $sh_z s  (zstd/bzip2 = $(ratio "$zd" "$jd"))"
    result "restore full peak RSS: bzip2 | zstd (default jobs)" "$(mib "$jd_rss") | $(mib "$RF_RSS")"
    rss_target "restore full, 1x" "$RF_RSS" "$jd_rss"
}

# After scale2: the zstd backup at 2x, for its RSS, and the largest database restored from it.
phase_zstd2() {
    say "== 2x data: pgtier zstd backup full (default jobs)"
    PGTIER_COMPRESSION_FORMAT=zstd best_pgtier_full "pgtier zstd (default jobs)" "$WORK/tiers-zstd2"
    result "pgtier backup full, zstd, 2x" "$B_SECS s  (peak RSS $(mib "$B_RSS"); 1x $(mib "$ZST_RSS_1X"))"
    target "zstd: same RSS at 2x data (+<=10% or 4 MiB)" \
        "$(awk -v a="$ZST_RSS_1X" -v b="$B_RSS" 'BEGIN { d = b - a; lim = a * 0.10; if (lim < 4096) lim = 4096; print (d <= lim) ? 1 : 0 }')" \
        "1x $(mib "$ZST_RSS_1X") -> 2x $(mib "$B_RSS")"
    rss_target "backup full, 2x" "$B_RSS" "$PG_RSS_2X"
    restore_big "$PG_ARCHIVE" "$WORK/tiers-zstd2"
    result "restore database big (zstd), 2x" "$RB_SECS s  (peak RSS $(mib "$RB_RSS_KB"); 1x $(mib "$ZST_BIG_RSS_1X"))"
    target "zstd: restore database big, same RSS at 2x data (+<=10% or 4 MiB)" \
        "$(awk -v a="$ZST_BIG_RSS_1X" -v b="$RB_RSS_KB" 'BEGIN { d = b - a; lim = a * 0.10; if (lim < 4096) lim = 4096; print (d <= lim) ? 1 : 0 }')" \
        "1x $(mib "$ZST_BIG_RSS_1X") -> 2x $(mib "$RB_RSS_KB")"
    rm -rf "$WORK/tiers-zstd2"
}

# ---- against another build: BENCH_REFERENCE=BINARY, the zstd full interleaved ----------------
# The zstd full (default jobs) of this build and of BENCH_REFERENCE (e.g. the previous commit's),
# taken in turn BENCH_REPEAT times each: the medians and bests, and their ratio.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
phase_reference() {
    [ -x "${BENCH_REFERENCE:-}" ] || fail "phase reference: set BENCH_REFERENCE to another pgtier binary"
    local i own=() ref=() own_rss="" ref_rss="" this=$PGTIER
    say "== zstd full (default jobs): this build vs $BENCH_REFERENCE, interleaved ($BENCH_REPEAT each)"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        for who in own ref; do
            [ "$who" = own ] && PGTIER=$this || PGTIER=$BENCH_REFERENCE
            rm -rf "$WORK/tiers-ref"
            PGTIER_COMPRESSION_FORMAT=zstd run_pgtier_full "$WORK/tiers-ref"
            say "   run $i  $(printf '%-5s' "$who") zstd full: $PG_SECS s, CPU $PG_CPU s, peak RSS $(mib "$PG_RSS_KB"), others ${PG_OTHERS}%"
            if [ "$who" = own ]; then own+=("$PG_SECS") own_rss=$(kmax "$own_rss" "$PG_RSS_KB"); else ref+=("$PG_SECS") ref_rss=$(kmax "$ref_rss" "$PG_RSS_KB"); fi
        done
    done
    PGTIER=$this
    rm -rf "$WORK/tiers-ref"
    local own_med ref_med
    own_med=$(printf '%s\n' "${own[@]}" | median)
    ref_med=$(printf '%s\n' "${ref[@]}" | median)
    result "zstd full: this build | reference (median of $BENCH_REPEAT)" "$own_med s | $ref_med s  (this/reference = $(ratio "$own_med" "$ref_med"); best $(printf '%s\n' "${own[@]}" | sort -n | head -1) s | $(printf '%s\n' "${ref[@]}" | sort -n | head -1) s; peak RSS $(mib "$own_rss") | $(mib "$ref_rss"))"
}

# ---- one database bigger than pgtier's memory (BENCH_ONLY="hugedb"; not in a default run) ------
# A generated database `huge` (one table of incompressible-ish hex text) at a quarter of
# BENCH_HUGE_GIB and at all of it: a zstd full of each, then `restore database huge --as
# huge_copy` from each. The second restore runs in a memory cgroup of BENCH_HUGE_LIMIT_MIB
# (pgtier and psql together; page cache counts too) when this host lets one be made, so the
# database restored is many times the memory pgtier may use. Peak RSS at both sizes shows
# whether a restore streams (flat) or holds what it restores (grows with it).
BENCH_HUGE_GIB=${BENCH_HUGE_GIB:-4}
BENCH_HUGE_LIMIT_MIB=${BENCH_HUGE_LIMIT_MIB:-128}
HUGE_ROW_BYTES=530 # id, tab, 512 hex characters, newline: one row of COPY text

# cgroup_make LIMIT_MIB: makes a memory cgroup limited to LIMIT_MIB below this shell's own (v1
# memory.limit_in_bytes or v2 memory.max) and sets CG_DIR, CG_RUN (a command prefix that runs its
# arguments inside it) and CG_NOTE; without a writable memory controller CG_RUN is empty and
# CG_NOTE says so. cgroup_done sets CG_USED_MAX_KB (the cgroup's peak use, page cache included,
# where the kernel keeps it) and removes the cgroup.
cgroup_make() {
    local parent limit=$(($1 * 1048576))
    CG_DIR="" CG_RUN=() CG_NOTE="unconfined (no writable memory cgroup on this host)" CG_LIMIT_FILE="" CG_PEAK_FILE=""
    if parent=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup) && [ -n "$parent" ] &&
        [ -w "/sys/fs/cgroup/memory$parent" ]; then
        CG_DIR=/sys/fs/cgroup/memory$parent/pgtier-bench-$$ CG_LIMIT_FILE=memory.limit_in_bytes CG_PEAK_FILE=memory.max_usage_in_bytes
    elif parent=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup) &&
        grep -qw memory "/sys/fs/cgroup${parent%/}/cgroup.subtree_control" 2>/dev/null; then
        CG_DIR=/sys/fs/cgroup${parent%/}/pgtier-bench-$$ CG_LIMIT_FILE=memory.max CG_PEAK_FILE=memory.peak
    fi
    if [ -n "$CG_DIR" ] && mkdir "$CG_DIR" 2>/dev/null; then
        if echo "$limit" >"$CG_DIR/$CG_LIMIT_FILE" 2>/dev/null; then
            # shellcheck disable=SC2016  # the sh -c script expands its own $0 and $@
            CG_RUN=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG_DIR")
            CG_NOTE="in a memory cgroup of $1 MiB"
            return 0
        fi
        rmdir "$CG_DIR"
    fi
    CG_DIR=""
}
cgroup_done() {
    CG_USED_MAX_KB=""
    [ -n "$CG_DIR" ] || return 0
    [ -r "$CG_DIR/$CG_PEAK_FILE" ] && CG_USED_MAX_KB=$(($(cat "$CG_DIR/$CG_PEAK_FILE") / 1024))
    rmdir "$CG_DIR" 2>/dev/null || true
    CG_DIR=""
}

# huge_rows FIRST LAST: adds rows FIRST..LAST to huge.t, two sessions at once.
huge_rows() {
    local mid=$((($1 + $2) / 2)) sql
    sql="INSERT INTO t SELECT i, encode(sha512(int8send(i)), 'hex') || encode(sha512(int8send(-i)), 'hex')
        || encode(sha512(int8send(i + 1000000000000)), 'hex') || encode(sha512(int8send(i + 2000000000000)), 'hex')
        FROM generate_series"
    psql_q -d huge -c "$sql($1, $mid) i" &
    psql_q -d huge -c "$sql($((mid + 1)), $2) i" || { wait; fail "generating rows of huge failed"; }
    wait $! || fail "generating rows of huge failed"
    psql_q -d huge -c "VACUUM ANALYZE t" >/dev/null
}

# huge_round TAG: a zstd full, then `restore database huge --as huge_copy` from it (under the
# cgroup for TAG "full size"); sets HG_SQL, HG_BACKUP_RSS_KB, HG_RESTORE_SECS, HG_RESTORE_RSS_KB.
huge_round() {
    local tag=$1 dir=$WORK/tiers-huge want rows
    rm -rf "$dir"
    PGTIER_COMPRESSION_FORMAT=zstd run_pgtier_full "$dir"
    HG_BACKUP_RSS_KB=$PG_RSS_KB
    HG_SQL=$(jq -r '.sections[] | select(.database == "huge") | .uncompressed_length' "$PG_ARCHIVE.json")
    say "   $tag: huge is $(mb "$HG_SQL") of SQL; zstd full $PG_SECS s, archive $(mb "$(fsize "$PG_ARCHIVE")"), peak RSS $(mib "$PG_RSS_KB")"
    psql_q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS huge_copy" >/dev/null
    CG_RUN=() CG_NOTE=unconfined CG_DIR=""
    [ "$tag" = "full size" ] && cgroup_make "$BENCH_HUGE_LIMIT_MIB"
    measure restore-huge "${CG_RUN[@]}" "$PGTIER" --dir "$dir" restore database "$PG_ARCHIVE" huge --as huge_copy
    cgroup_done
    [ "$M_RC" = 0 ] || { tail -n 20 "$WORK/restore-huge.err" >&2; fail "pgtier restore database huge --as huge_copy ($CG_NOTE) failed (exit $M_RC)"; }
    want=$(psql_q -d huge -c "SELECT count(*) || ' ' || md5(string_agg(payload, '' ORDER BY id)) FROM (SELECT * FROM t ORDER BY id DESC LIMIT 1000) s")
    rows=$(psql_q -d huge_copy -c "SELECT count(*) || ' ' || md5(string_agg(payload, '' ORDER BY id)) FROM (SELECT * FROM t ORDER BY id DESC LIMIT 1000) s")
    [ "$rows" = "$want" ] || fail "huge_copy's newest rows differ from huge's"
    [ "$(psql_q -d huge_copy -c "SELECT count(*) FROM t")" = "$(psql_q -d huge -c "SELECT count(*) FROM t")" ] ||
        fail "huge_copy holds another number of rows than huge"
    HG_RESTORE_SECS=$M_SECS HG_RESTORE_RSS_KB=$M_RSS_KB
    say "   $tag: restore database huge --as huge_copy ($CG_NOTE): $M_SECS s, peak RSS $(mib "$M_RSS_KB")$([ -z "$CG_USED_MAX_KB" ] || echo ", the cgroup's peak use (page cache included) $(mib "$CG_USED_MAX_KB")"), CPU $M_CPU s"
    psql_q -d postgres -c "DROP DATABASE huge_copy" >/dev/null
    rm -rf "$dir"
}

phase_hugedb() {
    local rows quarter t0 q_sql q_backup q_restore
    [[ $BENCH_HUGE_GIB =~ ^[1-9][0-9]*$ ]] || fail "BENCH_HUGE_GIB must be a whole number of GiB"
    rows=$((BENCH_HUGE_GIB * 1073741824 / HUGE_ROW_BYTES))
    quarter=$((rows / 4))
    say "== one database bigger than pgtier's memory: huge at $((BENCH_HUGE_GIB * 256)) MiB and $BENCH_HUGE_GIB GiB of SQL ($rows rows), zstd"
    [ -f "$WORK/bench/data/postmaster.pid" ] || pg_start bench
    psql_q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS huge" -c "CREATE DATABASE huge" >/dev/null
    psql_q -d huge -c "CREATE TABLE t (id bigint PRIMARY KEY, payload text NOT NULL)" >/dev/null
    t0=$(now_ns)
    huge_rows 1 "$quarter"
    say "   generated $quarter rows in $(secs "$t0" "$(now_ns)") s"
    huge_round "a quarter"
    q_sql=$HG_SQL q_backup=$HG_BACKUP_RSS_KB q_restore=$HG_RESTORE_RSS_KB
    t0=$(now_ns)
    huge_rows $((quarter + 1)) "$rows"
    say "   generated $((rows - quarter)) more rows in $(secs "$t0" "$(now_ns)") s"
    huge_round "full size"
    result "huge database, zstd: backup peak RSS" "$(mib "$q_backup") at $(mb "$q_sql") -> $(mib "$HG_BACKUP_RSS_KB") at $(mb "$HG_SQL") of SQL"
    result "huge database, zstd: restore database" "$(mib "$q_restore") at $(mb "$q_sql") -> $(mib "$HG_RESTORE_RSS_KB") at $(mb "$HG_SQL") ($HG_RESTORE_SECS s, $CG_NOTE)"
    # Flat: four times the database, at most 10% (or 4 MiB) more memory.
    target "restore of one database streams: peak RSS flat from 1/4 to 1x" \
        "$(awk -v a="$q_restore" -v b="$HG_RESTORE_RSS_KB" 'BEGIN { print (b <= a * 1.1 || b - a <= 4096) ? 1 : 0 }')" \
        "$(mib "$q_restore") -> $(mib "$HG_RESTORE_RSS_KB")"
    target "restore of a database $(mb "$HG_SQL") of SQL within $BENCH_HUGE_LIMIT_MIB MiB" \
        "$([[ $CG_NOTE == "in a memory cgroup"* ]] && echo 1 || echo 0)" "$CG_NOTE"
    psql_q -d postgres -c "DROP DATABASE huge" >/dev/null
}

# ---- encryption: the same full as an age file, against the plain one in the same phase ---------
phase_encrypted() {
    local i recipient best_plain="" best_enc="" rss_plain="" rss_enc="" plain_size enc_size slowdown
    say "== backup full: an age file (one recipient) vs plain, interleaved (best of $BENCH_REPEAT each)"
    mkdir -p "$WORK/keys"
    rm -f "$WORK/keys/age_identity.txt"
    age-keygen -o "$WORK/keys/age_identity.txt" 2>/dev/null
    BENCH_AGE_IDENTITY=$WORK/keys/age_identity.txt
    recipient=$(age-keygen -y "$BENCH_AGE_IDENTITY")
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        rm -rf "$WORK/tiers-plain"
        run_pgtier_full "$WORK/tiers-plain"
        say "   run $i  pgtier backup full (plain)    : $PG_SECS s, peak RSS $(mib "$PG_RSS_KB"), CPU $PG_CPU s, others ${PG_OTHERS}%"
        if better "$PG_SECS" "$best_plain"; then best_plain=$PG_SECS; fi
        rss_plain=$(kmax "$rss_plain" "$PG_RSS_KB")
        plain_size=$(fsize "$PG_ARCHIVE")
        rm -rf "$WORK/tiers-age"
        PGTIER_ENCRYPTION_RECIPIENTS=$recipient run_pgtier_full "$WORK/tiers-age"
        [[ $PG_ARCHIVE == *.sql.bz2.age ]] || fail "the encrypted run wrote $PG_ARCHIVE"
        say "   run $i  pgtier backup full (age)      : $PG_SECS s, peak RSS $(mib "$PG_RSS_KB"), CPU $PG_CPU s, others ${PG_OTHERS}%"
        if better "$PG_SECS" "$best_enc"; then best_enc=$PG_SECS; fi
        rss_enc=$(kmax "$rss_enc" "$PG_RSS_KB")
        enc_size=$(fsize "$PG_ARCHIVE")
    done
    say "   $(basename "$PG_ARCHIVE"): age -d | bzip2 -t ok, sha256sum -c ok"
    slowdown=$(ratio "$best_enc" "$best_plain")
    result "pgtier backup full, plain (this phase)" "$best_plain s  (peak RSS $(mib "$rss_plain"), $(mb "$plain_size"))"
    result "pgtier backup full, age file" "$best_enc s  (peak RSS $(mib "$rss_enc"), $(mb "$enc_size"))"
    result "ratio age_time / plain_time" "$slowdown"
    target "encrypted full within 5% of the plain full" \
        "$(awk -v r="$slowdown" 'BEGIN { print (r <= 1.05) ? 1 : 0 }')" "age/plain = $slowdown"
    target "encrypted full: same peak RSS (+<=10% or 4 MiB)" \
        "$(awk -v a="$rss_plain" -v b="$rss_enc" 'BEGIN { d = b - a; lim = a * 0.10; if (lim < 4096) lim = 4096; print (d <= lim) ? 1 : 0 }')" \
        "plain $(mib "$rss_plain") -> age $(mib "$rss_enc")"
    rm -rf "$WORK/tiers-plain" "$WORK/tiers-age"
}

BENCH_PHASES=(setup backup restore jobs restore_zstd verify restore_full offsite encrypted scale2 restore2 offsite2 zstd2)
# BENCH_ONLY="setup backup …" runs a subset (setup first; a phase needs those it reads from).
read -ra BENCH_PHASES <<<"${BENCH_ONLY:-${BENCH_PHASES[*]}}"

# ---- main --------------------------------------------------------------------------------------
mkdir -p "$WORK/pipe"
BENCH_T0=$(now_ns)
say "pgtier bench  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $("$PGTIER" --version 2>/dev/null | head -n 1 || echo '?')"
say "host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(pg_dumpall --version), bzip2 $(bzip2 --version 2>&1 </dev/null | sed -n '1s/.*Version \([0-9.]*[0-9]\).*/\1/p'), lbzip2 $(lbzip2 --version 2>&1 | head -n 1 | awk '{ print $NF }')"
for phase in "${BENCH_PHASES[@]}"; do
    "phase_$phase"
done
BENCH_T1=$(now_ns)

say ""
say "==================== pgtier bench summary ===================="
say "BENCH_SCALE=$BENCH_SCALE BENCH_REPEAT=$BENCH_REPEAT, $(nproc) cores; total bench time $(secs "$BENCH_T0" "$BENCH_T1") s"
say "figures:"
for line in "${SUMMARY_RESULTS[@]}"; do say "$line"; done
say "targets (issues 2, 3, 13 and 15):"
for line in "${SUMMARY_TARGETS[@]}"; do say "$line"; done
say "archive checks: every pgtier archive passed bzip2 -t and sha256sum -c (in its tier folder)"
if [ "$BUSY_MAX" -ge 20 ] || [ "$OTHERS_MAX" -ge 10 ]; then
    say "WARNING: other processes on the host used up to ${BUSY_MAX}% of the CPU just before and up to ${OTHERS_MAX}% during a measurement; times are skewed (rerun on a quiet host, or with BENCH_REPEAT=3)"
else
    say "host quiet: other processes used at most ${BUSY_MAX}% of the CPU just before and ${OTHERS_MAX}% during a measurement"
fi
say "=============================================================="
say "(report saved to ${RESULTS#"$REPO"/})"

if [ "$TARGETS_MISSED" -gt 0 ] && [ "$BENCH_STRICT" = 1 ]; then
    echo "bench: $TARGETS_MISSED target(s) missed (BENCH_STRICT=1)" >&2
    exit 3
fi
exit 0
