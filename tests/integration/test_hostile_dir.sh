#!/usr/bin/env bash
# Issue 11: the backup directory is untrusted input. Symbolic links are planted at every path
# pgtier writes in the backup directory and in .pgtier/, absolute and '..' names in
# .pgtier/publishing and in manifests, a tier folder is swapped for a link; then backup, prune,
# restore, verify, list, status and the daemon run. No file outside the backup directory may be
# created, changed, chmod-ed or deleted (a checksum + mode listing of a decoy tree is compared
# before and after every step), and each refusal names the planted path.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
export TZ=UTC

pg_start hd
pg_quiet
psql_q -d postgres -c "CREATE DATABASE app"
psql_db app -c "CREATE TABLE t (id int)" -c "INSERT INTO t VALUES (1), (2)"
settle
B="$WORK/backups"
D="$WORK/decoy"
mkdir -p "$D/elsewhere"
for f in victim victim3 victim4 victim4.sha256 secret.txt secret.txt.json secret.txt.sha256 \
    20200101_000000_full.sql.bz2; do
    echo "decoy $f" >"$D/$f"
    chmod 0604 "$D/$f"
done
decoy_state() { (cd "$D" && find . -printf '%p %y %m %s\n' | sort && find . -type f -exec sha256sum {} + | sort); }
DECOY_BEFORE=$(decoy_state)
untouched() { # untouched STEP — the decoy tree is exactly as it was
    local now
    now=$(decoy_state)
    [ "$now" = "$DECOY_BEFORE" ] || fail "$1 touched files outside the backup directory: $(diff <(echo "$DECOY_BEFORE") <(echo "$now") | head -20)"
}
# refused TAG PATTERN MSG — the run failed (non-zero) and its output names the planted path
refused() {
    expect_rc "$1" nonzero "$3"
    grep -Eq -- "$2" "$WORK/$1.out" "$WORK/$1.err" || fail_run "$1" "$3: the message does not match /$2/"
}

run_pgtier first --dir "$B" backup full
expect_rc first 0 "the first full"
F1=$(archives "$B" full)
untouched "the first full"

# ---- the lock: a link is refused by every command that takes it --------------------------------------
ln -s "$D/victim" "$B/.pgtier/lock.new" && mv -f "$B/.pgtier/lock.new" "$B/.pgtier/lock"
run_pgtier lock-backup --dir "$B" backup full --force
refused lock-backup 'refusing .*\.pgtier/lock.*symbolic link' "backup with a linked lock"
run_pgtier lock-prune --dir "$B" prune
refused lock-prune 'refusing .*\.pgtier/lock.*symbolic link' "prune with a linked lock"
run_pgtier lock-restore --dir "$B" restore database latest-full app --as app_lock
refused lock-restore 'refusing .*\.pgtier/lock.*symbolic link' "restore with a linked lock"
untouched "the linked lock"
rm "$B/.pgtier/lock"
pass "a symbolic link at .pgtier/lock is refused and nothing behind it is touched"

