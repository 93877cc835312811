#!/usr/bin/env bash
# Issue 11, the careless operator: a backup directory that is not there (a wrong mount) fails
# every command but backup; modes do not depend on the umask; a one-shot backup refuses while a
# whole-cluster restore is unfinished (as the daemon does, --force or not); a broken manifest is
# reported as broken, not as a missing archive.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start dr
pg_quiet
psql_q -d postgres -c "CREATE DATABASE app"
settle

# ---- a missing backup directory ------------------------------------------------------------------------
NO="$WORK/not-mounted/backups"
for cmd in "list" "verify" "prune" "prune --dry-run" "status" "health" "restore latest --dry-run" \
    "restore list-databases latest-full"; do
    tag="missing-${cmd// /-}"
    # shellcheck disable=SC2086
    run_pgtier "$tag" --dir "$NO" $cmd
    expect_rc "$tag" 1 "$cmd with a backup directory that does not exist"
    grep -q "backup directory $NO does not exist" "$WORK/$tag.out" "$WORK/$tag.err" || fail_run "$tag" "$cmd does not say that the backup directory is missing"
done
[ ! -e "$WORK/not-mounted" ] || fail "a command created the missing backup directory"
pass "list, verify, prune, status, health and restore fail (exit 1) on a missing backup directory and create nothing"

# ---- modes whatever the umask ------------------------------------------------------------------------------
B="$WORK/backups"
(umask 077 && "$PGTIER" --dir "$B" backup full >"$WORK/umask.out" 2>"$WORK/umask.err") || { cat "$WORK/umask.err" >&2; fail "backup full at umask 077"; }
F=$(archives "$B" full)
for d in "$B" "$B/.pgtier" "$B/full" "$B/differential" "$B/incremental"; do
    [ "$(stat -c %a "$d")" = 750 ] || fail "$d is $(stat -c %a "$d") at umask 077, not 750"
done
for f in "$F" "$F.sha256" "$F.json" "$B/.pgtier/lock" "$B/.pgtier/status.json" "$B/.pgtier/metrics.prom"; do
    [ "$(stat -c %a "$f")" = 640 ] || fail "$f is $(stat -c %a "$f") at umask 077, not 640"
done
pass "directories 0750 and files 0640 at umask 077"

# ---- a one-shot backup during an unfinished restore ----------------------------------------------------------
printf 'pid 1, started 2026-01-01T00:00:00Z, globals from x\n' >"$B/.pgtier/restoring"
before=$(tree_state "$B")
for args in "full" "full --force" "incr --force"; do
    tag="restoring-${args// /-}"
    # shellcheck disable=SC2086
    run_pgtier "$tag" --dir "$B" backup $args
    expect_rc "$tag" 1 "backup $args while .pgtier/restoring exists"
    grep -q 'a whole-cluster restore was interrupted.*not taking a backup.*restore latest --replace' "$WORK/$tag.err" || fail_run "$tag" "the refusal does not say why and what to do"
done
[ "$(tree_state "$B")" = "$before" ] || fail "a refused backup changed the backup directory"
rm "$B/.pgtier/restoring"
pass "backup (with or without --force) refuses while .pgtier/restoring exists, as the daemon does"

# ---- a broken manifest is reported as broken ----------------------------------------------------------------
echo '{"format": 1, "type": "full"' >"$F.json"
run_pgtier broken --dir "$B" restore list-databases latest-full
expect_rc broken 1 "restore list-databases latest-full with a broken manifest"
grep -q "no complete full archive for latest-full: $(basename "$F") (.*not a valid pgtier manifest" "$WORK/broken.err" || fail_run broken "the broken manifest is not reported as broken"
pass "latest-full with a broken manifest: $(grep -o 'no complete full archive.*' "$WORK/broken.err" | cut -c1-100)…"
