#include "catch_compat.hpp"

#include "fixtures.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/restore_plan.hpp"

using namespace pgtier;
using namespace pgtier::commands;
using test::state;

namespace {

Manifest archive_at(BackupType type, const std::string& name, const std::string& at,
                    std::vector<std::string> dbs, std::uint64_t size) {
    Manifest m;
    m.type = type;
    m.name = name;
    m.started_at = *parse_utc_iso(at);
    m.finished_at = m.started_at;
    m.compressed_size = size;
    std::vector<std::pair<std::string, std::string>> fp;
    for (const auto& db : dbs) fp.emplace_back(db, db + "-state");
    m.fingerprint = state(fp);
    if (type != BackupType::incremental)
        m.sections.push_back({SectionKind::globals, std::nullopt, 0, 10, 20, "", ""});
    std::uint64_t offset = 10;
    for (const auto& db : dbs) {
        m.sections.push_back({SectionKind::database, db, offset, 100, 400, "", db + "-state"});
        offset += 100;
    }
    return m;
}

std::vector<std::string> keys_of(const Json& object) {
    std::vector<std::string> keys;
    for (const auto& item : object.items()) keys.push_back(item.key());
    return keys;
}

}  // namespace

TEST_CASE("every document starts with schema, command and ok") {
    const Json doc = json_document("verify", true);
    CHECK(keys_of(doc) == std::vector<std::string>{"schema", "command", "ok"});
    CHECK(doc["schema"] == 1);
    CHECK(doc["command"] == "verify");
    const Json error = json_error("offsite sync", "the bucket is gone");
    CHECK(keys_of(error) == std::vector<std::string>{"schema", "command", "ok", "error"});
    CHECK(error["ok"] == false);
    CHECK(error["error"] == "the bucket is gone");
}

TEST_CASE("an archive: name, tier, UTC time, size in bytes, its databases in archive order") {
    const auto m = archive_at(BackupType::differential, "20261201_030000_differential.sql.bz2",
                              "2026-12-01T03:00:00Z", {"shop", "crm"}, 4242);
    const Json a = archive_json(m);
    CHECK(a["name"] == "20261201_030000_differential.sql.bz2");
    CHECK(a["tier"] == "differential");
    CHECK(a["time"] == "2026-12-01T03:00:00.000000Z");
    CHECK(a["size_bytes"] == 4242);
    CHECK(a["databases"] == Json::array({"shop", "crm"}));
    CHECK(a["globals"] == true);
}

TEST_CASE("prune: kept and deleted lists with their rules, the bytes deleted") {
    std::vector<RetentionDecision> decisions = {
        {BackupType::full, "new", *parse_utc_iso("2026-12-01T00:00:00Z"), 100, true, "newest full"},
        {BackupType::incremental, "old1", *parse_utc_iso("2026-10-01T00:00:00Z"), 30, false,
         "older than 7 days"},
        {BackupType::full, "old2", *parse_utc_iso("2026-09-01T00:00:00Z"), 12, false,
         "older than 30 days"},
    };
    const Json doc = prune_json(decisions, *parse_utc_iso("2026-12-02T00:00:00Z"), true, false, "");
    CHECK(doc["command"] == "prune");
    CHECK(doc["dry_run"] == true);
    CHECK(doc["at"] == "2026-12-02T00:00:00.000000Z");
    CHECK(doc["policy"].is_null());
    REQUIRE(doc["kept"].size() == 1);
    CHECK(doc["kept"][0]["name"] == "new");
    CHECK(doc["kept"][0]["reason"] == "newest full");
    REQUIRE(doc["deleted"].size() == 2);
    CHECK(doc["deleted"][0]["name"] == "old1");
    CHECK(doc["deleted"][0]["tier"] == "incremental");
    CHECK(doc["deleted"][1]["reason"] == "older than 30 days");
    CHECK(doc["deleted_bytes"] == 42);
}

