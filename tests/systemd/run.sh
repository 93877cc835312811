#!/usr/bin/env bash
# systemd test (issue 14): the units in systemd/ under a real systemd as PID 1, in a bookworm
# container (podman run --systemd=always) with Debian's PostgreSQL 15 running as postgresql@15-main.
# pgtier is installed by docs/deployment.md's commands ("systemd (a host without containers)"), run as
# written, with build/pgtier of this tree. Checks:
#   - systemctl enable --now pgtier: the daemon's first full appears, sha256sum -c of its sidecar
#     passes; the unit's sandbox is in force in the running daemon (read-only /, hidden /home,
#     private /tmp, no capabilities, no_new_privs, a seccomp filter);
#   - systemctl reload pgtier: SIGHUP reloads the configuration (the journal says so, and the new
#     schedule fires a full a few seconds later);
#   - systemctl stop pgtier during that full (held by a table lock): the daemon exits 0 (ExecMainCode=exited,
#     ExecMainStatus=0, Result=success) and no .partial is left;
#   - the timers instead of the daemon (docs/deployment.md's commands): pgtier-backup@full.service and
#     pgtier-backup@incr.service take their archives, a no-change incremental is skipped, and
#     pgtier-backup-incr.timer, moved a few seconds ahead by a drop-in, fires an incremental.
#
# The container gets CAP_SYS_ADMIN: without it systemd cannot set up the units' mount namespaces and
# silently runs them unsandboxed (ProtectSystem=, PrivateTmp=, ProtectHome= ... ignored), which a
# real host never does. The base image is debian:bookworm when podman has it, else the bookworm
# stand-in base of tests/container/lib_images.sh (debootstrap, built once and kept).
set -euo pipefail
set -E
# shellcheck disable=SC2154  # _rc is assigned inside the trap string itself
trap '_rc=$?; [[ $- == *e* ]] && echo "FAIL: unexpected exit status $_rc at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}" >&2' ERR

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$SRC/tests/systemd
export CONTAINERS_CONF=${CONTAINERS_CONF:-$SRC/tests/container/containers.conf}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm}
IMAGE=localhost/pgtier-systemd:bookworm
PGTIER=${PGTIER:-$SRC/build/pgtier}
B=/var/backups/pgtier # the units' backup directory

T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[ -x "$PGTIER" ] || fail "no $PGTIER: build it first (make systemd-test does)"
WORK=$(mktemp -d /tmp/pgtier-sd.XXXXXX)
C=pgtier-sd-$$
STARTED=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$STARTED" ]; then
        if [ "$rc" -ne 0 ]; then
            echo "---- journal of the pgtier and postgresql units (last 150 lines) ----" >&2
            podman exec "$C" journalctl --no-pager -n 150 -u pgtier.service -u 'pgtier-backup@*' \
                -u 'pgtier-backup-*.timer' -u postgresql@15-main.service >&2 2>&1
            echo "---- systemctl --failed ----" >&2
            podman exec "$C" systemctl --no-pager --failed >&2 2>&1
        fi
        podman rm -f -t 5 "$C" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    [ "$rc" -eq 0 ] && say "systemd test passed" || say "systemd test FAILED"
    exit "$rc"
}
trap cleanup EXIT

# ---- the image: a bookworm host with systemd and PostgreSQL ---------------------------------------
# shellcheck source=../container/lib_images.sh
. "$SRC/tests/container/lib_images.sh"
use_bookworm_base "$BASE_IMAGE"
old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
say "building $IMAGE on $BOOKWORM_BASE (systemd, postgresql-15)"
podman build --network=host --build-arg BASE_IMAGE="$BOOKWORM_BASE" -t "$IMAGE" "$HERE" >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log" >&2; fail "building $IMAGE failed"; }
# A rebuild (Containerfile or base changed) leaves the previous image untagged: remove it.
if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    podman rmi "$old_id" >/dev/null 2>&1 || true
fi
pass "image $IMAGE"

