#!/usr/bin/env bash
# shellcheck disable=SC2016  # the expected texts hold literal $cid, $image and $MAINPID
# Checks the deployment files without a Docker engine or an installed service:
#   1. systemd/: `systemd-analyze verify` on every unit (a copy whose ExecStart names the built
#      binary, since verify wants an existing executable), the hardening lines, the timers'
#      targets, and sysusers/tmpfiles applied to a scratch root;
#   2. swarm/: `docker stack config` (client-side) on the stack file, with the variables the
#      Makefile sets and with none, and what the deployment needs in its output; pgtier.toml
#      loaded by the built binary; postgresql.conf parsed by a local PostgreSQL server binary;
#   3. Makefile: `make -n` of every operator target prints the expected command, and the
#      docker exec targets run against a stub docker (found / no container).
# Prints "ok: …", "skip: …" (a tool is missing) and "FAIL: …"; exits 1 when anything failed.
# Usage: tests/deploy/check_deploy_files.sh   (from anywhere; uses $PGTIER, else build/pgtier, when present)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
T=$(mktemp -d "${TMPDIR:-/tmp}/pgtier-deploy-check.XXXXXX")
trap 'rm -rf "$T"' EXIT

FAILS=0
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    FAILS=$((FAILS + 1))
}
SKIPPED=()
skip() {
    printf '\nskip: ******** %s ********\n\n' "$*"
    SKIPPED+=("$*")
}
# check DESCRIPTION COMMAND...: ok when the command succeeds, else FAIL.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

VERSION=$(cat VERSION)
PGTIER_BIN=${PGTIER:-$REPO/build/pgtier}  # make container-test: the Release build
sha12() { sha256sum "$1" | cut -c1-12; }

# Make and the stack file must see only what this script sets.
unset REGISTRY PGTIER_IMAGE POSTGRES_IMAGE BACKUP_DIR STACK STACK_FILE DOCKER IMAGE ARGS PG_IMAGE \
    PGTIER_CONF_DIGEST POSTGRESQL_CONF_DIGEST TZ MAKEFLAGS MAKELEVEL POSTGRES_PASSWORD_SECRET \
    DEPLOY_ENV DEPLOY_TIMEOUT 2>/dev/null || true
mk() { make -C "$REPO" --no-print-directory "$@"; }

# ------------------------------------------------------------------------------------------------
echo "== systemd units"
UNITS=(pgtier.service pgtier-backup@.service)
TIMERS=(pgtier-backup-full.timer pgtier-backup-diff.timer pgtier-backup-incr.timer)
for f in "${UNITS[@]}" "${TIMERS[@]}" pgtier.sysusers.conf pgtier.tmpfiles.conf; do
    check "systemd/$f exists" test -f "systemd/$f"
done

for unit in "${UNITS[@]}"; do
    f="systemd/$unit"
    [ -f "$f" ] || continue
    lacking=0
    for line in 'User=pgtier' 'Group=pgtier' \
        'ExecStart=/usr/local/bin/pgtier --config /etc/pgtier/pgtier.toml ' \
        'ProtectSystem=strict' 'ReadWritePaths=/var/backups/pgtier' 'NoNewPrivileges=yes' \
        'PrivateTmp=yes' 'ProtectHome=yes' 'PrivateDevices=yes' 'ProtectKernelTunables=yes' \
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallArchitectures=native' \
        'LockPersonality=yes' 'RestrictRealtime=yes' 'UMask=0027' 'KillMode=mixed' 'TimeoutStopSec='; do
        if ! grep -q "^${line}" "$f"; then
            fail "$unit lacks '$line'"
            lacking=1
        fi
    done
    if grep -q '^DynamicUser=yes' "$f"; then
        fail "$unit uses DynamicUser (backups need a stable owner)"
        lacking=1
    fi
    [ "$lacking" -eq 1 ] || ok "$unit: user pgtier, ExecStart, hardening lines"
