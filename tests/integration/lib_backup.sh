# shellcheck shell=bash
# Helpers for the backup integration tests (issue 2). Source after lib.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib_backup.sh"
#
#   run_pgtier TAG ARGS...     run $PGTIER ARGS; stdout -> $WORK/TAG.out, stderr -> $WORK/TAG.err,
#                              exit status -> $RC (never aborts the script)
#   show_run TAG               print a run's command, status, stdout and stderr (for failure reports)
#   fail_run TAG MSG           show_run TAG, then fail MSG
#   expect_rc TAG WANT MSG     fail_run unless $RC == WANT ("nonzero" accepts any status but 0)
#   archives DIR TIER          published-looking archive files of a tier, sorted (full paths)
#   count_archives DIR TIER
#   new_archive DIR TIER BEFORE_LIST   the single archive of TIER not in BEFORE_LIST (fails otherwise)
#   tree_state DIR             every name below DIR (except .pgtier/) with type, size, link target, hash
#   check_archive PATH TYPE    sidecar, manifest, bzip2 (.sql.bz2) or zstd (.sql.zst) data, section
#                              offsets/lengths/hashes, each section decoding alone
#   decompress PATH            the text of an archive (or of stdin when PATH is -; bzip2 unless
#                              FORMAT=zstd), by bzip2 -dc or zstd -dc by the name
#   manifest_dbs PATH          database names of the archive's sections, sorted, one per line
#   manifest_has_globals PATH  exit 0 when the archive has a globals section
#   bz_contains PATH STRING    exit 0 when the decompressed archive (either format) contains STRING
#   settle                     wait until backends' statistics are surely flushed
#   pg_quiet                   turn autovacuum off (its ANALYZE writes catalog rows = "changes")
#   pg_crash NAME              immediate shutdown (crash) of a cluster
#   descendants PID            every process below PID (children, grandchildren ...)
#   wait_for_partial DIR TIER PID   wait until a .partial appears in DIR/TIER while PID runs
#   start_pgtier TAG ARGS...   start "$PGTIER ARGS..." in the background (stdout, stderr ->
#                              $WORK/TAG.out, .err); its pid -> $BG_PID
#   await_partial PID TAG DIR TIER [MIN_BYTES]   wait_for_partial, else fail showing TAG's stderr
#   kill9 PID                  kill -9 a pgtier that must still run, and reap it; the processes
#                              below it at the kill -> $KILLED_KIDS
#   kill9_mid_dump PID TAG DIR TIER   await_partial, 0.3 s more, kill9: the crash tests' block
#   check_orphans_gone PIDS... fail unless these processes are all gone within 10 s
#   take KEY TYPE [ARGS...]    `backup TYPE ARGS` into $B that must publish; its path -> ARCH[KEY]
#   set_age KEY DAYS           date archive KEY's manifest DAYS before $NOW (negative: later);
#                              -> AGE[KEY]; iso_days_ago DAYS is that time; name KEY its file name
#                              (the retention tests; B and NOW are theirs)
#   db_list                    connectable databases of the current cluster, sorted
#   psql_db DB ARGS...         psql_q against database DB (any name)
#   encryption_keys DIR        an age identity (age-keygen) and an Ed25519 signing key (openssl),
#                              made by the reference tools, not pgtier: AGE_IDENTITY, AGE_RECIPIENT,
#                              SIGNING_KEY (PEM file) and VERIFY_KEY ("ed25519:BASE64")
#   decrypt_archive PATH       PATH's compressed stream: itself, or for an age file (.age) its
#                              payload decrypted by `age -d -i $AGE_IDENTITY` (into $WORK)
# With PGTIER_TEST_ENCRYPTION=1 in the environment, sourcing this file makes keys and exports
# PGTIER_ENCRYPTION_* so that every pgtier the test runs encrypts, signs and checks signatures:
# how a test runs "once more with encryption on" (test_encrypted_*.sh).

unset PGTIER_CONFIG PGTIER_STORAGE_DIR PGTIER_POSTGRES_HOST PGTIER_POSTGRES_PORT \
    PGTIER_POSTGRES_USER PGTIER_POSTGRES_PASSWORD_FILE POSTGRES_PASSWORD_FILE PGPASSFILE 2>/dev/null || true
export LC_ALL=C.UTF-8

command -v jq >/dev/null || fail "jq is required (scripts/install-deps installs it)"

RC=0
declare -A _RUN_CMD=()

