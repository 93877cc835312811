#!/usr/bin/env bash
# Issue 2, test 8 (docs/configuration.md): a bad configuration stops pgtier with exit 2 and a
# message naming the file and the key; a good one (and the --dir / PGTIER_* overrides) works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start bc
psql_q -d postgres -c "CREATE DATABASE app" -c "CREATE ROLE cfg_user LOGIN SUPERUSER PASSWORD 'cfg-pw-3'"
C="$WORK/conf"
mkdir -p "$C"
B="$WORK/backups"

# bad CASE KEY TOML [EXTRA] — exit 2, stderr names the config file, KEY (unless empty) and EXTRA
# (if given); nothing is written.
bad() {
    local case=$1 key=$2 body=$3 extra=${4:-}
    local f="$C/$case.toml"
    printf '%s\n' "$body" >"$f"
    run_pgtier "cfg-$case" --config "$f" --dir "$B" backup full
    [ "$RC" -eq 2 ] || fail_run "cfg-$case" "$case: exit $RC (want 2)"
    grep -qF "$f" "$WORK/cfg-$case.err" || grep -qF "$case.toml" "$WORK/cfg-$case.err" || fail_run "cfg-$case" "$case: the message does not name the file $f"
    [ -z "$key" ] || grep -qF "$key" "$WORK/cfg-$case.err" || fail_run "cfg-$case" "$case: the message does not name the key '$key'"
    [ -z "$extra" ] || grep -qF -- "$extra" "$WORK/cfg-$case.err" || fail_run "cfg-$case" "$case: the message does not mention '$extra'"
    [ "$(count_archives "$B" full)" = 0 ] || fail_run "cfg-$case" "$case: an archive was written"
    ! grep -qi wrote "$WORK/cfg-$case.out" || fail_run "cfg-$case" "$case: reports a written archive"
    pass "$case -> exit 2: $(grep -v '^$' "$WORK/cfg-$case.err" | tail -n1 | cut -c1-200)"
}

bad unknown-key bogus_key '[storage]
bogus_key = 1'
bad unknown-key-postgres hostname '[postgres]
hostname = "localhost"'
bad unknown-section nosuchsection '[nosuchsection]
x = 1'
bad wrong-type-port port '[postgres]
port = "abc"'
bad wrong-type-level level '[compression]
level = "nine"'
bad bad-value-level level '[compression]
level = 42' 42
bad bad-value-level-zero level '[compression]
level = 0'
# Issue 15: the format, and a level out of the range of the format chosen.
bad bad-format format '[compression]
format = "gzip"' gzip
bad bad-zstd-level level '[compression]
format = "zstd"
level = 20' 'out of range for compression.format "zstd": zstd takes 1 to 19'
bad bad-bzip2-level level '[compression]
level = 12' 'bzip2 takes 1 to 9 (zstd: 1 to 19)'
bad bad-value-port port '[postgres]
port = 70000' 70000
bad bad-value-threads threads '[compression]
threads = -1'
bad missing-password-file password_file '[postgres]
password_file = "/nonexistent/pgtier-secret"' /nonexistent/pgtier-secret
bad bad-log-level log_level '[daemon]
log_level = "loud"'
bad bad-min-full min_full '[retention]
min_full = -1'
bad wrong-type-auto-restore auto_restore '[daemon]
auto_restore = "yes"'
bad syntax-error "" '[storage
dir = "/x"'
# Issue 11: a key before any [section] header is not "unknown section [port]".
bad top-level-key port 'port = 5601
[storage]
dir = "/x"' "outside any section"

