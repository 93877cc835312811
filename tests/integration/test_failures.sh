#!/usr/bin/env bash
# Issue 2, test 5: server down, wrong password, backup folder full, unwritable folder, a dump that
# fails — each: a clear message on stderr, exit != 0, nothing published, older archives intact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start fl
pg_quiet
for db in a b; do
    psql_q -d postgres -c "CREATE DATABASE $db"
    psql_db "$db" -c "CREATE TABLE t (id int, v text)" -c "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g"
done
settle
B="$WORK/backups"

# good_full TAG DIR — a successful full into DIR; prints its path.
good_full() {
    local before
    before=$(archives "$2" full)
    run_pgtier "$1" --dir "$2" backup full --force
    expect_rc "$1" 0 "backup full ($1)"
    new_archive "$2" full "$before"
}

published() { [ -d "$1" ] && tree_state "$1" | grep -v '/\.[^/]*$' || true; }

# expect_failure TAG DIR PATTERN WHAT -- ARGS... : the run fails cleanly.
expect_failure() {
    local tag=$1 dir=$2 pattern=$3 what=$4
    shift 5
    published "$dir" >"$WORK/$tag.before"
    run_pgtier "$tag" --dir "$dir" "$@"
    [ "$RC" -ne 0 ] || fail_run "$tag" "$what: exit 0"
    [ "$RC" -eq 1 ] || fail_run "$tag" "$what: exit $RC (contract: 1 on failure)"
    grep -Eqi -- "$pattern" "$WORK/$tag.err" || fail_run "$tag" "$what: stderr does not match /$pattern/"
    ! grep -qi 'skipped' "$WORK/$tag.out" || fail_run "$tag" "$what: reported as skipped"
    ! grep -qi 'wrote' "$WORK/$tag.out" || fail_run "$tag" "$what: reported as written"
    published "$dir" >"$WORK/$tag.after"
    diff "$WORK/$tag.before" "$WORK/$tag.after" >&2 || fail_run "$tag" "$what: files under final names changed"
    [ -z "$(partials "$dir")" ] || fail_run "$tag" "$what: left $(partials "$dir")"
    pass "$what -> exit $RC: $(grep -Ei -- "$pattern" "$WORK/$tag.err" | tail -n1 | cut -c1-200)"
}

# intact ARCHIVE... — older archives still pass their sidecar check.
intact() {
    local a
    for a in "$@"; do
        (cd "$(dirname "$a")" && sha256sum -c --status "$(basename "$a").sha256") || fail "$(basename "$a") no longer matches its sidecar"
        [ -f "$a.json" ] || fail "$(basename "$a") lost its manifest"
    done
}

F1=$(good_full full1 "$B")
check_archive "$F1" full
pass "good full $(basename "$F1")"

# ---- server down --------------------------------------------------------------------------------
pg_stop fl
for kind in full diff incr; do
    expect_failure "down-$kind" "$B" 'connect|connection|server' "backup $kind with the server down" -- backup "$kind"
done
intact "$F1"
pg_start fl
pass "server down: all three kinds fail, $(basename "$F1") intact"