run_pgtier() {
    local tag=$1
    shift
    _RUN_CMD[$tag]="$PGTIER $*"
    set +e
    timeout -k 5 "${RUN_TIMEOUT:-300}" "$PGTIER" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
    RC=$?
    set -e
    [ "$RC" -ne 124 ] || echo "NOTE: '$PGTIER $*' was still running after ${RUN_TIMEOUT:-300}s and was killed" >&2
}

show_run() {
    local tag=$1
    {
        echo "---- run '$tag': ${_RUN_CMD[$tag]:-?} (exit $RC)"
        echo "---- stdout:"
        cat "$WORK/$tag.out" 2>/dev/null || true
        echo "---- stderr (last 40 lines):"
        tail -n 40 "$WORK/$tag.err" 2>/dev/null || true
        echo "----"
    } >&2
}

fail_run() {
    show_run "$1"
    fail "$2"
}

expect_rc() {
    local tag=$1 want=$2 msg=$3
    if [ "$want" = nonzero ]; then
        [ "$RC" -ne 0 ] || fail_run "$tag" "$msg (expected a non-zero exit, got 0)"
    else
        [ "$RC" -eq "$want" ] || fail_run "$tag" "$msg (expected exit $want, got $RC)"
    fi
}

archives() {
    local dir=$1 tier=$2
    [ -d "$dir/$tier" ] || return 0
    find "$dir/$tier" -maxdepth 1 -type f -regextype posix-extended \
        -regex ".*/[0-9]{8}_[0-9]{6}(-[0-9]+)?_${tier}\.sql\.(bz2|zst)(\.age)?" | sort
}

count_archives() { archives "$1" "$2" | wc -l; }

# new_archive DIR TIER "$before" — the one archive of TIER that is not in the list $before.
new_archive() {
    local dir=$1 tier=$2 before=$3 added
    added=$(comm -13 <(printf '%s\n' "$before" | sed '/^$/d' | sort) <(archives "$dir" "$tier"))
    # shellcheck disable=SC2012  # a listing for the failure message only
    [ -n "$added" ] || fail "no new $tier archive in $dir/$tier (have: $(ls -A "$dir/$tier" 2>/dev/null | tr '\n' ' '))"
    [ "$(printf '%s\n' "$added" | wc -l)" -eq 1 ] || fail "more than one new $tier archive: $added"
    printf '%s\n' "$added"
}

tree_state() {
    local dir=$1
    (
        cd "$dir" || exit 1
        find . -path ./.pgtier -prune -o -mindepth 1 -print | sort | while IFS= read -r f; do
            if [ -L "$f" ]; then
                echo "L $f -> $(readlink "$f")"
            elif [ -d "$f" ]; then
                echo "D $f"
            else
                echo "F $f $(stat -c %s "$f") $(sha256sum <"$f" | cut -c1-64)"
            fi
        done
    )
}

# decompress PATH — the archive's text: zstd for .zst, else bzip2 (PATH - : stdin, FORMAT); an
# age file (.age) is decrypted with $AGE_IDENTITY first.
decompress() {
    local format=${FORMAT:-bzip2}
    [ "$1" = - ] || case $1 in *.zst | *.zst.age) format=zstd ;; *) format=bzip2 ;; esac
    case $1 in *.age)
        age -d -i "$AGE_IDENTITY" -- "$1" | FORMAT=$format decompress -
        return
        ;;
    esac
    if [ "$format" = zstd ]; then
        if [ "$1" = - ]; then zstd -dcq; else zstd -dcq -- "$1"; fi
    elif [ "$1" = - ]; then
        bzip2 -dc
    else
        bzip2 -dc -- "$1"
    fi
}

