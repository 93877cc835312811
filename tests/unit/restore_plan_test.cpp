#include "catch_compat.hpp"

#include "fixtures.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/restore_plan.hpp"

using namespace pgtier;
using test::archive;
using test::state;

namespace {

std::string source_of(const RestorePlan& plan, const std::string& db) {
    for (const auto& d : plan.databases) {
        if (d.database == db) return d.source.archive;
    }
    return "(none)";
}

std::vector<std::string> names(const RestorePlan& plan) {
    std::vector<std::string> out;
    for (const auto& d : plan.databases) out.push_back(d.database);
    return out;
}

}  // namespace

TEST_CASE("restore plan: the issue's history picks diff, incr3 and incr4") {
    // full; change A -> incr1; change B -> incr2; diff; change A -> incr3; change C -> incr4.
    const auto s0 = state({{"A", "a0"}, {"B", "b0"}, {"C", "c0"}});
    const auto s1 = state({{"A", "a1"}, {"B", "b0"}, {"C", "c0"}});
    const auto s2 = state({{"A", "a1"}, {"B", "b1"}, {"C", "c0"}});
    const auto s3 = state({{"A", "a2"}, {"B", "b1"}, {"C", "c0"}});
    const auto s4 = state({{"A", "a2"}, {"B", "b1"}, {"C", "c1"}});
    std::vector<Manifest> history = {
        archive(BackupType::incremental, "2026-01-01T04:00:00Z", s3, false, {"A"}),  // incr3
        archive(BackupType::full, "2026-01-01T00:00:00Z", s0, true, {"A", "B", "C"}),
        archive(BackupType::incremental, "2026-01-01T01:00:00Z", s1, false, {"A"}),
        archive(BackupType::incremental, "2026-01-01T02:00:00Z", s2, false, {"B"}),
        archive(BackupType::differential, "2026-01-01T03:00:00Z", s2, true, {"A", "B", "C"}),
        archive(BackupType::incremental, "2026-01-01T05:00:00Z", s4, false, {"C"}),  // incr4
    };
    const auto plan = plan_latest_restore(history);
    CHECK(plan.base == history[4].name);
    CHECK(plan.base_tier == BackupType::differential);
    CHECK(plan.globals.archive == history[4].name);
    CHECK(source_of(plan, "B") == history[4].name);
    CHECK(source_of(plan, "A") == history[0].name);
    CHECK(source_of(plan, "C") == history[5].name);
    CHECK(names(plan) == std::vector<std::string>{"A", "B", "C"});
    CHECK(plan.dropped.empty());
    CHECK(plan.state_at == history[5].started_at);
}

TEST_CASE("restore plan: incrementals older than the base are ignored") {
    const auto s0 = state({{"A", "a0"}});
    const auto s1 = state({{"A", "a1"}});
    const auto plan = plan_latest_restore({
        archive(BackupType::full, "2026-01-01T00:00:00Z", s0, true, {"A"}),
        archive(BackupType::incremental, "2026-01-01T01:00:00Z", s1, false, {"A"}),
        archive(BackupType::full, "2026-01-01T02:00:00Z", s1, true, {"A"}),
    });
    CHECK(plan.base == "2026-01-01T02:00:00Z_full.sql.bz2");
    CHECK(source_of(plan, "A") == plan.base);
}

TEST_CASE("restore plan: newer globals, a dropped and a created database") {
    const auto s0 = state({{"A", "a0"}, {"B", "b0"}}, "g0");
    const auto s1 = state({{"A", "a0"}, {"N", "n0"}}, "g1");  // B dropped, N created, roles changed
    const auto plan = plan_latest_restore({
        archive(BackupType::full, "2026-01-01T00:00:00Z", s0, true, {"A", "B"}),
        archive(BackupType::incremental, "2026-01-01T01:00:00Z", s1, true, {"N"}),
    });
    CHECK(plan.globals.archive == "2026-01-01T01:00:00Z_incremental.sql.bz2");
    CHECK(names(plan) == std::vector<std::string>{"A", "N"});
    CHECK(source_of(plan, "A") == "2026-01-01T00:00:00Z_full.sql.bz2");
    CHECK(source_of(plan, "N") == "2026-01-01T01:00:00Z_incremental.sql.bz2");
    CHECK(plan.dropped == std::vector<std::string>{"B"});
    const auto lines = describe_plan(plan);
    CHECK(lines.back() == "  database \"B\" dropped after the base: not restored");
}

TEST_CASE("restore plan: refusals") {
    const auto s0 = state({{"A", "a0"}});
    CHECK_THROWS_AS(plan_latest_restore({}), Error);
    // Incrementals alone are no base.
    CHECK_THROWS_AS(plan_latest_restore({archive(BackupType::incremental, "2026-01-01T00:00:00Z",
                                                 s0, true, {"A"})}),
                    Error);
    // The newest state has a database no archive holds (its incremental was deleted).
    const auto s1 = state({{"A", "a0"}, {"X", "x0"}});
    CHECK_THROWS_WITH(
        plan_latest_restore(
            {archive(BackupType::full, "2026-01-01T00:00:00Z", s0, true, {"A"}),
             archive(BackupType::incremental, "2026-01-01T01:00:00Z", s1, false, {"A"})}),
        match::Contains("\"X\""));
}

TEST_CASE("restore plan: the globals for a single-database restore") {
    const auto s = state({{"A", "a0"}});
    const auto full = archive(BackupType::full, "2026-11-22T03:00:00Z", s, true, {"A"});
    const auto diff = archive(BackupType::differential, "2026-11-25T03:00:00Z", s, true, {"A"});
    const auto incr = archive(BackupType::incremental, "2026-11-26T10:00:00Z", s, false, {"A"});
    const auto later = archive(BackupType::full, "2026-11-29T03:00:00Z", s, true, {"A"});
    const std::vector<Manifest> published = {full, diff, incr, later};

    SECTION("the archive's own globals first") {
        const auto choice = choose_globals_source(diff, published);
        REQUIRE(choice);
        CHECK(choice->own);
        CHECK(choice->source.tier == BackupType::differential);
        CHECK(choice->source.archive == diff.name);
        CHECK(choice->source.section.kind == SectionKind::globals);
    }
    SECTION("else the newest archive with globals not newer than it") {
        // The differential, not the older full nor the full started after the incremental.
        const auto choice = choose_globals_source(incr, published);
        REQUIRE(choice);
        CHECK_FALSE(choice->own);
        CHECK(choice->source.tier == BackupType::differential);
        CHECK(choice->source.archive == diff.name);
        CHECK(choice->source.section.kind == SectionKind::globals);
        // The order of `published` does not matter.
        const auto reversed = choose_globals_source(incr, {later, incr, diff, full});
        REQUIRE(reversed);
        CHECK(reversed->source.archive == diff.name);
    }
    SECTION("one started at the same time counts") {
        const auto same = archive(BackupType::full, "2026-11-26T10:00:00Z", s, true, {"A"});
        const auto choice = choose_globals_source(incr, {full, diff, same, incr});
        REQUIRE(choice);
        CHECK(choice->source.archive == same.name);
    }
    SECTION("none when only newer archives have globals") {
        CHECK_FALSE(choose_globals_source(incr, {incr, later}));
        CHECK_FALSE(choose_globals_source(incr, {}));
    }
}