# ---- links at every other file pgtier writes -----------------------------------------------------------
plant_state_links() {
    local f
    for f in status.json metrics.prom .status.json.tmp .metrics.prom.tmp .publishing.tmp .restoring.tmp; do
        rm -f "$B/.pgtier/$f"
        ln -s "$D/victim3" "$B/.pgtier/$f"
    done
}
plant_tier_links() {
    local tier=$1 s name f
    for f in "latest_$tier.sql.bz2" ".latest_$tier.sql.bz2.tmp" "latest_$tier.sql.zst"; do
        rm -f "$B/$tier/$f"
        ln -s "$D/victim" "$B/$tier/$f"
    done
    # Every name an archive started in the next few seconds could take.
    for s in 0 1 2 3 4 5 6 7 8 9; do
        name="$(date -u -d "@$(($(date +%s) + s))" +%Y%m%d_%H%M%S)_$tier.sql.bz2"
        for f in ".$name.partial" "$name.sha256" "$name.json" ".$name.sha256.tmp" ".$name.json.tmp"; do
            [ -e "$B/$tier/$f" ] || [ -L "$B/$tier/$f" ] || ln -s "$D/victim" "$B/$tier/$f"
        done
    done
}
plant_state_links
plant_tier_links full
run_pgtier links-full --dir "$B" backup full --force
expect_rc links-full 0 "a full among planted links (the archive goes under a free name; planted links are replaced, not followed)"
grep -q 'removing .*\.pgtier/\.status\.json\.tmp (it is a symbolic link' "$WORK/links-full.err" || fail_run links-full "the replaced link at .status.json.tmp is not named in the log"
[ ! -L "$B/.pgtier/status.json" ] && jq -e '.last_run.full.result == "published"' "$B/.pgtier/status.json" >/dev/null || fail "status.json was not rewritten over the planted link"
untouched "a full among planted links"
F2=$(new_archive "$B" full "$F1")
[ ! -L "$F2" ] && [ -f "$F2.json" ] && [ ! -L "$F2.json" ] && [ ! -L "$F2.sha256" ] || fail "the new archive $F2 or its sidecar/manifest is a link"
[ "$(readlink "$B/full/latest_full.sql.bz2")" = "$(basename "$F2")" ] || fail "latest_full was not repointed over the planted link: $(readlink "$B/full/latest_full.sql.bz2")"
[ ! -L "$B/full/latest_full.sql.zst" ] || fail "the link planted at latest_full.sql.zst (the other format's) was not removed"
(cd "$B/full" && sha256sum -c --quiet "$(basename "$F2").sha256") || fail "the new archive's sidecar does not check"
pass "a full among links at the lock's neighbours, status, metrics, partials, sidecars, manifests and latest_full: published under a free name, nothing outside touched"

# ---- names from .pgtier/publishing and from manifests ----------------------------------------------------
plant_state_links
for planted in "$D/victim4" "full/../../decoy/victim4" "../decoy/victim4" "full/$D/victim4"; do
    rm -f "$B/.pgtier/publishing"
    printf '%s\n' "$planted" >"$B/.pgtier/publishing"
    run_pgtier "publishing" --dir "$B" backup incr
    expect_rc publishing 0 "a backup with '$planted' in .pgtier/publishing"
    grep -q 'ignoring .*publishing' "$WORK/publishing.err" || fail_run publishing "the log does not say that .pgtier/publishing was ignored"
    untouched "the sweep with '$planted' in .pgtier/publishing"
done
pass "the sweep ignores absolute and '..' names in .pgtier/publishing"

# An old full whose manifest names a file outside: retention would delete it (84 days old).
EVIL=20200101_000000_full.sql.bz2
cp "$F1" "$B/full/$EVIL"
(cd "$B/full" && sha256sum "$EVIL" >"$EVIL.sha256")
old=$(date -u -d '84 days ago' +%Y-%m-%dT%H:%M:%S.000000Z)
jq --arg n "../../decoy/secret.txt" --arg t "$old" '.name = $n | .started_at = $t | .finished_at = $t' \
    "$F1.json" >"$B/full/$EVIL.json"
run_pgtier evil-list --dir "$B" list
expect_rc evil-list 0 "list with a foreign manifest"
grep -q "$EVIL" "$WORK/evil-list.out" && grep -q 'secret.txt' "$WORK/evil-list.out" || fail_run evil-list "list does not report the manifest that names another file"
run_pgtier evil-verify --dir "$B" verify
expect_rc evil-verify 1 "verify with a foreign manifest"
grep -q "FAILED .*$EVIL.*secret.txt" "$WORK/evil-verify.out" || fail_run evil-verify "verify does not name the foreign manifest"
run_pgtier evil-verify1 --dir "$B" verify "$B/full/$EVIL"
expect_rc evil-verify1 1 "verify of the archive with a foreign manifest, by path"
grep -q "FAILED .*$EVIL.*describes \"../../decoy/secret.txt\", not this file" "$WORK/evil-verify1.out" || fail_run evil-verify1 "verify by path does not say the manifest describes another file"
run_pgtier evil-restore --dir "$B" restore list-databases "$EVIL"
refused evil-restore 'describes "../../decoy/secret.txt", not' "restore list-databases of an archive whose manifest names another file"
run_pgtier evil-prune --dir "$B" prune
expect_rc evil-prune 0 "prune with a foreign manifest"
untouched "prune with a manifest named ../../decoy/secret.txt"
[ -f "$B/full/$EVIL" ] && [ -f "$B/full/$EVIL.json" ] || fail "prune acted on the archive whose manifest names another file"
rm -f "$B/full/$EVIL" "$B/full/$EVIL.json" "$B/full/$EVIL.sha256"
pass "a manifest naming ../../decoy/secret.txt is reported by list and verify, and prune never acts on it"