# check_archive PATH TYPE — everything a published archive must satisfy.
check_archive() {
    local a=$1 type=$2 tdir name m size sum n i off len ulen ssum kind expect_off total_u format
    [ -f "$a" ] || fail "archive $a does not exist"
    tdir=$(dirname "$a")
    name=$(basename "$a")
    m="$a.json"
    [ -f "$a.sha256" ] || fail "$name: no .sha256 sidecar"
    [ -f "$m" ] || fail "$name: no .json manifest"
    [[ $name =~ ^[0-9]{8}_[0-9]{6}(-[0-9]+)?_${type}\.sql\.(bz2|zst)(\.age)?$ ]] || fail "$name: unexpected file name for a $type archive"
    [ "$(basename "$tdir")" = "$type" ] || fail "$name: a $type archive in folder $(basename "$tdir")"
    case $name in *.zst | *.zst.age) format=zstd ;; *) format=bzip2 ;; esac
    local stream
    stream=$(decrypt_archive "$a")
    if [ "$format" = zstd ]; then
        zstd -tq "$stream" 2>"$WORK/bzip2-t.err" || fail "$name: zstd -t failed: $(cat "$WORK/bzip2-t.err")"
    else
        bzip2 -t "$stream" 2>"$WORK/bzip2-t.err" || fail "$name: bzip2 -t failed: $(cat "$WORK/bzip2-t.err")"
    fi
    (cd "$tdir" && sha256sum -c --status "$name.sha256") || fail "$name: 'sha256sum -c $name.sha256' inside $tdir failed: $(cat "$a.sha256")"
    jq -e . "$m" >/dev/null || fail "$name: manifest is not valid JSON"
    [ "$(jq -r .type "$m")" = "$type" ] || fail "$name: manifest type is $(jq -r .type "$m"), expected $type"
    [ "$(jq -r .name "$m")" = "$name" ] || fail "$name: manifest name is $(jq -r .name "$m")"
    [ "$(jq -r .compression "$m")" = "$format" ] || fail "$name: manifest compression is $(jq -r .compression "$m"), expected $format"
    local key
    for key in format tool_version server_version started_at finished_at compressed_size uncompressed_size sha256 fingerprint sections; do
        jq -e --arg k "$key" 'has($k) and .[$k] != null' "$m" >/dev/null || fail "$name: manifest lacks \"$key\""
    done
    jq -e '.started_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|\\+00:00)$")' "$m" >/dev/null \
        || fail "$name: started_at is not UTC ISO 8601: $(jq -r .started_at "$m")"
    jq -e '(.finished_at | sub("\\.[0-9]+"; "")) >= (.started_at | sub("\\.[0-9]+"; ""))' "$m" >/dev/null || fail "$name: finished_at before started_at"
    size=$(stat -c %s "$a")
    sum=$(sha256sum <"$a" | cut -c1-64)
    [ "$(jq -r .compressed_size "$m")" = "$size" ] || fail "$name: manifest compressed_size $(jq -r .compressed_size "$m") != file size $size"
    [ "$(jq -r .sha256 "$m")" = "$sum" ] || fail "$name: manifest sha256 differs from the file's"
    [ "$(cut -c1-64 "$a.sha256")" = "$sum" ] || fail "$name: sidecar hash differs from the file's"
    jq -e '.fingerprint.digest and .fingerprint.globals and (.fingerprint.databases | type == "array")' "$m" >/dev/null \
        || fail "$name: manifest fingerprint lacks digest/globals/databases"
    n=$(jq '.sections | length' "$m")
    [ "$n" -ge 1 ] || fail "$name: manifest has no sections"
    expect_off=0
    total_u=0
    for ((i = 0; i < n; i++)); do
        read -r kind off len ulen ssum < <(jq -r --argjson i "$i" \
            '.sections[$i] | "\(.kind) \(.offset) \(.length) \(.uncompressed_length) \(.sha256)"' "$m")
        case $kind in
        globals) jq -e --argjson i "$i" '.sections[$i].database == null' "$m" >/dev/null || fail "$name: globals section $i has a database" ;;
        database) jq -e --argjson i "$i" '.sections[$i].database | type == "string"' "$m" >/dev/null || fail "$name: database section $i has no name" ;;
        *) fail "$name: section $i has kind '$kind'" ;;
        esac
        [ "$off" = "$expect_off" ] || fail "$name: section $i starts at $off, expected $expect_off (sections must be contiguous)"
        dd if="$stream" of="$WORK/section.bin" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none
        [ "$(stat -c %s "$WORK/section.bin")" = "$len" ] || fail "$name: section $i runs past the end of the file"
        [ "$(sha256sum <"$WORK/section.bin" | cut -c1-64)" = "$ssum" ] || fail "$name: section $i sha256 mismatch"
        local got
        got=$(FORMAT=$format decompress - <"$WORK/section.bin" | wc -c) || fail "$name: section $i does not decode alone ($format)"
        [ "$got" = "$ulen" ] || fail "$name: section $i decompresses to $got bytes, manifest says $ulen"
        expect_off=$((off + len))
        total_u=$((total_u + ulen))
    done
    [ "$expect_off" = "$(stat -c %s "$stream")" ] || fail "$name: sections end at $expect_off but the stream has $(stat -c %s "$stream") bytes"
    if [ "$stream" != "$a" ]; then
        [ "$(jq -r .encryption.stream_size "$m")" = "$expect_off" ] || fail "$name: encryption.stream_size is not the payload's size"
        rm -f "$stream"
    fi
    [ "$(jq -r .uncompressed_size "$m")" = "$total_u" ] || fail "$name: uncompressed_size $(jq -r .uncompressed_size "$m") != sum of sections $total_u"
    rm -f "$WORK/section.bin"
}

