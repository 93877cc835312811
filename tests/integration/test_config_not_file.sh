#!/usr/bin/env bash
# The configuration file must be a regular file of at most 1 MiB (a link to one is fine, as a
# Swarm config is): a FIFO, a directory, a device or a larger file stops pgtier at once with exit 2
# naming it — it never hangs, grows without end, or runs with every default. A manifest larger
# than 64 MiB (a sparse 2 GB one) is reported as unreadable by `list` at once, never read whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"

pg_start cf
pg_quiet
psql_q -d postgres -c "CREATE DATABASE app"
B="$WORK/backups"
C="$WORK/conf"
mkdir -p "$C"
export RUN_TIMEOUT=20  # a regression hangs or eats memory: the run is killed (exit 124)

# refused TAG PATH WHAT — `--config PATH backup full` exits 2 quickly, naming PATH and WHAT; no
# archive, no /backups-like default directory.
refused() {
    local tag=$1 path=$2 what=$3 t0 t1
    t0=$(date +%s%N)
    run_pgtier "$tag" --config "$path" backup full
    t1=$(date +%s%N)
    [ "$RC" -eq 2 ] || fail_run "$tag" "$tag: exit $RC (want 2)"
    grep -qF -- "$path" "$WORK/$tag.err" || fail_run "$tag" "$tag: the message does not name $path"
    grep -qF -- "$what" "$WORK/$tag.err" || fail_run "$tag" "$tag: the message does not say '$what'"
    [ $(((t1 - t0) / 1000000)) -lt 10000 ] || fail_run "$tag" "$tag: took $(((t1 - t0) / 1000000)) ms"
    [ "$(count_archives "$B" full)" = 0 ] || fail_run "$tag" "$tag: an archive was written"
    pass "$tag -> exit 2 in $(((t1 - t0) / 1000000)) ms: $(tail -n1 "$WORK/$tag.err")"
}

mkfifo "$C/fifo.toml"
refused fifo "$C/fifo.toml" "not a regular file (a FIFO)"
mkdir "$C/dir.toml"
refused directory "$C/dir.toml" "not a regular file (a directory)"
refused dev-zero /dev/zero "not a regular file (a character device)"
truncate -s 2M "$C/big.toml"
refused oversized "$C/big.toml" "larger than 1 MiB"
ln -s fifo.toml "$C/link-to-fifo.toml"
refused link-to-fifo "$C/link-to-fifo.toml" "not a regular file (a FIFO)"
# The same for a password file (a FIFO there hung the run as well).
printf '[storage]\ndir = "%s"\n[postgres]\npassword_file = "%s"\n' "$B" "$C/fifo.toml" >"$C/pw-fifo.toml"
refused password-fifo "$C/pw-fifo.toml" "$C/fifo.toml: not a regular file (a FIFO)"

# A link to a regular file is a configuration file (a Swarm config is a link).
printf '[storage]\ndir = "%s"\n' "$B" >"$C/real.toml"
ln -s real.toml "$C/link.toml"
run_pgtier link --config "$C/link.toml" backup full
expect_rc link 0 "backup with a linked configuration file"
A=$(new_archive "$B" full "")
pass "a link to a regular configuration file is read"

# ---- a sparse 2 GB manifest: list answers at once, the archive shown as unreadable
rm -f "$A.json"
truncate -s 2G "$A.json"
t0=$(date +%s%N)
run_pgtier list --dir "$B" list --json
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$RC" -ne 124 ] || fail_run list "list was still running after ${RUN_TIMEOUT}s"
[ "$ms" -lt 10000 ] || fail_run list "list took $ms ms over a 2 GB manifest"
name=$(basename "$A")
jq -e --arg n "$name" '.archives[] | select(.name == $n) | .state == "incomplete: unreadable manifest" and (.problem | test("larger than 64 MiB"))' \
    "$WORK/list.out" >/dev/null || fail_run list "$name is not listed with an unreadable manifest larger than 64 MiB"
pass "list over a sparse 2 GB manifest: $ms ms, $(jq -r --arg n "$name" '.archives[] | select(.name == $n) | .problem' "$WORK/list.out")"