done
check "pgtier.service: daemon, reload by SIGHUP, Restart=on-failure" \
    grep -qzP 'ExecStart=/usr/local/bin/pgtier --config /etc/pgtier/pgtier.toml daemon\n(.*\n)*ExecReload=/bin/sh -c .kill -HUP "\$\$MAINPID".\n(.*\n)*Restart=on-failure\n' \
    systemd/pgtier.service

if command -v systemd-analyze >/dev/null 2>&1; then
    # verify insists that ExecStart's binary exists: check a copy that names the built one.
    exe=$PGTIER_BIN
    if [ ! -x "$exe" ]; then
        exe=$(command -v true)
        echo "note: $PGTIER_BIN not built; the verify copies run $exe instead"
    fi
    mkdir -p "$T/units"
    for f in "${UNITS[@]}" "${TIMERS[@]}"; do
        [ -f "systemd/$f" ] && sed "s|/usr/local/bin/pgtier|$exe|g" "systemd/$f" >"$T/units/$f"
    done
    check "the verify copy of pgtier.service runs $exe" grep -q "^ExecStart=$exe " "$T/units/pgtier.service"
    # Every template instance the timers start, and the template itself.
    instances=()
    for timer in "${TIMERS[@]}"; do
        target=$(sed -n 's/^Unit=//p' "systemd/$timer")
        instances+=("$target")
        if [ -n "$target" ] && [ -f "systemd/${target%%@*}@.service" ]; then
            ok "$timer starts $target (template in systemd/)"
        else
            fail "$timer starts '$target', which no unit in systemd/ provides"
        fi
    done
    # verify exits 0 on unknown keys and bad values (it only warns): any output is a failure.
    set +e
    out=$(cd "$T/units" && systemd-analyze verify "${UNITS[@]}" "${TIMERS[@]}" "${instances[@]}" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        ok "systemd-analyze verify: ${UNITS[*]} ${TIMERS[*]} ${instances[*]}"
    else
        fail "systemd-analyze verify (exit $rc):"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
        # --threshold is in tenths of the printed exposure level (25 = 2.5 of 10).
        for unit in pgtier.service pgtier-backup@full.service; do
            set +e
            (cd "$T/units" && systemd-analyze security --offline=yes --threshold=25 "$unit") >"$T/security.out" 2>&1
            rc=$?
            set -e
            score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.out")
            if [ "$rc" -eq 0 ] && [ -n "$score" ]; then
                ok "systemd-analyze security $unit: exposure $score (at most 2.5)"
            else
                fail "systemd-analyze security $unit (exit $rc): exposure '${score:-?}' above 2.5 or not computed"
            fi
        done
    else
        skip "systemd-analyze security --offline is not available: exposure not scored"
    fi
else
    skip "systemd-analyze not found: the units were NOT verified"
fi

if command -v systemd-sysusers >/dev/null 2>&1 && command -v systemd-tmpfiles >/dev/null 2>&1; then
    R="$T/root"
    mkdir -p "$R/etc/sysusers.d" "$R/etc/tmpfiles.d"
    cp /etc/passwd /etc/group "$R/etc/"
    cp systemd/pgtier.sysusers.conf "$R/etc/sysusers.d/pgtier.conf"
    cp systemd/pgtier.tmpfiles.conf "$R/etc/tmpfiles.d/pgtier.conf"
    if systemd-sysusers --root="$R" >"$T/sysusers.log" 2>&1 && grep -q '^pgtier:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$R/etc/passwd"; then
        ok "systemd-sysusers creates the system user pgtier (scratch root)"
    else
        fail "systemd-sysusers with systemd/pgtier.sysusers.conf: $(cat "$T/sysusers.log")"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        if systemd-tmpfiles --root="$R" --create >"$T/tmpfiles.log" 2>&1 &&
            [ "$(stat -c '%a' "$R/var/backups/pgtier")" = 750 ] && [ "$(stat -c '%a' "$R/etc/pgtier")" = 750 ]; then
            ok "systemd-tmpfiles creates /var/backups/pgtier and /etc/pgtier, mode 0750 (scratch root)"
        else
            fail "systemd-tmpfiles with systemd/pgtier.tmpfiles.conf: $(cat "$T/tmpfiles.log")"
        fi
    else
        skip "not root: systemd-tmpfiles (chown to pgtier) not tried"
    fi
else
    skip "systemd-sysusers/systemd-tmpfiles not found"
fi

# ------------------------------------------------------------------------------------------------
echo "== swarm stack"
STACK_FILE=swarm/docker-compose.swarm.yml
for f in "$STACK_FILE" swarm/pgtier.toml swarm/postgresql.conf; do check "$f exists" test -f "$f"; done
check "the stack's default pgtier image is pgtier:$VERSION (VERSION)" \
    grep -qF "\${PGTIER_IMAGE:-pgtier:$VERSION}" "$STACK_FILE"
# The default server image has one place, swarm/deploy.env; the stack file's and the Dockerfile's
# defaults (used without the Makefile) must say the same.
PG_DEFAULT=$(sed -n 's/^POSTGRES_IMAGE *= *//p' swarm/deploy.env)
check "swarm/deploy.env names the default server image ($PG_DEFAULT)" grep -qE '^postgres:[0-9]+-' <<<"$PG_DEFAULT"
check "the stack file's default server image is swarm/deploy.env's ($PG_DEFAULT)" \
    grep -qF "\${POSTGRES_IMAGE:-$PG_DEFAULT}" "$STACK_FILE"
check "docker/Dockerfile's default PG_IMAGE is swarm/deploy.env's ($PG_DEFAULT)" \
    grep -qxF "ARG PG_IMAGE=$PG_DEFAULT" docker/Dockerfile

# `docker stack config` came with the Docker CLI 23.0; 20.10 (Debian 12's docker.io) answers
# `docker stack config --help` with the usage of `docker stack`, exit 0.
if command -v docker >/dev/null 2>&1 && docker stack config --help 2>/dev/null | grep -q 'docker stack config'; then
    if python3 -c 'import yaml' 2>/dev/null; then
        # check_stack FILE IMAGE PGTIER_CONF POSTGRESQL_CONF BACKUP_DIR TZ SECRET PG_IMAGE: the
        # rendered stack.
        check_stack() {
            python3 - "$@" <<'PY'
import sys, yaml
path, image, pgtier_conf, pg_conf, backup_dir, tz, secret, pg_image = sys.argv[1:]
doc = yaml.safe_load(open(path))
bad = []
def need(cond, what):
    if not cond: bad.append(what)
svc = doc.get("services", {})
need(set(svc) == {"postgres", "pgtier"}, f"services are postgres and pgtier (got {sorted(svc)})")
pg, pt = svc.get("postgres", {}), svc.get("pgtier", {})
need(pg.get("image") == pg_image, f"postgres image {pg_image} (got {pg.get('image')})")
need(pt.get("image") == image, f"pgtier image {image} (got {pt.get('image')})")
need("config_file=/etc/postgresql/postgresql.conf" in (pg.get("command") or []),
     "postgres runs with -c config_file=/etc/postgresql/postgresql.conf")
for name, s in (("postgres", pg), ("pgtier", pt)):
    d = s.get("deploy", {})
    need(d.get("replicas") == 1, f"{name}: replicas 1")
    need("node.labels.database == true" in d.get("placement", {}).get("constraints", []),
         f"{name}: placement node.labels.database == true")
    r = d.get("resources", {})
    for kind in ("limits", "reservations"):
        need(r.get(kind, {}).get("memory") and r.get(kind, {}).get("cpus"), f"{name}: resources.{kind} memory and cpus")
    need(d.get("restart_policy", {}).get("condition") in ("any", "on-failure"), f"{name}: restart_policy")
    env = s.get("environment", {})
    need(env.get("TZ") == tz, f"{name}: TZ={tz} (got {env.get('TZ')})")
    need(env.get("POSTGRES_PASSWORD_FILE") == "/run/secrets/postgres_password", f"{name}: POSTGRES_PASSWORD_FILE")
    need(any(x.get("source") == "postgres_password" for x in s.get("secrets", [])), f"{name}: secret postgres_password")
    need("backend" in (s.get("networks") or {}), f"{name}: on network backend")
    hc = s.get("healthcheck", {})
    need(hc.get("test") and hc.get("interval") and hc.get("start_period"), f"{name}: healthcheck with interval and start_period")
need("pg_isready" in (pg.get("healthcheck", {}).get("test") or []), "postgres: healthcheck pg_isready")
need(pt.get("healthcheck", {}).get("test") == ["CMD", "pgtier", "health", "--live"], "pgtier: healthcheck CMD pgtier health --live")
binds = [v for v in pt.get("volumes", []) if v.get("type") == "bind"]
need(len(binds) == 1 and binds[0].get("source") == backup_dir and binds[0].get("target") == "/backups"
     and binds[0].get("bind", {}).get("propagation") == "rslave",
     f"pgtier: bind {backup_dir} at /backups with propagation rslave (got {binds})")
need(any(v.get("type") == "volume" and v.get("source") == "pgdata" for v in pg.get("volumes", [])),
     "postgres: data in the named volume pgdata")
need("pgdata" in doc.get("volumes", {}), "volume pgdata declared")
net = doc.get("networks", {}).get("backend", {})
need(net.get("driver") == "overlay" and net.get("attachable") is True, "network backend: overlay, attachable")
sec = doc.get("secrets", {}).get("postgres_password", {})
need(sec.get("external") is True and sec.get("name") == secret,
     f"secret postgres_password is external, named {secret} (got {sec.get('name')})")
need(pg.get("deploy", {}).get("endpoint_mode") == "dnsrr", "postgres: endpoint_mode dnsrr (no virtual IP, no IPVS)")
cfg = doc.get("configs", {})
need(cfg.get("pgtier-conf", {}).get("name") == pgtier_conf, f"config pgtier-conf named {pgtier_conf} (got {cfg.get('pgtier-conf', {}).get('name')})")
need(cfg.get("postgresql-conf", {}).get("name") == pg_conf, f"config postgresql-conf named {pg_conf} (got {cfg.get('postgresql-conf', {}).get('name')})")
need(str(cfg.get("pgtier-conf", {}).get("file", "")).endswith("/swarm/pgtier.toml"), "config pgtier-conf from swarm/pgtier.toml")
need(str(cfg.get("postgresql-conf", {}).get("file", "")).endswith("/swarm/postgresql.conf"), "config postgresql-conf from swarm/postgresql.conf")
ptc = [c for c in pt.get("configs", []) if c.get("source") == "pgtier-conf"]
need(ptc and ptc[0].get("target") == "/etc/pgtier/pgtier.toml" and ptc[0].get("uid") == "10001"
     and (ptc[0].get("mode", 0o444) & 0o440) == 0o440, "pgtier: pgtier-conf at /etc/pgtier/pgtier.toml, readable by uid 10001")
pgc = [c for c in pg.get("configs", []) if c.get("source") == "postgresql-conf"]
need(pgc and pgc[0].get("target") == "/etc/postgresql/postgresql.conf", "postgres: postgresql-conf at /etc/postgresql/postgresql.conf")
pts = [x for x in pt.get("secrets", []) if x.get("source") == "postgres_password"]
need(pts and pts[0].get("uid", "10001") == "10001", "pgtier: the secret is readable by uid 10001")
for b in bad: print("    missing: " + b)
sys.exit(1 if bad else 0)
PY
        }
        # As the Makefile deploys it (make stack-config runs `docker stack config` with its variables).
        if mk -s stack-config TZ=Europe/Berlin >"$T/stack-make.yml" 2>"$T/stack-make.err"; then
            check "docker stack config with the Makefile's variables: all required settings" \
                check_stack "$T/stack-make.yml" "pgtier:$VERSION" "pgtier-conf-$(sha12 swarm/pgtier.toml)" \
                "pgtier-postgresql-conf-$(sha12 swarm/postgresql.conf)" /srv/pgtier/backups Europe/Berlin postgres_password "$PG_DEFAULT"
        else
            fail "make stack-config: $(cat "$T/stack-make.err")"
        fi
        if mk -s stack-config REGISTRY=reg.example:5000 BACKUP_DIR=/mnt/b STACK=db POSTGRES_PASSWORD_SECRET=pw_v2 \
            >"$T/stack-reg.yml" 2>"$T/stack-reg.err"; then
            check "docker stack config with REGISTRY, BACKUP_DIR, STACK, POSTGRES_PASSWORD_SECRET set: image, bind source, config and secret names follow" \
                check_stack "$T/stack-reg.yml" "reg.example:5000/pgtier:$VERSION" "db-conf-$(sha12 swarm/pgtier.toml)" \
                "db-postgresql-conf-$(sha12 swarm/postgresql.conf)" /mnt/b UTC pw_v2 "$PG_DEFAULT"
        else
            fail "make stack-config REGISTRY=…: $(cat "$T/stack-reg.err")"
        fi
        # Without the Makefile: every variable unset, the defaults apply.
        if docker stack config -c "$STACK_FILE" >"$T/stack-plain.yml" 2>"$T/stack-plain.err"; then
            check "docker stack config with no variables set: defaults" \
                check_stack "$T/stack-plain.yml" "pgtier:$VERSION" pgtier-conf-initial \
                pgtier-postgresql-conf-initial /srv/pgtier/backups UTC postgres_password "$PG_DEFAULT"
        else
            fail "docker stack config -c $STACK_FILE: $(cat "$T/stack-plain.err")"
        fi
        if [ -s "$T/stack-plain.err" ]; then fail "docker stack config warned: $(cat "$T/stack-plain.err")"; fi
    else
        skip "python3 with PyYAML not found: the rendered stack was NOT checked"
    fi
else
    skip "no docker CLI with 'docker stack config' (needs 23.0 or later; $(docker version --format 'this one is {{.Client.Version}}' 2>/dev/null || echo 'none found')): the rendered stack file was NOT checked (make stack-config's message for it is checked below)"
fi

if [ -x "$PGTIER_BIN" ]; then
    mkdir -p "$T/backups"
    if "$PGTIER_BIN" --config swarm/pgtier.toml --dir "$T/backups" status >"$T/status.out" 2>&1 &&
        "$PGTIER_BIN" --config swarm/pgtier.toml --dir "$T/backups" prune --dry-run >>"$T/status.out" 2>&1; then
        ok "$PGTIER_BIN loads swarm/pgtier.toml (status, prune --dry-run exit 0)"
    else
        fail "build/pgtier does not accept swarm/pgtier.toml: $(cat "$T/status.out")"
    fi
else
    skip "$PGTIER_BIN not built (make): swarm/pgtier.toml was NOT loaded"
fi

# postgresql.conf, parsed by any local server binary: `postgres -C` reads the file and exits.
# shellcheck disable=SC2012  # newest installed PostgreSQL; no match must give nothing, not the glob
PG_SERVER=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$PG_SERVER" ] || PG_SERVER=$(command -v postgres || true)
if [ -n "$PG_SERVER" ]; then
    mkdir -p "$T/pgconf/data"
    cp swarm/postgresql.conf "$T/pgconf/"
    as_pg=()
    if [ "$(id -u)" -eq 0 ]; then
        # shellcheck disable=SC2012  # the first runuser that exists; no match must give nothing
        runuser=$(command -v runuser || ls /usr/sbin/runuser /sbin/runuser 2>/dev/null | head -n1 || true)
        if id postgres >/dev/null 2>&1 && [ -n "$runuser" ]; then
            as_pg=("$runuser" -u postgres --)
            chown -R postgres "$T/pgconf"
            chmod 755 "$T"
        else
            PG_SERVER=
        fi
    fi
    if [ -n "$PG_SERVER" ]; then
        if got=$("${as_pg[@]}" "$PG_SERVER" -D "$T/pgconf/data" -c config_file="$T/pgconf/postgresql.conf" \
            -C listen_addresses 2>"$T/pgconf.err") && [ "$got" = '*' ]; then
            ok "swarm/postgresql.conf parses ($("$PG_SERVER" --version)); listen_addresses = '*'"
        else
            fail "swarm/postgresql.conf with $PG_SERVER: '$got' $(grep -v 'skipping missing' "$T/pgconf.err")"
        fi
    else
        skip "running as root without a postgres user or runuser: swarm/postgresql.conf NOT parsed"
    fi
else
    skip "no PostgreSQL server binary: swarm/postgresql.conf NOT parsed"
fi

# ------------------------------------------------------------------------------------------------
echo "== Makefile operator targets (make -n)"
# expect_n "MAKE ARGS" PATTERN...: `make -n MAKE ARGS` prints every fixed-string PATTERN.
expect_n() {
    local args=$1
    shift
    local out
    # shellcheck disable=SC2086
    if ! out=$(mk -n $args 2>&1); then
        fail "make -n $args failed: $out"
        return
    fi
    local p missing=()
    for p in "$@"; do
        grep -qF -- "$p" <<<"$out" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "make -n $args: $(head -c 150 <<<"${out//$'\n'/ ; }")…"
    else
        fail "make -n $args does not mention: ${missing[*]}"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}
FIND='docker ps -q -f label=com.docker.swarm.service.name=pgtier_pgtier'
expect_n "build" "docker build -f docker/Dockerfile" "--build-arg PG_IMAGE=$PG_DEFAULT" "-t pgtier:$VERSION ."
expect_n "build DOCKER=podman PG_IMAGE=postgres:18-bookworm" "podman build -f docker/Dockerfile --format docker" \
    "--build-arg PG_IMAGE=postgres:18-bookworm"
expect_n "push REGISTRY=reg.example:5000" "docker tag pgtier:$VERSION reg.example:5000/pgtier:$VERSION" \
    "docker push reg.example:5000/pgtier:$VERSION"
for t in deploy update; do
    expect_n "$t" "STACK=pgtier" "PGTIER_IMAGE=pgtier:$VERSION" "PGTIER_CONF_DIGEST=$(sha12 swarm/pgtier.toml)" \
        "POSTGRESQL_CONF_DIGEST=$(sha12 swarm/postgresql.conf)" "BACKUP_DIR=/srv/pgtier/backups" \
        "POSTGRES_PASSWORD_SECRET=postgres_password" "POSTGRES_IMAGE=$PG_DEFAULT" "TZ=UTC" \
        "docker stack deploy" "-c swarm/docker-compose.swarm.yml pgtier" "swarm/wait-converged.sh pgtier 300"
done
# Another variables file (DEPLOY_ENV): deploy and the docker exec targets follow it; the command
# line wins over it, the environment does not (an exported TZ would otherwise move the schedules).
cat >"$T/deploy.env" <<'ENV'
STACK = db
BACKUP_DIR = /mnt/x
TZ = Asia/Tokyo
POSTGRES_IMAGE = postgres:18-bookworm
POSTGRES_PASSWORD_SECRET = pw_v3
ENV
expect_n "deploy DEPLOY_ENV=$T/deploy.env DEPLOY_TIMEOUT=60" "STACK=db" "BACKUP_DIR=/mnt/x" "TZ=Asia/Tokyo" \
    "POSTGRES_IMAGE=postgres:18-bookworm" "POSTGRES_PASSWORD_SECRET=pw_v3" "-c swarm/docker-compose.swarm.yml db" \
    "swarm/wait-converged.sh db 60"
expect_n "deploy DEPLOY_ENV=$T/deploy.env TZ=UTC BACKUP_DIR=/mnt/y" "TZ=UTC" "BACKUP_DIR=/mnt/y" "STACK=db"
if out=$(TZ=Europe/Paris mk -n deploy DEPLOY_ENV="$T/deploy.env" 2>&1) && grep -q 'TZ=Asia/Tokyo' <<<"$out"; then
    ok "TZ in the environment does not override the variables file's"
else
    fail "TZ=Europe/Paris make -n deploy with a variables file saying Asia/Tokyo: $out"
fi
expect_n "backup-list DEPLOY_ENV=$T/deploy.env" "label=com.docker.swarm.service.name=db_pgtier"
expect_n "build DEPLOY_ENV=$T/deploy.env" "--build-arg PG_IMAGE=postgres:18-bookworm"
expect_n "deploy REGISTRY=reg.example:5000 STACK=db BACKUP_DIR=/mnt/b" "PGTIER_IMAGE=reg.example:5000/pgtier:$VERSION" \
    "BACKUP_DIR=/mnt/b" "--with-registry-auth" "-c swarm/docker-compose.swarm.yml db"
expect_n "remove" "docker stack rm pgtier"
expect_n "ps" "docker stack ps pgtier"
expect_n "logs" "docker service logs -f pgtier_pgtier"
expect_n "logs STACK=db" "docker service logs -f db_pgtier"
expect_n "shell" "$FIND" "docker exec -it" "no running pgtier_pgtier container"
expect_n "backup-full" "$FIND" 'docker exec "$cid" pgtier backup full' "no running pgtier_pgtier container"
expect_n "backup-full ARGS=--force" 'pgtier backup full --force'
expect_n "backup-diff" "$FIND" 'docker exec "$cid" pgtier backup diff'
expect_n "backup-incr" "$FIND" 'docker exec "$cid" pgtier backup incr'
expect_n "backup-list" "$FIND" 'docker exec "$cid" pgtier list'
expect_n "backup-verify" "$FIND" 'docker exec "$cid" pgtier verify'
expect_n "backup-status" "$FIND" 'docker exec "$cid" pgtier status'
expect_n "backup-health" "$FIND" 'docker exec "$cid" pgtier health'
expect_n "backup-restore ARGS=restore-latest" "$FIND" 'docker exec "$cid" backup-restore.sh restore-latest'
expect_n "clean" "rm -rf build build-asan build-release build-tidy" 'docker image rm "$image"' "pgtier:$VERSION" \
    "docker image prune -a -f --filter label=pgtier.stage=build"
check "docker/Dockerfile labels its build stage pgtier.stage=build (make clean prunes by it)" \
    grep -qx 'LABEL pgtier.stage=build' docker/Dockerfile
# clean touches build output and the image only.
clean_rm=$(mk -n clean | grep -o 'rm -rf.*' || true)
if [ "$clean_rm" = "rm -rf build build-asan build-release build-tidy" ] && ! mk -n clean | grep -qE 'backups|volume|stack|/srv|/var'; then
    ok "make clean removes only build build-asan build-release build-tidy and the image"
else
    fail "make clean does more than build output and the image: $(mk -n clean)"
fi

echo "== Makefile operator targets against a stub docker"
cat >"$T/docker" <<'SH'
#!/bin/sh
# Stub: `ps` prints $STUB_CID (a running container, or none); `image inspect` finds $STUB_IMAGE;
# everything else is logged.
echo "$*" >>"$STUB_LOG"
case "$1" in
    ps) [ -z "${STUB_CID:-}" ] || echo "$STUB_CID" ;;
    image) [ "$2" != inspect ] || [ "$3" = "${STUB_IMAGE:-}" ] ;;