encryption_keys() {
    local dir=$1
    mkdir -p "$dir"
    age-keygen -o "$dir/age_identity.txt" 2>/dev/null
    AGE_IDENTITY=$dir/age_identity.txt
    AGE_RECIPIENT=$(age-keygen -y "$AGE_IDENTITY")
    openssl genpkey -algorithm ed25519 -out "$dir/signing_key.pem" 2>/dev/null
    SIGNING_KEY=$dir/signing_key.pem
    VERIFY_KEY="ed25519:$(openssl pkey -in "$SIGNING_KEY" -pubout -outform DER | tail -c 32 | base64 -w0)"
    chmod 600 "$AGE_IDENTITY" "$SIGNING_KEY"
}

decrypt_archive() {
    local a=$1 out
    case $a in
    *.age)
        out="$WORK/decrypted.$(basename "$a").$RANDOM"
        age -d -i "$AGE_IDENTITY" -o "$out" "$a" || fail "age -d -i $AGE_IDENTITY $a failed"
        echo "$out"
        ;;
    *) echo "$a" ;;
    esac
}

manifest_dbs() { jq -r '.sections[] | select(.kind == "database") | .database' "$1.json" | sort; }

manifest_has_globals() { jq -e 'any(.sections[]; .kind == "globals")' "$1.json" >/dev/null; }

bz_contains() {
    local stream rc=0
    stream=$(decrypt_archive "$1")
    decompress "$stream" | grep -F -c -- "$2" >/dev/null || rc=$?
    [ "$stream" = "$1" ] || rm -f "$stream"
    return "$rc"
}

settle() { sleep "${SETTLE_SECONDS:-1.5}"; }

pg_quiet() {
    psql_q -d postgres -c "ALTER SYSTEM SET autovacuum = off" >/dev/null
    psql_q -d postgres -c "SELECT pg_reload_conf()" >/dev/null
}

pg_crash() {
    _as_pg pg_ctl -D "$WORK/$1/data" -m immediate -w stop >/dev/null
}

