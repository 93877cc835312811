#!/usr/bin/env bash
# Issue 15: zstd archives (compression.format = "zstd") beside bzip2 ones in one backup directory.
# A zstd full is a valid .sql.zst (zstd -t, sha256sum -c, sections that decode alone) that
# `zstdcat | psql` replays; latest_<tier> takes the newest archive's extension; list, verify
# (one thread and several), restore full / latest / database --as and prune handle both formats;
# a corrupted zstd section is found by verify and stops a restore with the decoder's error, the
# same with one decoding thread or several.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_backup.sh"
. "$(dirname "$0")/lib_restore.sh"
export TZ=UTC

start_source_cluster
make_sample_cluster
# More than one 8 MiB zstd frame (and many bzip2 streams) in one section.
make_table_db big 250000
settle
NOW=$(date -u +%s)  # set_age's reference time

# ---- a bzip2 full, then zstd ones ---------------------------------------------------------------
take Fb full --force
[[ ${ARCH[Fb]} == *_full.sql.bz2 ]] || fail "the default format is not bzip2: ${ARCH[Fb]}"
export PGTIER_COMPRESSION_FORMAT=zstd
take Fz full --force
[[ ${ARCH[Fz]} == *_full.sql.zst ]] || fail "format zstd did not write a .sql.zst: ${ARCH[Fz]}"
check_archive "${ARCH[Fb]}" full
check_archive "${ARCH[Fz]}" full
(cd "$B/full" && sha256sum -c --status "$(name Fz).sha256") || fail "sha256sum -c of the zstd sidecar failed"
frames=$(python3 - "${ARCH[Fz]}" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + ".json"))
big = [s for s in m["sections"] if s.get("database") == "big"][0]
print(big["uncompressed_length"] // (8 << 20) + 1)
PY
)
[ "$frames" -ge 2 ] || fail "setup: database big should need several 8 MiB zstd frames"
pass "bzip2 full $(name Fb) and zstd full $(name Fz) (section big: $frames frames) are valid archives"

L=$B/full/latest_full.sql.zst
[ -L "$L" ] && [ "$(readlink "$L")" = "$(name Fz)" ] || fail "latest_full.sql.zst does not name $(name Fz)"
[ ! -e "$B/full/latest_full.sql.bz2" ] && [ ! -L "$B/full/latest_full.sql.bz2" ] \
    || fail "latest_full.sql.bz2 still exists beside latest_full.sql.zst"
pass "latest_full.sql.zst -> $(name Fz); latest_full.sql.bz2 is gone (a script reading it fails)"

# ---- zstdcat | psql on the host -------------------------------------------------------------------
snapshot src at-Fz
pg_start dst
zstdcat "${ARCH[Fz]}" | psql -X -q -v ON_ERROR_STOP=1 -f - postgres >"$WORK/replay.out" 2>"$WORK/replay.err" \
    || { tail -n 20 "$WORK/replay.err" >&2; fail "zstdcat | psql -v ON_ERROR_STOP=1 failed"; }
! grep -q ERROR "$WORK/replay.err" || { grep ERROR "$WORK/replay.err" | head >&2; fail "replay printed errors"; }
compare_clusters src dst "zstdcat | psql"
pass "zstdcat ARCHIVE | psql replays the zstd archive into a fresh cluster, identical to the source"
pg_stop dst

# ---- an incremental in zstd -------------------------------------------------------------------------
pg_use src
sample_content app z1
settle
take Iz incr
[[ ${ARCH[Iz]} == *_incremental.sql.zst ]] || fail "incremental is not .sql.zst: ${ARCH[Iz]}"
check_archive "${ARCH[Iz]}" incremental
[ "$(manifest_dbs "${ARCH[Iz]}")" = app ] || fail "the incremental should hold app only: $(manifest_dbs "${ARCH[Iz]}")"
snapshot src at-Iz