# ---- boot -------------------------------------------------------------------------------------------
cx() { podman exec "$C" "$@"; }
psql_c() { # DB SQL — as the postgres OS user over the server's socket
    podman exec -u postgres "$C" psql -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"
}
wait_for() { # SECONDS WHAT CMD...
    local deadline=$(($(date +%s) + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for: $what"
        sleep 0.5
    done
}
journal_since() { # SINCE UNIT — the unit's journal messages since an epoch second
    cx journalctl --no-pager -o cat --since "@$1" -u "$2"
}
show() { # UNIT PROPERTY — one property's value
    cx systemctl show -p "$2" --value "$1"
}

STARTED=1
podman run -d --name "$C" --hostname pgtier-sd --systemd=always --network=none --cap-add=SYS_ADMIN \
    "$IMAGE" >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; fail "podman run of $C failed"; }
[ "$(cx cat /proc/1/comm)" = systemd ] || fail "PID 1 in $C is not systemd"
# Until PID 1 has opened its bus, systemctl prints nothing and fails at once (seen on a loaded
# host): retry that; --wait then waits out "starting".
system_state() {
    state=$(cx timeout 120 systemctl is-system-running --wait 2>"$WORK/state.err") || true
    [ -n "$state" ]
}
wait_for 120 "systemd's bus in $C" system_state
[ "$state" = running ] || {
    cat "$WORK/state.err" >&2
    cx systemctl --no-pager --failed >&2
    fail "systemd in $C is '$state', not running"
}
wait_for 60 "postgresql@15-main" cx systemctl is-active -q postgresql@15-main.service
wait_for 60 "PostgreSQL accepting connections" cx pg_isready -q -h 127.0.0.1
pass "systemd $(cx systemctl --version | awk 'NR == 1 {print $2}') is PID 1 in $C ($state), postgresql@15-main active"

PASSWORD=sd-$RANDOM$RANDOM
psql_c postgres "ALTER ROLE postgres PASSWORD '$PASSWORD'"
psql_c postgres "CREATE DATABASE shop"
psql_c shop "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 1000) g"

# ---- install as docs/deployment.md says ----------------------------------------------------------------
# The systemd section of docs/deployment.md: its first sh block installs the daemon, its second the timers.
readme_block() { # N — the Nth sh block of the section
    awk -v n="$1" '/^### systemd \(a host without containers\)/ { on = 1; next }
        on && /^##/ { exit }
        on && /^```sh$/ { k++; inblock = (k == n); next }
        on && /^```$/ { inblock = 0; next }
        inblock { print }' "$SRC/docs/deployment.md"
}
INSTALL=$(readme_block 1 | grep -v 'journalctl .*-f') # the last line follows the journal forever
TIMERS=$(readme_block 2)
grep -q 'systemctl enable --now pgtier.service' <<<"$INSTALL" || fail "docs/deployment.md: no install block with systemctl enable --now pgtier.service"
grep -q 'systemctl start pgtier-backup@' <<<"$TIMERS" || fail "docs/deployment.md: no timer block with systemctl start pgtier-backup@…"

write_config() { # FULL INCREMENTAL [LOG_LEVEL] — my-pgtier.toml, as an operator would write it
    cat >"$WORK/src/my-pgtier.toml" <<TOML
[postgres]
host = "127.0.0.1"
port = 5432
user = "postgres"
password_file = "/etc/pgtier/postgres_password"

[storage]
dir = "$B"

[schedule]
full = "$1"
differential = "0 4 1 1 *"
incremental = "$2"

[compression]
threads = 1

[daemon]
log_level = "${3:-info}"
TOML
}
mkdir -p "$WORK/src/build"
cp "$PGTIER" "$WORK/src/build/pgtier"
cp -r "$SRC/systemd" "$WORK/src/systemd"
# Nothing fires by schedule until the test says so: the first full is the one the daemon takes at start.
write_config "0 3 1 1 *" "0 5 1 1 *"
printf '%s\n' "$PASSWORD" >"$WORK/src/my-password"
podman cp "$WORK/src" "$C:/src"

t_start=$(date +%s)
cx bash -euo pipefail -c "cd /src && $INSTALL" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" >&2; fail "the install commands of docs/deployment.md failed in $C"; }
pass "docs/deployment.md install commands ran as written ($(wc -l <<<"$INSTALL") lines): user $(cx id pgtier)"
[ "$(cx stat -c '%U:%G %a' $B /etc/pgtier /etc/pgtier/pgtier.toml /etc/pgtier/postgres_password | tr '\n' ' ')" = \
    "pgtier:pgtier 750 root:pgtier 750 root:pgtier 640 root:pgtier 640 " ] ||
    fail "owners/modes of $B, /etc/pgtier and its files are not as docs/deployment.md says: $(cx stat -c '%n %U:%G %a' $B /etc/pgtier /etc/pgtier/pgtier.toml /etc/pgtier/postgres_password)"

# ---- systemctl start (enable --now): the first full -------------------------------------------------------
full_count() { cx find $B/full -name '*_full.sql.bz2' -type f | wc -l; }
wait_for 120 "the daemon's first full in $B/full" cx test -e $B/full/latest_full.sql.bz2
FULL1=$(cx readlink $B/full/latest_full.sql.bz2)
cx bash -c "cd $B/full && sha256sum -c --quiet $FULL1.sha256" || fail "sha256sum -c $FULL1.sha256 failed"
[ "$(show pgtier.service ActiveState)" = active ] || fail "pgtier.service is not active after its first full"
pass "systemctl enable --now pgtier: full $FULL1 in $B/full, sha256sum -c of its sidecar OK"
live=$(cx runuser -u pgtier -- pgtier --config /etc/pgtier/pgtier.toml health --live) ||
    fail "pgtier health --live (as pgtier) with the unit running: $live"
pass "pgtier health --live as the pgtier user: $live"

# The sandbox, as the kernel sees it in the running daemon.
PID=$(show pgtier.service MainPID)
status=$(cx cat "/proc/$PID/status")
mounts=$(cx cat "/proc/$PID/mountinfo")
for want in 'NoNewPrivs:	1' 'Seccomp:	2' 'CapEff:	0000000000000000' 'CapBnd:	0000000000000000'; do
    grep -qx "$want" <<<"$status" || fail "the daemon's /proc/$PID/status lacks '$want'"
done
mount_opts() { awk -v m="$1" '$5 == m { o = $6 } END { print o }' <<<"$mounts"; } # the last mount on M wins
[[ $(mount_opts /) == ro,* ]] || fail "/ is not read-only for the daemon (ProtectSystem=strict not in force): $(mount_opts /)"
[[ $(mount_opts $B) == rw,* ]] || fail "$B is not writable for the daemon (ReadWritePaths=)"
awk '$5 == "/home"' <<<"$mounts" | grep -q inaccessible || fail "/home is not hidden from the daemon (ProtectHome=)"
awk '$5 == "/tmp"' <<<"$mounts" | grep -q 'systemd-private-.*-pgtier.service-' || fail "/tmp is not private to the daemon (PrivateTmp=)"
! cx journalctl --no-pager -u pgtier.service | grep -i 'namespace setup' || fail "systemd skipped some namespace setup for pgtier.service"
pass "sandbox in force in the daemon (pid $PID): / read-only, $B writable, /home hidden, private /tmp, no capabilities, no_new_privs, seccomp"

# ---- systemctl reload: SIGHUP, a new schedule that fires a big full, and systemctl stop during it -----------
# The full must still run when systemctl stop comes, however loaded the machine: a session holds
# an exclusive lock on big.t, so pg_dump of big waits until the session ends (after the stop).
psql_c postgres "CREATE DATABASE big"
psql_c big "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g"
podman exec -u postgres "$C" psql -X -q -d big \
    -c "SET application_name = 'pgtier-test-locker'" \
    -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
LOCKER=$!
fire=$(($(date +%s) + 8))
cron_full="$(date -u -d "@$fire" '+%-S %-M %-H') * * *" # 6 fields, seconds first, in UTC
write_config "$cron_full" "17 5 * * *" debug
podman cp "$WORK/src/my-pgtier.toml" "$C:/src/my-pgtier.toml"
cx install -m 0640 -g pgtier /src/my-pgtier.toml /etc/pgtier/pgtier.toml
t_reload=$(date +%s)
cx systemctl reload pgtier.service
wait_for 10 "'SIGHUP: configuration reloaded' in the journal" \
    bash -c "podman exec $C journalctl --no-pager -o cat --since @$t_reload -u pgtier.service | grep -q 'SIGHUP: configuration reloaded'"
[ "$(show pgtier.service MainPID)" = "$PID" ] || fail "systemctl reload restarted the daemon"
want_next="next: full at $(date -u -d "@$fire" '+%Y-%m-%dT%H:%M:%S')"
wait_for 10 "'$want_next' in the journal" bash -c "podman exec $C journalctl --no-pager -o cat --since @$t_reload -u pgtier.service | grep -qF '$want_next'"
cx pgtier status | grep -q '^incremental .*17 5 \* \* \*' || fail "pgtier status does not show the new incremental schedule"
pass "systemctl reload pgtier: SIGHUP reloaded the configuration in the same process (journal: $want_next, full '$cron_full')"

wait_for 40 "the scheduled full's .partial in $B/full" bash -c "[ -n \"\$(podman exec $C find $B/full -name '*.partial')\" ]"
partial=$(cx find $B/full -name '*.partial' -printf '%f')
journal_since "$t_reload" pgtier.service | grep -q 'running full backup (scheduled)' ||
    fail "the reloaded schedule's full did not start as scheduled"
t_stop=$(date +%s%N)
cx systemctl stop pgtier.service
stop_ms=$((($(date +%s%N) - t_stop) / 1000000))
result=$(cx systemctl show -p ExecMainCode,ExecMainStatus,Result pgtier.service | sort | tr '\n' ' ')
[ "$result" = "ExecMainCode=1 ExecMainStatus=0 Result=success " ] ||
    fail "systemctl stop during a dump: $result (want the daemon to exit 0 by itself: ExecMainCode=1 ExecMainStatus=0 Result=success)"
left=$(cx find $B -name '*.partial')
[ -z "$left" ] || fail "partial files left after systemctl stop: $left"
[ "$(full_count)" = 1 ] || fail "the blocked full was published before the stop: $(cx ls $B/full)"
journal_since "$t_reload" pgtier.service | grep -q 'full backup stopped' || fail "the daemon did not log the stopped full"
journal_since "$t_reload" pgtier.service | grep -q 'stop requested: daemon exiting' || fail "the daemon did not log its stop"
! live=$(cx runuser -u pgtier -- pgtier --config /etc/pgtier/pgtier.toml health --live) &&
    grep -q '^not alive: no daemon heartbeat' <<<"$live" || fail "health --live after the stop: $live"
pass "systemctl stop pgtier during the scheduled full ($partial): stopped in ${stop_ms} ms, $result- no partial left, only $FULL1 published; health --live: $live"
psql_c postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgtier-test-locker'" >/dev/null
wait "$LOCKER" || true
psql_c postgres "DROP DATABASE big"

# ---- the timers instead of the daemon -------------------------------------------------------------------
cx systemctl disable -q --now pgtier.service
cx bash -euo pipefail -c "cd /src && $TIMERS" >"$WORK/timers.log" 2>&1 ||
    { cat "$WORK/timers.log" >&2; fail "the timer commands of docs/deployment.md failed in $C"; }
for t in full diff incr; do
    [ "$(show "pgtier-backup-$t.timer" ActiveState)" = active ] || fail "pgtier-backup-$t.timer is not active"
done
FULL2=$(cx readlink $B/full/latest_full.sql.bz2)
[ "$FULL2" != "$FULL1" ] || fail "systemctl start pgtier-backup@full.service published no new full"
[ "$(show pgtier-backup@full.service Result)" = success ] || fail "pgtier-backup@full.service did not succeed"
pass "docs/deployment.md timer commands: 3 timers active, pgtier-backup@full.service took $FULL2"

unit_run() { # INSTANCE — systemctl start (waits for the oneshot), then its exit status
    cx systemctl start "pgtier-backup@$1.service"
    [ "$(cx systemctl show -p ExecMainCode,ExecMainStatus,Result "pgtier-backup@$1.service" | sort | tr '\n' ' ')" = \
        "ExecMainCode=1 ExecMainStatus=0 Result=success " ] || fail "pgtier-backup@$1.service did not exit 0"
}
psql_c shop "INSERT INTO orders SELECT g, 'new' FROM generate_series(1001, 1100) g"
unit_run incr
INCR1=$(cx readlink $B/incremental/latest_incremental.sql.bz2) || fail "pgtier-backup@incr.service published no incremental"
t_skip=$(date +%s)
unit_run incr
journal_since "$t_skip" 'pgtier-backup@incr.service' | grep -q 'incremental: skipped' ||
    fail "a no-change pgtier-backup@incr.service was not skipped"
pass "systemctl start pgtier-backup@incr.service: $INCR1 after a change; no change -> skipped, exit 0"

# The incremental timer, moved a few seconds ahead by a drop-in.
psql_c shop "INSERT INTO orders SELECT g, 'timer' FROM generate_series(1101, 1200) g"
fire=$(($(date +%s) + 6))
when=$(date -u -d "@$fire" '+%Y-%m-%d %H:%M:%S UTC')
cx mkdir -p /etc/systemd/system/pgtier-backup-incr.timer.d
cx bash -c "printf '[Timer]\nOnCalendar=\nOnCalendar=$when\nAccuracySec=1s\n' >/etc/systemd/system/pgtier-backup-incr.timer.d/soon.conf"
cx systemctl daemon-reload
cx systemctl restart pgtier-backup-incr.timer
[ "$(show pgtier-backup-incr.timer TimersCalendar)" != "" ] || fail "no calendar on pgtier-backup-incr.timer"
new_incr() { [ "$(podman exec "$C" readlink $B/incremental/latest_incremental.sql.bz2)" != "$INCR1" ]; }
wait_for 60 "pgtier-backup-incr.timer firing at $when" new_incr
wait_for 30 "pgtier-backup@incr.service to finish" bash -c "[ \"\$(podman exec $C systemctl show -p ActiveState --value pgtier-backup@incr.service)\" = inactive ]"
INCR2=$(cx readlink $B/incremental/latest_incremental.sql.bz2)
[ "$(show pgtier-backup@incr.service Result)" = success ] || fail "the timer's pgtier-backup@incr.service did not succeed"
[ "$(show pgtier-backup-incr.timer LastTriggerUSec)" != n/a ] || fail "pgtier-backup-incr.timer records no trigger"
[ "$(cx date -u -d "$(show pgtier-backup-incr.timer LastTriggerUSec)" +%s)" -ge "$fire" ] ||
    fail "pgtier-backup-incr.timer last fired before $when"
[[ ${INCR2%%_incremental*} > $(date -u -d "@$((fire - 1))" +%Y%m%d_%H%M%S) ]] || fail "$INCR2 is older than the timer's $when"
pass "pgtier-backup-incr.timer (drop-in OnCalendar=$when) fired: $INCR2"

for tier in full incremental; do
    cx bash -c "cd $B/$tier && sha256sum -c --quiet ./*.sha256" || fail "sha256sum -c in $B/$tier failed"
done
cx pgtier status | grep -q '^incremental .*published' || fail "pgtier status does not show the timer's incremental"
pass "sha256sum -c of every sidecar in $B; pgtier status shows the timers' runs"
say "done in $(($(date +%s) - T0)) s (install to last check: $(($(date +%s) - t_start)) s)"