# An environment override with a bad value names the variable.
PGTIER_COMPRESSION_LEVEL=42 run_pgtier env-bad --dir "$B" backup full
[ "$RC" -eq 2 ] || fail_run env-bad "PGTIER_COMPRESSION_LEVEL=42: exit $RC (want 2)"
grep -qF PGTIER_COMPRESSION_LEVEL "$WORK/env-bad.err" || fail_run env-bad "the message does not name PGTIER_COMPRESSION_LEVEL"
pass "PGTIER_COMPRESSION_LEVEL=42 -> exit 2 naming the variable"
PGTIER_POSTGRES_PORT=abc run_pgtier env-bad2 --dir "$B" backup full
[ "$RC" -eq 2 ] || fail_run env-bad2 "PGTIER_POSTGRES_PORT=abc: exit $RC (want 2)"
grep -qF PGTIER_POSTGRES_PORT "$WORK/env-bad2.err" || fail_run env-bad2 "the message does not name PGTIER_POSTGRES_PORT"
pass "PGTIER_POSTGRES_PORT=abc -> exit 2 naming the variable"
# Issue 11: a password file from a variable is blamed on the variable, not on the config file.
printf '[storage]\ndir = "%s"\n' "$B" >"$C/plain.toml"
PGTIER_POSTGRES_PASSWORD_FILE=/nonexistent/env-secret run_pgtier env-pw --config "$C/plain.toml" backup full
[ "$RC" -eq 2 ] || fail_run env-pw "PGTIER_POSTGRES_PASSWORD_FILE=/nonexistent/env-secret: exit $RC (want 2)"
grep -qF "environment variable PGTIER_POSTGRES_PASSWORD_FILE" "$WORK/env-pw.err" || fail_run env-pw "the message does not name PGTIER_POSTGRES_PASSWORD_FILE"
grep -qF plain.toml "$WORK/env-pw.err" && fail_run env-pw "the message blames the config file for a variable's value"
[ "$(count_archives "$B" full)" = 0 ] || fail_run env-pw "an archive was written"
pass "PGTIER_POSTGRES_PASSWORD_FILE unreadable -> exit 2: $(tail -n1 "$WORK/env-pw.err")"

# ---- usage errors ------------------------------------------------------------------------------------
for args in "backup" "backup weekly" "backup full --bogus" "nosuchcommand" "--bogus-option backup full"; do
    # shellcheck disable=SC2086
    run_pgtier usage --dir "$B" $args
    [ "$RC" -eq 2 ] || fail_run usage "'pgtier $args': exit $RC (want 2)"
    [ -s "$WORK/usage.err" ] || fail_run usage "'pgtier $args': no message on stderr"
done
pass "usage errors exit 2 with a message"
# Issue 11: an unknown command is named, with the valid ones (not "A subcommand is required").
for args in "frobnicate" "--dir $B frobnicate" "--config $C/plain.toml frobnicate --json"; do
    # shellcheck disable=SC2086
    run_pgtier unknown-cmd $args
    [ "$RC" -eq 2 ] || fail_run unknown-cmd "'pgtier $args': exit $RC (want 2)"
    grep -qF "unknown command 'frobnicate'" "$WORK/unknown-cmd.err" || fail_run unknown-cmd "'pgtier $args' does not name the unknown command"
    for cmd in backup list verify restore prune status health daemon schedule; do
        grep -qw "$cmd" "$WORK/unknown-cmd.err" || fail_run unknown-cmd "'pgtier $args' does not list the command $cmd"
    done
done
pass "unknown command: $(cat "$WORK/unknown-cmd.err")"
run_pgtier unknown-restore --dir "$B" restore frobnicate
[ "$RC" -eq 2 ] || fail_run unknown-restore "'pgtier restore frobnicate': exit $RC (want 2)"
grep -qF "unknown restore command 'frobnicate'" "$WORK/unknown-restore.err" || fail_run unknown-restore "does not name the unknown restore command"
for cmd in list-databases database full latest plan; do
    grep -qw -- "$cmd" "$WORK/unknown-restore.err" || fail_run unknown-restore "does not list restore $cmd"
done
pass "unknown restore command: $(cat "$WORK/unknown-restore.err")"
run_pgtier help --help
expect_rc help 0 "--help"
grep -q backup "$WORK/help.out" || fail_run help "--help does not mention backup"
run_pgtier version --version
expect_rc version 0 "--version"
grep -qF "$(tr -d '[:space:]' <"$PGTIER_SOURCE_DIR/VERSION")" "$WORK/version.out" || fail_run version "--version does not print VERSION"
pass "--help, --version ($(cat "$WORK/version.out"))"