# ---- list and verify -----------------------------------------------------------------------------------
run_pgtier list --dir "$B" list
expect_rc list 0 "list"
for k in Fb Fz Iz; do grep -Fq "$(name "$k")" "$WORK/list.out" || fail_run list "list does not show $(name "$k")"; done
run_pgtier listj --dir "$B" list --json
expect_rc listj 0 "list --json"
for k in Fb Fz Iz; do grep -Fq "\"$(name "$k")\"" "$WORK/listj.out" || fail_run listj "list --json does not show $(name "$k")"; done
for t in 1 4 0; do
    run_pgtier "verify$t" --dir "$B" verify --threads "$t"
    expect_rc "verify$t" 0 "verify --threads $t of both formats"
    [ "$(grep -c '^OK ' "$WORK/verify$t.out")" = 3 ] || fail_run "verify$t" "expected 3 OK lines"
done
run_pgtier verifybad --dir "$B" verify --threads -1
expect_rc verifybad nonzero "verify --threads -1"
pass "list and verify (--threads 1, 4, 0) handle both formats in one directory"

# ---- restore: full, latest, database --as -------------------------------------------------------------
pg_start dst2
PGHOST="$WORK/dst2/socket" PGPORT=$(pg_port dst2) run_pgtier rfull --dir "$B" restore full "${ARCH[Fz]}"
expect_rc rfull 0 "restore full of the zstd full"
same_snapshot dst2 at-Fz "restore full (zstd)"
pg_stop dst2
pg_start dst3
PGHOST="$WORK/dst3/socket" PGPORT=$(pg_port dst3) run_pgtier rlatest --dir "$B" restore latest
expect_rc rlatest 0 "restore latest (zstd full + zstd incremental)"
grep -Fq "$(name Iz)" "$WORK/rlatest.out" "$WORK/rlatest.err" || fail_run rlatest "restore latest did not use $(name Iz)"
same_snapshot dst3 at-Iz "restore latest (zstd)"
pg_stop dst3
pg_use src
run_pgtier rdb --dir "$B" restore database "$(name Iz)" app --as app_from_zstd
expect_rc rdb 0 "restore database app --as app_from_zstd from the zstd incremental"
[ "$(psql_db app_from_zstd -c "SELECT count(*) FROM s.items WHERE name = 'z1'")" = 1 ] \
    || fail "app_from_zstd lacks the row of the incremental"
run_pgtier rdbb --dir "$B" restore database "$(name Fb)" "my db" --as my_db_from_bzip2
expect_rc rdbb 0 "restore database from the bzip2 full in the same directory"
diff <(dump_db src "my db" | grep -v '^-- ') <(dump_db src my_db_from_bzip2 | grep -v '^-- ') >/dev/null \
    || fail "my_db_from_bzip2 differs from \"my db\""
[ -z "$(work_dbs)" ] || fail "work databases left behind: $(work_dbs)"
pass "restore full, latest and database --as read zstd archives; the bzip2 one beside them still restores"

# ---- a corrupted zstd section ----------------------------------------------------------------------------
# reseal ARCHIVE: recompute section, manifest and sidecar SHA-256s, so only decoding finds damage.
reseal() {
    python3 - "$1" <<'PY'
import hashlib, json, os, sys
a = sys.argv[1]
m = json.load(open(a + ".json"))
data = open(a, "rb").read()
for s in m["sections"]:
    s["sha256"] = hashlib.sha256(data[s["offset"]:s["offset"] + s["length"]]).hexdigest()
m["sha256"] = hashlib.sha256(data).hexdigest()
json.dump(m, open(a + ".json", "w"), indent=2)
open(a + ".sha256", "w").write("%s  %s\n" % (m["sha256"], os.path.basename(a)))
PY
}
BAD=$(copy_archive "${ARCH[Fz]}" "$WORK/bad/full")
read -r off len < <(jq -r '.sections[] | select(.database == "big") | "\(.offset) \(.length)"' "$BAD.json")
flip_byte "$BAD" $((off + len / 2))
run_pgtier vbad1 --dir "$B" verify --threads 1 "$BAD"
expect_rc vbad1 1 "verify of a zstd archive with a flipped byte"
grep -q "section database \"big\": zstd data is corrupt" "$WORK/vbad1.out" || fail_run vbad1 "no zstd corruption named for big"
grep -q "intact: .*database \"app\"" "$WORK/vbad1.out" || fail_run vbad1 "the intact sections are not listed"
reseal "$BAD"
run_pgtier vbad4 --dir "$B" verify --threads 4 "$BAD"
expect_rc vbad4 1 "verify --threads 4 of a resealed corrupt zstd archive"
grep -q "section database \"big\": zstd data is corrupt" "$WORK/vbad4.out" || fail_run vbad4 "no zstd corruption named for big"
run_pgtier vbad1r --dir "$B" verify --threads 1 "$BAD"
diff "$WORK/vbad1r.out" "$WORK/vbad4.out" >&2 || fail "verify names the damage differently with 1 and 4 threads"
pass "verify finds the corrupt zstd section by decoding: $(cut -c1-160 "$WORK/vbad4.out")"