# ---- wrong password (TCP, scram-sha-256) -----------------------------------------------------------
PW='Right-Pw-81x'
psql_q -d postgres -c "CREATE ROLE bk LOGIN SUPERUSER PASSWORD '$PW'"
# shellcheck disable=SC2030,SC2031  # PGHOST/PGUSER/PGPORT are set for this subshell only, on purpose
(
    export PGHOST=127.0.0.1 PGUSER=bk
    PGPORT=$(pg_port fl)
    export PGPORT
    PGPASSWORD=$PW run_pgtier tcp-ok --dir "$B" backup full --force
    expect_rc tcp-ok 0 "backup over TCP with the right PGPASSWORD"
    ! grep -qF "$PW" "$WORK/tcp-ok.out" "$WORK/tcp-ok.err" || fail "the password appears in pgtier's output"
    pass "right PGPASSWORD over TCP works (positive control)"

    printf '%s\n' "$PW" >"$WORK/pw-right"
    printf 'wrong-pw\n' >"$WORK/pw-wrong"
    chmod 600 "$WORK/pw-right" "$WORK/pw-wrong"
    printf '[postgres]\npassword_file = "%s"\n' "$WORK/pw-right" >"$WORK/right.toml"
    printf '[postgres]\npassword_file = "%s"\n' "$WORK/pw-wrong" >"$WORK/wrong.toml"
    run_pgtier file-ok --config "$WORK/right.toml" --dir "$B" backup full --force
    expect_rc file-ok 0 "backup with password_file (content ends with a newline, like a Docker secret)"
    ! grep -qF "$PW" "$WORK/file-ok.out" "$WORK/file-ok.err" || fail "the password appears in pgtier's output"
    ! grep -rqF "$PW" "$B" || fail "the password appears in the backup folder"
    POSTGRES_PASSWORD_FILE="$WORK/pw-right" run_pgtier env-file-ok --dir "$B" backup full --force
    expect_rc env-file-ok 0 "backup with POSTGRES_PASSWORD_FILE"
    pass "password_file and POSTGRES_PASSWORD_FILE work (trailing newline ignored), password not in output or files"
)
# The password never appears in a child's argv or environment (docs/design.md, Archive format, Children).
psql_q -d postgres -c "CREATE DATABASE pwcheck"
psql_db pwcheck -c "CREATE TABLE t AS SELECT g, md5(g::text) || md5((-g)::text) AS a FROM generate_series(1, 100000) g"
settle
# spy_children TAG -- ARGS: run pgtier in the background, read every descendant's cmdline and environ.
spy_children() {
    local tag=$1 pid c seen=0
    shift 2
    "$PGTIER" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    pid=$!
    : >"$WORK/$tag.spy"
    while kill -0 "$pid" 2>/dev/null; do
        for c in $(descendants "$pid"); do
            # Between fork and execve a child is still a copy of pgtier and shows pgtier's own
            # environment (where the operator put PGPASSWORD); only an exec'd child is evidence.
            [ "$(cat "/proc/$c/comm" 2>/dev/null)" != pgtier ] || continue
            { printf '%s: ' "$(cat "/proc/$c/comm")"; tr '\0' ' ' <"/proc/$c/cmdline"; echo; tr '\0' '\n' <"/proc/$c/environ"; } >>"$WORK/$tag.spy" 2>/dev/null || true
            seen=$((seen + 1))
        done
        sleep 0.02
    done
    wait "$pid" || { cat "$WORK/$tag.err" >&2; fail "$tag: the backup failed"; }
    [ "$seen" -gt 0 ] || fail "$tag: saw no child process to inspect"
    ! grep -qF "$PW" "$WORK/$tag.spy" || { grep -F "$PW" "$WORK/$tag.spy" | cut -c1-200 >&2; fail "$tag: the password is visible in a child's argv or environment"; }
    grep -q '^pg_dump' "$WORK/$tag.spy" || fail "$tag: no pg_dump child was inspected"
    pass "$tag: password in none of $(grep -c '^pg_dump' "$WORK/$tag.spy") child samples (argv, environment)"
}
# shellcheck disable=SC2030,SC2031  # PGHOST/PGUSER/PGPORT are set for this subshell only, on purpose
(
    export PGHOST=127.0.0.1 PGUSER=bk
    PGPORT=$(pg_port fl)
    export PGPORT
    spy_children spy-file -- --config "$WORK/right.toml" --dir "$B" backup full --force
    PGPASSWORD=$PW spy_children spy-env -- --dir "$B" backup full --force
)
psql_q -d postgres -c "DROP DATABASE pwcheck"
settle
mapfile -t GOOD < <(archives "$B" full)
# shellcheck disable=SC2030,SC2031  # PGHOST/PGUSER/PGPORT are set for this subshell only, on purpose
(
    export PGHOST=127.0.0.1 PGUSER=bk
    PGPORT=$(pg_port fl)
    export PGPORT
    PGPASSWORD=wrong-pw expect_failure pw-env "$B" 'password|authentication' "wrong PGPASSWORD" -- backup full
    expect_failure pw-file "$B" 'password|authentication' "wrong password in password_file" -- --config "$WORK/wrong.toml" backup full
    POSTGRES_PASSWORD_FILE="$WORK/pw-wrong" expect_failure pw-envfile "$B" 'password|authentication' "wrong password in POSTGRES_PASSWORD_FILE" -- backup incr
    PGPASSWORD=wrong-pw expect_failure pw-diff "$B" 'password|authentication' "wrong PGPASSWORD, backup diff" -- backup diff
)
intact "${GOOD[@]}"