db_list() { psql_q -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1" | sort; }

# Any database name, passed as a conninfo keyword so names with '=' or spaces are safe.
psql_db() {
    local db=$1
    shift
    local q=${db//\\/\\\\}
    q=${q//\'/\\\'}
    psql_q -d "dbname='$q'" "$@"
}

# The result line a run printed on stdout (must be exactly one non-empty line).
result_line() {
    local tag=$1 lines
    lines=$(sed '/^$/d' "$WORK/$tag.out")
    [ "$(printf '%s\n' "$lines" | sed '/^$/d' | wc -l)" -eq 1 ] || fail_run "$tag" "expected exactly one result line on stdout"
    printf '%s\n' "$lines"
}

# An SQL identifier for any name, quoted as the server (and pg_dump) would.
qident() { printf '%s\n' "SELECT quote_ident(:'v');" | psql_q -d postgres -v v="$1"; }

descendants() {
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

# wait_for_partial DIR TIER PID [MIN_BYTES] — until DIR/TIER/.*.partial exists (and has at least
# MIN_BYTES) while PID is alive. Returns 1 if PID ended first or after 120 s.
wait_for_partial() {
    local dir=$1 tier=$2 pid=$3 min=${4:-0} i p
    for ((i = 0; i < 2400; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [ "$min" -gt 0 ]; then
            p=$(find "$dir/$tier" -maxdepth 1 -name '.*.partial' -size +"$((min - 1))"c 2>/dev/null | head -n1)
        else
            p=$(find "$dir/$tier" -maxdepth 1 -name '.*.partial' 2>/dev/null | head -n1)
        fi
        [ -n "$p" ] && return 0
        sleep 0.05
    done
    return 1
}

partials() { find "$1" -name '*.partial' 2>/dev/null | sort; }

# shellcheck disable=SC2034  # BG_PID is read by the caller
start_pgtier() {
    local tag=$1
    shift
    _RUN_CMD[$tag]="$PGTIER $*"
    "$PGTIER" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    BG_PID=$!
}

await_partial() {
    local pid=$1 tag=$2 dir=$3 tier=$4 min=${5:-0}
    wait_for_partial "$dir" "$tier" "$pid" "$min" && return 0
    wait "$pid" || true
    cat "$WORK/$tag.err" >&2
    fail "$tag: no .partial in $dir/$tier while pgtier ran (more data? the test's *_ROWS)"
}

# shellcheck disable=SC2034  # KILLED_KIDS is read by the caller
kill9() {
    local pid=$1
    KILLED_KIDS=$(descendants "$pid")
    kill -0 "$pid" 2>/dev/null || fail "pgtier ended before it could be killed (more data? the test's *_ROWS)"
    kill -9 "$pid" 2>/dev/null || true  # it may just have ended: the caller's checks decide
    wait "$pid" 2>/dev/null || true
}

kill9_mid_dump() {
    await_partial "$@"
    sleep 0.3
    kill9 "$1"
}

# After pgtier died: its remaining children must go away (no pipe or lock held open by them).
check_orphans_gone() {
    local i p alive
    for ((i = 0; i < 100; i++)); do
        alive=""
        for p in "$@"; do
            if [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; then alive+=" $p($(cat "/proc/$p/comm" 2>/dev/null || true))"; fi  # it may end meanwhile
        done
        [ -z "$alive" ] && return 0
        sleep 0.1
    done
    fail "children of the killed pgtier still running after 10 s:$alive"
}

# with_pg NAME CMD... — run CMD (a command or function) against cluster NAME.
with_pg() {
    local name=$1
    shift
    PGHOST="$WORK/$name/socket" PGPORT="$(pg_port "$name")" "$@"
}

# ---- webhook listener (tests/tools/webhook_listener.cpp) ---------------------------------------------
#   start_listener NAME [MODE]  a listener recording each POST into $WORK/NAME/N.json (N = 1, 2, …);
#                               its port -> $PORT, its pid -> $LISTENER_PID (killed at exit)
#   received NAME               how many requests it got
#   received_at_least NAME N    whether it got N requests or more (for wait_until)
#   body NAME N                 the body of the Nth
# shellcheck disable=SC2034  # PORT and LISTENER_PID are read by the caller
start_listener() {
    local dir="$WORK/$1" listener=${PGTIER_WEBHOOK_LISTENER:-$PGTIER_SOURCE_DIR/build/pgtier_webhook_listener}
    [ -x "$listener" ] || fail "webhook listener not found at $listener (build first, or set PGTIER_WEBHOOK_LISTENER)"
    mkdir -p "$dir"
    "$listener" "$dir/port" "$dir" "${2:-ok}" >"$dir/listener.log" 2>&1 &
    LISTENER_PID=$!
    kill_on_exit "$LISTENER_PID"
    wait_until 10 test -s "$dir/port" || fail "the listener $1 did not start"
    PORT=$(cat "$dir/port")
}
received() { find "$WORK/$1" -name '*.json' | wc -l; }
received_at_least() { [ "$(received "$1")" -ge "$2" ]; }
body() { cat "$WORK/$1/$2.json"; }

# ---- daemon / status / prune helpers (issue 4) ------------------------------------------------------
# daemon_toml DIR TIMEZONE FULL DIFFERENTIAL INCREMENTAL [THREADS] — a daemon test's configuration
# on stdout: storage.dir, the schedules, and compression.threads when THREADS is given.
daemon_toml() {
    printf '[storage]\ndir = "%s"\n[schedule]\ntimezone = "%s"\nfull = "%s"\ndifferential = "%s"\nincremental = "%s"\n' "$1" "$2" "$3" "$4" "$5"
    if [ -n "${6:-}" ]; then printf '[compression]\nthreads = %s\n' "$6"; fi
}

#   start_daemon TAG ARGS...   start "$PGTIER ARGS... daemon" in the background; log (stdout+stderr)
#                              -> $WORK/TAG.log; its pid -> $DPID (killed at exit if still running)
#   kill_on_exit PID...        SIGKILL these at exit, before the usual cleanup
#   wait_until SECONDS CMD...  poll CMD every 0.1 s until it succeeds; 1 after SECONDS
#   log_count FILE REGEX       lines of FILE matching the extended REGEX (0 when none)
#   wait_log FILE REGEX N SECONDS   until FILE has at least N lines matching REGEX (1 on timeout)
#   stop_pid PID SECONDS [SIG] SIGTERM (or SIG) PID and wait for it up to SECONDS (then SIGKILL);
#                              exit status (or "timeout") -> $STOP_RC, time -> $STOP_MS
#   show_log FILE              the last 60 lines of a log on stderr
#   soft_fail MSG / soft_fail_check   record a failed check and go on / fail at the end if any

start_daemon() {
    local tag=$1
    shift
    "$PGTIER" "$@" daemon >"$WORK/$tag.log" 2>&1 &
    DPID=$!
    kill_on_exit "$DPID"
}

# kill_on_exit PID... — the EXIT trap also kills these (SIGKILL) before the usual cleanup; the
# script's exit status is kept.
declare -a _KILL_ON_EXIT=()
kill_on_exit() {
    _KILL_ON_EXIT+=("$@")
    trap _kill_then_cleanup EXIT
}
_kill_then_cleanup() {
    local rc=$? p
    set +e
    for p in "${_KILL_ON_EXIT[@]}"; do
        # only a still-running child of this shell (never a recycled pid)
        [ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$$" ] && kill -KILL "$p" 2>/dev/null || true
    done
    (exit "$rc")
    _cleanup
}

wait_until() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while [ "$(date +%s%N)" -lt "$deadline" ]; do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

log_count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

_log_has() { [ "$(log_count "$1" "$2")" -ge "$3" ]; }
wait_log() { wait_until "$4" _log_has "$1" "$2" "$3"; }

# shellcheck disable=SC2034  # STOP_RC and STOP_MS are read by the caller
stop_pid() {
    local pid=$1 secs=$2 sig=${3:-TERM} t0 i
    t0=$(date +%s%N)
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        STOP_MS=$((($(date +%s%N) - t0) / 1000000))
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        STOP_RC=timeout
        return 0
    fi
    set +e
    wait "$pid"
    STOP_RC=$?
    set -e
    STOP_MS=$((($(date +%s%N) - t0) / 1000000))
}

show_log() { { echo "---- $1 (last 60 lines):"; tail -n 60 "$1"; echo "----"; } >&2; }

# soft_fail MSG — record a failed check and go on (for independent checks at the end of a test);
# soft_fail_check — fail now when any was recorded, listing them all.
declare -a _SOFT_FAILS=()
soft_fail() {
    echo "FAIL (recorded, the test goes on): $*" >&2
    _SOFT_FAILS+=("$*")
}
soft_fail_check() {
    [ "${#_SOFT_FAILS[@]}" = 0 ] || fail "${#_SOFT_FAILS[@]} check(s) failed: $(printf '[%s] ' "${_SOFT_FAILS[@]}")"
}

declare -A ARCH=() AGE=()
# shellcheck disable=SC2153  # B and NOW are the calling test's
take() {
    local key=$1 type=$2 tier before
    shift 2
    case $type in full) tier=full ;; diff) tier=differential ;; incr) tier=incremental ;; esac
    before=$(archives "$B" "$tier")
    run_pgtier "take-$key" --dir "$B" backup "$type" "$@"
    expect_rc "take-$key" 0 "backup $type $* ($key)"
    ARCH[$key]=$(new_archive "$B" "$tier" "$before")
}
iso_days_ago() { date -u -d "@$((NOW - $1 * 86400))" +%Y-%m-%dT%H:%M:%S.000000Z; }
set_age() {
    local m="${ARCH[$1]}.json"
    jq --arg t "$(iso_days_ago "$2")" '.started_at = $t | .finished_at = $t' "$m" >"$WORK/m.json"
    cat "$WORK/m.json" >"$m"
    # shellcheck disable=SC2034  # read by test_prune.sh
    AGE[$1]=$2
}
name() { basename "${ARCH[$1]}"; }

if [ "${PGTIER_TEST_ENCRYPTION:-0}" = 1 ]; then
    encryption_keys "$WORK/keys"
    export PGTIER_ENCRYPTION_RECIPIENTS=$AGE_RECIPIENT PGTIER_ENCRYPTION_IDENTITY_FILE=$AGE_IDENTITY \
        PGTIER_ENCRYPTION_SIGNING_KEY_FILE=$SIGNING_KEY PGTIER_ENCRYPTION_VERIFY_KEY=$VERIFY_KEY
    echo "encryption on: archives are age files to $AGE_RECIPIENT, manifests signed"
fi