run_pgtier rbad --dir "$B" restore database "$BAD" big --as big_bad
expect_rc rbad 1 "restore database from a corrupt zstd section"
grep -q "section database \"big\": zstd data is corrupt" "$WORK/rbad.err" || fail_run rbad "restore does not name the zstd corruption"
[ -z "$(psql_q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'big_bad'")" ] || fail "big_bad exists after a failed restore"
[ -z "$(work_dbs)" ] || fail "work databases left behind: $(work_dbs)"
PGTIER_COMPRESSION_THREADS=1 run_pgtier rbad1 --dir "$B" restore database "$BAD" big --as big_bad
expect_rc rbad1 1 "restore with one decoding thread"
diff <(grep -o 'zstd data is corrupt.*' "$WORK/rbad.err") <(grep -o 'zstd data is corrupt.*' "$WORK/rbad1.err") >&2 \
    || fail "restore names the damage differently with one decoding thread"
pass "restore stops at the corrupt zstd section: $(grep -o 'section database.*' "$WORK/rbad.err" | head -n1 | cut -c1-160)"

# ---- prune across formats ------------------------------------------------------------------------------
echo x | zstd -q >"$B/full/20200101_000000_full.sql.zst"  # not pgtier's (no manifest): never touched
set_age Fb 60
set_age Fz 50
set_age Iz 49
unset PGTIER_COMPRESSION_FORMAT
take Fb2 full --force  # bzip2 again: the link follows the newest
[ "$(readlink "$B/full/latest_full.sql.bz2")" = "$(name Fb2)" ] || fail "latest_full.sql.bz2 does not name $(name Fb2)"
[ ! -L "$B/full/latest_full.sql.zst" ] || fail "latest_full.sql.zst still exists after a newer bzip2 full"
# The retention after that backup (min_full 2) deleted the 60-day-old bzip2 full; prune with
# min_full 1 deletes the 50-day-old zstd one.
grep -q "retention: deleted full/$(name Fb): age 60" "$WORK/take-Fb2.err" || fail_run take-Fb2 "the 60-day-old bzip2 full is not deleted by the retention after a backup"
PGTIER_RETENTION_MIN_FULL=1 run_pgtier prune --dir "$B" prune
expect_rc prune 0 "prune"
grep -Eq "^deleted +full +$(name Fz) " "$WORK/prune.out" || fail_run prune "the 50-day-old zstd full is not deleted"
grep -Eq "^keep +full +$(name Fb2) " "$WORK/prune.out" || fail_run prune "the newest full is not kept"
for k in Fb Fz; do
    for f in "${ARCH[$k]}" "${ARCH[$k]}.sha256" "${ARCH[$k]}.json"; do [ ! -e "$f" ] || fail "prune left $f"; done
done
[ -f "$B/full/20200101_000000_full.sql.zst" ] || fail "prune removed a .sql.zst file that is not pgtier's"
run_pgtier verify-after --dir "$B" verify
grep -q "20200101_000000_full.sql.zst" "$WORK/verify-after.out" || fail_run verify-after "the foreign .sql.zst is not reported"
grep -Eq "^OK .*$(name Fb2)" "$WORK/verify-after.out" || fail_run verify-after "the remaining bzip2 full does not verify"
pass "prune deletes old archives of both formats (files and all), keeps the newest, leaves foreign files"