# ---- good configurations ----------------------------------------------------------------------------
# Every documented key with its default (storage.dir pointed at $WORK): accepted.
cat >"$C/defaults.toml" <<TOML
[postgres]
host = ""
port = $PGPORT
user = "postgres"
password_file = ""

[storage]
dir = "$WORK/from-config"

[schedule]
timezone = ""
full = "0 3 * * 0"
differential = "0 3 * * 3"
incremental = "0 * * * *"

[retention]
incremental_days = 14
differential_days = 42
full_days = 42
min_full = 2

[compression]
level = 9
threads = 0

[daemon]
auto_restore = false
log_level = "info"
TOML
run_pgtier defaults --config "$C/defaults.toml" backup full
expect_rc defaults 0 "backup with every documented key at its default"
A=$(new_archive "$WORK/from-config" full "")
check_archive "$A" full
pass "the documented defaults are accepted; storage.dir is used"

run_pgtier dir-wins --config "$C/defaults.toml" --dir "$WORK/from-flag" backup full
expect_rc dir-wins 0 "--dir overriding storage.dir"
[ "$(count_archives "$WORK/from-flag" full)" = 1 ] || fail "--dir did not override storage.dir"
[ "$(count_archives "$WORK/from-config" full)" = 1 ] || fail "--dir run also wrote into storage.dir"
PGTIER_STORAGE_DIR="$WORK/from-env" run_pgtier env-dir --config "$C/defaults.toml" backup full
expect_rc env-dir 0 "PGTIER_STORAGE_DIR"
[ "$(count_archives "$WORK/from-env" full)" = 1 ] || fail "PGTIER_STORAGE_DIR did not override storage.dir"
PGTIER_CONFIG="$C/defaults.toml" PGTIER_STORAGE_DIR="$WORK/from-env2" run_pgtier env-config backup full
expect_rc env-config 0 "PGTIER_CONFIG"
[ "$(count_archives "$WORK/from-env2" full)" = 1 ] || fail "PGTIER_CONFIG was not read"
pass "--dir > PGTIER_STORAGE_DIR > storage.dir; PGTIER_CONFIG is read"

# Connection from the config file alone (no PG* variables): TCP with a password file.
printf 'cfg-pw-3\n' >"$C/pw"
chmod 600 "$C/pw"
cat >"$C/conn.toml" <<TOML
[postgres]
host = "127.0.0.1"
port = $(pg_port bc)
user = "cfg_user"
password_file = "$C/pw"

[storage]
dir = "$WORK/conn"

[compression]
level = 1
threads = 1
TOML
(
    unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD
    run_pgtier conn --config "$C/conn.toml" backup full
    expect_rc conn 0 "backup with the connection from the config file only"
    A=$(new_archive "$WORK/conn" full "")
    check_archive "$A" full
)
pass "host/port/user/password_file from the config file work without PG* variables"

# A config naming a wrong port really is used (so the good runs above did not ignore it).
sed "s/^port = .*/port = 1/" "$C/conn.toml" >"$C/conn-badport.toml"
(
    unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD
    run_pgtier conn-bad --config "$C/conn-badport.toml" backup full
    [ "$RC" -eq 1 ] || fail_run conn-bad "a config pointing at port 1: exit $RC (want 1, a connection failure)"
)
pass "the configured port is what pgtier connects to (port 1 -> connection failure, exit 1)"

# ---- docs/configuration.md: a bad value stops the command with exit 2, naming file and key ----
# (the schedule is only used by the daemon, but the configuration is checked as a whole)
bad bad-timezone timezone '[schedule]
timezone = "Mars/Olympus_Mons"'
# Issue 11: only a TZif zone file is a zone (a directory, a table or a path was silently UTC).
bad bad-timezone-dir schedule.timezone '[schedule]
timezone = "Europe"' directory
bad bad-timezone-tab schedule.timezone '[schedule]
timezone = "zone.tab"' TZif
bad bad-timezone-dots schedule.timezone '[schedule]
timezone = "../../../etc/passwd"' "'..' component"
bad bad-cron schedule.full '[schedule]
full = "every sunday at 3"'
bad bad-cron-range schedule.incremental '[schedule]
incremental = "0 25 * * *"'