esac
SH
chmod +x "$T/docker"
export STUB_LOG="$T/stub.log"
: >"$STUB_LOG"
if STUB_CID=c0ffee mk -s backup-full DOCKER="$T/docker" >"$T/run.out" 2>&1 &&
    grep -qx 'exec c0ffee pgtier backup full' "$STUB_LOG" &&
    grep -qx 'ps -q -f label=com.docker.swarm.service.name=pgtier_pgtier' "$STUB_LOG"; then
    ok "make backup-full execs 'pgtier backup full' in the container that docker ps finds"
else
    fail "make backup-full with a running container: $(cat "$T/run.out" "$STUB_LOG")"
fi
: >"$STUB_LOG"
if STUB_CID=c0ffee mk -s backup-restore ARGS='restore-database latest-full shop' DOCKER="$T/docker" >"$T/run.out" 2>&1 &&
    grep -qx 'exec c0ffee backup-restore.sh restore-database latest-full shop' "$STUB_LOG"; then
    ok "make backup-restore ARGS='restore-database latest-full shop' runs backup-restore.sh with them"
else
    fail "make backup-restore ARGS=…: $(cat "$T/run.out" "$STUB_LOG")"
fi
: >"$STUB_LOG"
if STUB_CID='' mk -s backup-list DOCKER="$T/docker" >"$T/run.out" 2>&1; then
    fail "make backup-list succeeded with no running container"