# ---- a dump that fails (a role without the rights to read everything) --------------------------------
psql_q -d postgres -c "CREATE ROLE weak LOGIN"
PGUSER=weak expect_failure weak "$B" 'permission denied|superuser|privilege' "backup as a role that cannot read the tables" -- backup full
intact "${GOOD[@]}"

# ---- the backup folder fills up --------------------------------------------------------------------
TINY="$WORK/tiny"
mkdir -p "$TINY"
if mount -t tmpfs -o size=3m tmpfs "$TINY" 2>"$WORK/mount.err"; then
    T1=$(good_full tiny1 "$TINY")
    check_archive "$T1" full
    psql_q -d postgres -c "CREATE DATABASE bulk"
    psql_db bulk -c "CREATE TABLE filler AS SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) AS a FROM generate_series(1, 120000) g"
    settle
    expect_failure tiny-full "$TINY" 'space|ENOSPC|write' "backup full into a full file system" -- backup full
    intact "$T1"
    df -k "$TINY" | tail -n1 | awk '{print "tmpfs after the failure: " $3 " KiB used"}'
    psql_q -d postgres -c "DROP DATABASE bulk"
    settle
    T2=$(good_full tiny2 "$TINY")
    check_archive "$T2" full
    pass "after dropping the bulk data a full fits again: the failed run released its space"
    umount "$TINY"
else
    echo "SKIP: cannot mount a tmpfs here ($(cat "$WORK/mount.err")); the disk-full case is not tested"
fi

# ---- an unwritable backup folder -------------------------------------------------------------------
RW="$WORK/rw"
RO="$WORK/ro"
R1=$(good_full rw1 "$RW")
mkdir -p "$RO"
if mount --bind "$RW" "$RO" 2>"$WORK/mount.err" && mount -o remount,bind,ro "$RO" 2>>"$WORK/mount.err"; then
    touch "$RO/probe" 2>/dev/null && fail "setup: the read-only bind mount is writable"
    expect_failure ro "$RO" "read-only|$RO|permission|denied" "backup full into a read-only folder" -- backup full --force
    expect_failure ro-incr "$RO" "read-only|$RO|permission|denied" "backup incr into a read-only folder" -- backup incr --force
    intact "$R1"
    umount "$RO"
else
    umount "$RO" 2>/dev/null || true
    echo "SKIP: cannot make a read-only bind mount ($(cat "$WORK/mount.err"))"
fi

# As an unprivileged user (root ignores permission bits).
if id nobody >/dev/null 2>&1 && runuser -u nobody -- test -x "$PGTIER" 2>/dev/null; then
    chmod 755 "$RW" "$RW/full"
    published "$RW" >"$WORK/nobody.before"
    set +e
    runuser -u nobody -- env HOME=/tmp "$PGTIER" --dir "$RW" backup full --force >"$WORK/nobody.out" 2>"$WORK/nobody.err"
    RC=$?
    set -e
    _RUN_CMD[nobody]="runuser -u nobody -- $PGTIER --dir $RW backup full --force"
    [ "$RC" -eq 1 ] || fail_run nobody "backup as an unprivileged user into a root-owned folder: exit $RC (want 1)"
    grep -Eqi "permission|denied|$RW" "$WORK/nobody.err" || fail_run nobody "no clear message (permission denied / the folder)"
    published "$RW" >"$WORK/nobody.after"
    diff "$WORK/nobody.before" "$WORK/nobody.after" >&2 || fail "the unprivileged run changed the folder"
    intact "$R1"
    pass "unprivileged user, root-owned folder -> exit 1: $(grep -Ei "permission|denied" "$WORK/nobody.err" | tail -n1 | cut -c1-200)"
else
    echo "SKIP: user nobody cannot run $PGTIER; the unprivileged-user case is not tested"
fi

intact "${GOOD[@]}"
run_pgtier verify-end --dir "$B" verify
expect_rc verify-end 0 "verify of the older archives at the end"
pass "all older archives intact and verified"
