#include "catch_compat.hpp"

#include "fixtures.hpp"
#include "pgtier/core/selection.hpp"

using namespace pgtier;

namespace {

using test::archive;
using test::state;

const Fingerprint v1 = state({{"a", "a1"}, {"b", "b1"}, {"c", "c1"}});

}  // namespace

TEST_CASE("without a full, differential and incremental take a full") {
    for (auto type : {BackupType::differential, BackupType::incremental}) {
        const auto plan = plan_backup(type, Force::no, v1, {});
        CHECK(plan.type == BackupType::full);
        CHECK_FALSE(plan.skip);
        CHECK(plan.globals);
        CHECK(plan.databases == std::vector<std::string>{"a", "b", "c"});
    }
    // An incremental alone is no base.
    const auto incr_only =
        archive(BackupType::incremental, "2026-01-01T00:00:00Z", v1, true, {"a"});
    CHECK(plan_backup(BackupType::incremental, Force::no, v1, {incr_only}).type ==
          BackupType::full);
}

TEST_CASE("full is always taken") {
    const auto full = archive(BackupType::full, "2026-01-01T00:00:00Z", v1, true, {"a", "b", "c"});
    const auto plan = plan_backup(BackupType::full, Force::no, v1, {full});
    CHECK_FALSE(plan.skip);
    CHECK(plan.databases.size() == 3);
}

TEST_CASE("differential: skipped when nothing changed since the newest full") {
    const auto full = archive(BackupType::full, "2026-01-01T00:00:00Z", v1, true, {"a", "b", "c"});
    auto plan = plan_backup(BackupType::differential, Force::no, v1, {full});
    CHECK(plan.skip);
    CHECK_THAT(plan.reason, match::Contains("nothing changed since full"));

    CHECK_FALSE(plan_backup(BackupType::differential, Force::yes, v1, {full}).skip);

    const auto v2 = state({{"a", "a2"}, {"b", "b1"}, {"c", "c1"}});
    plan = plan_backup(BackupType::differential, Force::no, v2, {full});
    CHECK_FALSE(plan.skip);
    CHECK(plan.type == BackupType::differential);
    CHECK(plan.databases.size() == 3);

    // Compared with the full, not with a newer incremental that already holds the change.
    const auto incr = archive(BackupType::incremental, "2026-01-01T01:00:00Z", v2, false, {"a"});
    CHECK_FALSE(plan_backup(BackupType::differential, Force::no, v2, {full, incr}).skip);
}

TEST_CASE("incremental: each database against the newest archive that holds it") {
    const auto full = archive(BackupType::full, "2026-01-01T00:00:00Z", v1, true, {"a", "b", "c"});
    CHECK(plan_backup(BackupType::incremental, Force::no, v1, {full}).skip);

    const auto v2 = state({{"a", "a2"}, {"b", "b1"}, {"c", "c1"}});
    auto plan = plan_backup(BackupType::incremental, Force::no, v2, {full});
    CHECK(plan.databases == std::vector<std::string>{"a"});
    CHECK_FALSE(plan.globals);

    // After incr1 holds a2, a is unchanged; b changes next.
    const auto incr1 = archive(BackupType::incremental, "2026-01-01T01:00:00Z", v2, false, {"a"});
    const auto v3 = state({{"a", "a2"}, {"b", "b2"}, {"c", "c1"}});
    plan = plan_backup(BackupType::incremental, Force::no, v3, {incr1, full});  // any input order
    CHECK(plan.databases == std::vector<std::string>{"b"});
    CHECK(plan_backup(BackupType::incremental, Force::no, v2, {full, incr1}).skip);
}

TEST_CASE("incremental: globals, new and dropped databases") {
    const auto full = archive(BackupType::full, "2026-01-01T00:00:00Z", v1, true, {"a", "b", "c"});
    const auto roles = state({{"a", "a1"}, {"b", "b1"}, {"c", "c1"}}, "g2");
    auto plan = plan_backup(BackupType::incremental, Force::no, roles, {full});
    CHECK(plan.globals);
    CHECK(plan.databases.empty());

    const auto added = state({{"a", "a1"}, {"b", "b1"}, {"c", "c1"}, {"d", "d1"}});
    plan = plan_backup(BackupType::incremental, Force::no, added, {full});
    CHECK(plan.databases == std::vector<std::string>{"d"});
    CHECK_THAT(plan.reason, match::Contains("d (new)"));

    const auto dropped = state({{"a", "a1"}, {"c", "c1"}});
    plan = plan_backup(BackupType::incremental, Force::no, dropped, {full});
    CHECK_FALSE(plan.skip);
    CHECK(plan.globals);
    CHECK(plan.databases.empty());
    CHECK_THAT(plan.reason, match::Contains("dropped: b"));
    // Once recorded, the drop does not trigger again.
    const auto marker = archive(BackupType::incremental, "2026-01-01T02:00:00Z", dropped, true, {});
    CHECK(plan_backup(BackupType::incremental, Force::no, dropped, {full, marker}).skip);
}

TEST_CASE("forced incremental takes everything") {
    const auto full = archive(BackupType::full, "2026-01-01T00:00:00Z", v1, true, {"a", "b", "c"});
    const auto plan = plan_backup(BackupType::incremental, Force::yes, v1, {full});
    CHECK_FALSE(plan.skip);
    CHECK(plan.type == BackupType::incremental);
    CHECK(plan.databases.size() == 3);
}