TEST_CASE("verify: a failed archive carries its problems joined as the error") {
    VerifyResult bad;
    bad.ok = false;
    bad.problems = {"sidecar mismatch", "section \"shop\": bad trailer"};
    bad.intact_sections = {"globals"};
    const Json failed = verify_result_json("/b/full/x.sql.bz2", bad);
    CHECK(failed["ok"] == false);
    CHECK(failed["error"] == "sidecar mismatch; section \"shop\": bad trailer");
    CHECK(failed["intact_sections"] == Json::array({"globals"}));
    const Json good = verify_result_json("/b/full/y.sql.bz2", VerifyResult{});
    CHECK(good["ok"] == true);
    CHECK(good["error"].is_null());
    CHECK(good["note"].is_null());
    const Json missing = verify_failure_json("latest-full", "no such archive");
    CHECK(missing["ok"] == false);
    CHECK(missing["problems"] == Json::array({"no such archive"}));
}

TEST_CASE("restore plan: numbered steps, globals first, then each database from its archive") {
    const auto full =
        archive_at(BackupType::full, "f.sql.bz2", "2026-12-01T00:00:00Z", {"crm", "shop"}, 1000);
    auto incr =
        archive_at(BackupType::incremental, "i.sql.bz2", "2026-12-02T00:00:00Z", {"shop"}, 300);
    incr.fingerprint = state({{"crm", "crm-state"}, {"shop", "shop-newer"}});
    incr.sections.back().fingerprint = "shop-newer";
    const std::vector<Manifest> published{full, incr};
    const auto plan = plan_latest_restore(published);
    const auto reads = plan_reads(
        plan, published, [](BackupType, const std::string& name) { return name == "i.sql.bz2"; });
    const Json doc = plan_json(plan, reads, {"a note"});
    CHECK(doc["command"] == "restore plan");
    CHECK(doc["notes"] == Json::array({"a note"}));
    CHECK(doc["base"]["name"] == "f.sql.bz2");
    const Json& steps = doc["steps"];
    REQUIRE(steps.size() == 3);
    CHECK(steps[0]["step"] == 1);
    CHECK(steps[0]["restore"] == "globals");
    CHECK(steps[0]["archive"] == "f.sql.bz2");
    CHECK(steps[1]["database"] == "crm");
    CHECK(steps[1]["archive"] == "f.sql.bz2");
    CHECK(steps[2]["step"] == 3);
    CHECK(steps[2]["database"] == "shop");
    CHECK(steps[2]["tier"] == "incremental");
    CHECK(steps[2]["archive"] == "i.sql.bz2");
    REQUIRE(doc["reads"].size() == 2);
    CHECK(doc["reads"][1]["from"] == "bucket");
    CHECK(doc["bucket_bytes"] == reads.bucket_bytes);
    CHECK(reads.bucket_bytes > 0);
}

TEST_CASE("offsite sync: ok only when nothing failed and nothing stays pending") {
    const auto m = archive_at(BackupType::full, "f.sql.bz2", "2026-12-01T00:00:00Z", {"a"}, 7);
    OffsiteSyncResult done;
    done.uploaded = 1;
    done.uploaded_bytes = 7;
    done.uploaded_archives = {m};
    const Json ok = sync_json(done, false, "s3://b/p");
    CHECK(ok["ok"] == true);
    CHECK(ok["uploaded"][0]["name"] == "f.sql.bz2");
    CHECK(ok["pending"].empty());
    CHECK(ok["error"].is_null());
    OffsiteSyncResult waiting;
    waiting.pending = {m};
    waiting.pending_bytes = 7;
    CHECK(sync_json(waiting, false, "s3://b/p")["ok"] == false);
    CHECK(sync_json(waiting, true, "s3://b/p")["ok"] == true);  // a dry run uploads nothing
    waiting.error = "connection refused";
    const Json failed = sync_json(waiting, false, "s3://b/p");
    CHECK(failed["ok"] == false);
    CHECK(failed["error"] == "connection refused");
    CHECK(failed["error_class"] == "transient");
}

TEST_CASE("health: verdict and reasons") {
    CHECK(health_json({})["verdict"] == "healthy");
    const Json bad = health_json({"full: overdue"});
    CHECK(bad["ok"] == false);
    CHECK(bad["verdict"] == "unhealthy");
    CHECK(bad["reasons"] == Json::array({"full: overdue"}));
    const Json dead = health_live_json(std::nullopt, std::string("no heartbeat"));
    CHECK(dead["verdict"] == "not alive");
    CHECK(dead["daemon"].is_null());
}