# ---- an archive or link planted in a tier folder -----------------------------------------------------------
ln -s "$D/$EVIL" "$B/full/$EVIL"
run_pgtier link-verify --dir "$B" verify "$EVIL"
refused link-verify "refusing .*$EVIL" "verify of an archive name that is a link outside"
run_pgtier link-restore --dir "$B" restore list-databases "$EVIL"
refused link-restore "refusing .*$EVIL" "restore list-databases of a link outside"
rm "$B/full/$EVIL"
untouched "links planted as archives"
# The latest_* link the old scripts pass is resolved, one level, inside its folder.
run_pgtier latest-list --dir "$B" restore list-databases "$B/full/latest_full.sql.bz2"
expect_rc latest-list 0 "restore list-databases of latest_full.sql.bz2"
grep -q '^app ' "$WORK/latest-list.out" || fail_run latest-list "app is not listed"
run_pgtier latest-verify --dir "$B" verify "$B/full/latest_full.sql.bz2"
expect_rc latest-verify 0 "verify of latest_full.sql.bz2"
pass "a link planted as an archive is refused; latest_full.sql.bz2 resolves to its archive"

# ---- restore, status and the daemon among planted links -----------------------------------------------------
plant_state_links
run_pgtier restore-db --dir "$B" restore database latest-full app --as app_copy
expect_rc restore-db 0 "restore database among planted links"
[ "$(psql_db app_copy -c 'SELECT count(*) FROM t')" = 2 ] || fail "app_copy was not restored"
run_pgtier restore-full --dir "$B" restore full latest-full --replace
expect_rc restore-full 0 "restore full --replace with a link at .pgtier/.restoring.tmp"
untouched "restores among planted links"
run_pgtier status --dir "$B" status
expect_rc status 0 "status with status.json a link"
grep -q 'refusing .*status.json.*symbolic link' "$WORK/status.err" || fail_run status "status does not say it refused the linked status.json"
untouched "status"

plant_state_links
plant_tier_links incremental
daemon_toml "$B" UTC "0 0 1 1 *" "0 0 1 1 *" "*/2 * * * * *" >"$WORK/daemon.toml"
psql_db app -c "INSERT INTO t VALUES (3)"
settle
ni=$(count_archives "$B" incremental)
start_daemon daemon --config "$WORK/daemon.toml"
wait_until 60 bash -c "[ \$(find '$B/incremental' -maxdepth 1 -type f -name '*_incremental.sql.bz2' | wc -l) -gt $ni ]" || { show_log "$WORK/daemon.log"; fail "the daemon took no incremental among planted links"; }
stop_pid "$DPID" 20
[ "$STOP_RC" = 0 ] || { show_log "$WORK/daemon.log"; fail "the daemon did not stop cleanly ($STOP_RC)"; }
untouched "the daemon among planted links"
pass "restore, status and the daemon among planted links touched nothing outside"

# ---- a tier folder or .pgtier swapped for a link ---------------------------------------------------------------
mv "$B/incremental" "$WORK/incremental.real"
ln -s "$D/elsewhere" "$B/incremental"
run_pgtier swapped-backup --dir "$B" backup incr --force
refused swapped-backup 'refusing .*incremental.*symbolic link' "backup with the incremental folder a link"
run_pgtier swapped-prune --dir "$B" prune
refused swapped-prune 'refusing .*incremental.*symbolic link' "prune with the incremental folder a link"
run_pgtier swapped-list --dir "$B" list
refused swapped-list 'refusing .*incremental.*symbolic link' "list with the incremental folder a link"
rm "$B/incremental"
mv "$WORK/incremental.real" "$B/incremental"
mv "$B/.pgtier" "$WORK/state.real"
ln -s "$D/elsewhere" "$B/.pgtier"
run_pgtier swapped-state --dir "$B" backup full --force
refused swapped-state 'refusing .*\.pgtier.*symbolic link' "backup with .pgtier a link"
untouched "swapped folders"
pass "a tier folder or .pgtier that is a link is refused by backup, prune and list"