elif grep -q 'no running pgtier_pgtier container on this node' "$T/run.out" && ! grep -q '^exec' "$STUB_LOG"; then
    ok "make backup-list with no running container fails: $(head -n1 "$T/run.out")"
else
    fail "make backup-list with no running container: $(cat "$T/run.out" "$STUB_LOG")"
fi
if mk -s backup-restore DOCKER="$T/docker" >"$T/run.out" 2>&1; then
    fail "make backup-restore without ARGS succeeded"
else
    check "make backup-restore without ARGS fails with a usage line" grep -q '^usage: make backup-restore ARGS=' "$T/run.out"
fi
# A CLI without `docker stack config` (the stub, like Debian's 20.10): a clear refusal.
if mk -s stack-config DOCKER="$T/docker" >"$T/run.out" 2>&1; then
    fail "make stack-config with a docker lacking 'stack config' succeeded"
else
    check "make stack-config with a docker lacking 'stack config' names the minimum CLI version" \
        grep -q 'needs the Docker CLI 23.0 or later' "$T/run.out"
fi
if mk -s push >"$T/run.out" 2>&1; then fail "make push without REGISTRY succeeded"; else
    check "make push without REGISTRY fails, naming REGISTRY" grep -q 'set REGISTRY' "$T/run.out"
fi
# clean, on scratch build directories: removes them and the image when it exists.
# (All four: RELEASE_DIR left out removed the real build-release, the binary these checks and
# the later CI parts use.)
mkdir -p "$T/b/x" "$T/a" "$T/r" "$T/t"
: >"$STUB_LOG"
if STUB_IMAGE="pgtier:$VERSION" mk -s clean BUILD_DIR="$T/b" ASAN_DIR="$T/a" RELEASE_DIR="$T/r" TIDY_DIR="$T/t" DOCKER="$T/docker" >"$T/run.out" 2>&1 &&
    [ ! -e "$T/b" ] && [ ! -e "$T/a" ] && [ ! -e "$T/r" ] && [ ! -e "$T/t" ] && grep -qx "image rm pgtier:$VERSION" "$STUB_LOG"; then
    ok "make clean removes the build directories and the image pgtier:$VERSION"
else
    fail "make clean: $(cat "$T/run.out" "$STUB_LOG")"
fi
: >"$STUB_LOG"
if STUB_IMAGE='' mk -s clean BUILD_DIR="$T/b" ASAN_DIR="$T/a" RELEASE_DIR="$T/r" TIDY_DIR="$T/t" DOCKER="$T/docker" >"$T/run.out" 2>&1 &&
    ! grep -q 'image rm' "$STUB_LOG"; then
    ok "make clean with no image succeeds and removes none"
else
    fail "make clean with no image: $(cat "$T/run.out" "$STUB_LOG")"
fi

echo
if [ ${#SKIPPED[@]} -gt 0 ]; then
    echo "check_deploy_files: ${#SKIPPED[@]} check(s) SKIPPED:"
    printf '  - %s\n' "${SKIPPED[@]}"
fi
if [ "$FAILS" -gt 0 ]; then
    echo "check_deploy_files: $FAILS FAILED"
    exit 1
fi
echo "check_deploy_files: all passed${SKIPPED:+ except the ${#SKIPPED[@]} skipped above}"
