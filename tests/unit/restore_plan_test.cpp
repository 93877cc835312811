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

namespace {

TimePoint at(const std::string& iso) {
    return *parse_utc_iso(iso);
}

// full 00:00 {A, B}; incr 01:00 A changed; diff 02:00 {A, B, N} (N created); incr 03:00 B
// changed; incr 04:00 A changed and B dropped; full 05:00 {A, N}.
std::vector<Manifest> timed_history() {
    const auto s0 = state({{"A", "a0"}, {"B", "b0"}});
    const auto s1 = state({{"A", "a1"}, {"B", "b0"}});
    const auto s2 = state({{"A", "a1"}, {"B", "b0"}, {"N", "n0"}});
    const auto s3 = state({{"A", "a1"}, {"B", "b1"}, {"N", "n0"}});
    const auto s4 = state({{"A", "a2"}, {"N", "n0"}}, "g4");
    return {
        archive(BackupType::incremental, "2026-01-01T04:00:00Z", s4, true, {"A"}),
        archive(BackupType::full, "2026-01-01T00:00:00Z", s0, true, {"A", "B"}),
        archive(BackupType::incremental, "2026-01-01T01:00:00Z", s1, false, {"A"}),
        archive(BackupType::differential, "2026-01-01T02:00:00Z", s2, true, {"A", "B", "N"}),
        archive(BackupType::incremental, "2026-01-01T03:00:00Z", s3, false, {"B"}),
        archive(BackupType::full, "2026-01-01T05:00:00Z", s4, true, {"A", "N"}),
    };
}

}  // namespace

TEST_CASE("restore plan --at: the newest state at or before the time") {
    const auto history = timed_history();
    SECTION("between the full and the differential: the full and the incremental after it") {
        const auto plan = plan_latest_restore(history, at("2026-01-01T01:30:00Z"));
        CHECK(plan.base == "2026-01-01T00:00:00Z_full.sql.bz2");
        CHECK(source_of(plan, "A") == "2026-01-01T01:00:00Z_incremental.sql.bz2");
        CHECK(source_of(plan, "B") == plan.base);
        // N was created after the time: not in the state then.
        CHECK(names(plan) == std::vector<std::string>{"A", "B"});
        CHECK(plan.globals.archive == plan.base);
        CHECK(plan.state_at == at("2026-01-01T01:00:00Z"));
        REQUIRE(plan.as_of);
        CHECK(*plan.as_of == at("2026-01-01T01:30:00Z"));
        CHECK(plan.left_out_after == 4);
    }
    SECTION("an archive started exactly at the time counts; the next one does not") {
        const auto plan = plan_latest_restore(history, at("2026-01-01T03:00:00Z"));
        CHECK(plan.base == "2026-01-01T02:00:00Z_differential.sql.bz2");
        CHECK(source_of(plan, "B") == "2026-01-01T03:00:00Z_incremental.sql.bz2");
        CHECK(source_of(plan, "A") == plan.base);
        CHECK(source_of(plan, "N") == plan.base);  // created after the full, in the diff
        CHECK(plan.dropped.empty());
        CHECK(plan.left_out_after == 2);
        // A microsecond earlier, the incremental of 03:00 is left out.
        const auto before =
            plan_latest_restore(history, at("2026-01-01T03:00:00Z") - std::chrono::microseconds(1));
        CHECK(source_of(before, "B") == before.base);
        CHECK(before.left_out_after == 3);
    }
    SECTION("a database dropped before the time is not restored") {
        const auto plan = plan_latest_restore(history, at("2026-01-01T04:59:59Z"));
        CHECK(plan.base == "2026-01-01T02:00:00Z_differential.sql.bz2");
        CHECK(names(plan) == std::vector<std::string>{"A", "N"});
        CHECK(source_of(plan, "A") == "2026-01-01T04:00:00Z_incremental.sql.bz2");
        CHECK(plan.dropped == std::vector<std::string>{"B"});
        CHECK(plan.globals.archive == "2026-01-01T04:00:00Z_incremental.sql.bz2");
        CHECK(plan.left_out_after == 1);
    }
    SECTION("a time after every archive is the latest state") {
        const auto latest = plan_latest_restore(history);
        const auto plan = plan_latest_restore(history, at("2027-01-01T00:00:00Z"));
        CHECK(plan.base == latest.base);
        CHECK(names(plan) == names(latest));
        CHECK(plan.left_out_after == 0);
        CHECK_FALSE(latest.as_of);
    }
    SECTION("the plan's text starts with the cutoff") {
        const auto lines =
            describe_plan(plan_latest_restore(history, at("2026-01-01T01:30:00.250000Z")));
        REQUIRE_FALSE(lines.empty());
        CHECK(lines[0] ==
              "as of 2026-01-01T01:30:00.250000Z: the newest state at or before it; 4 archive(s) "
              "started after it left out");
        CHECK(lines[1] ==
              "base: full/2026-01-01T00:00:00Z_full.sql.bz2; state as of 2026-01-01T01:00:00Z");
        CHECK(describe_plan(plan_latest_restore(history))[0].rfind("base: ", 0) == 0);
    }
}

TEST_CASE("restore plan --at: refusals name the oldest archive") {
    const auto history = timed_history();
    try {
        plan_latest_restore(history, at("2025-12-31T23:59:59Z"));
        FAIL("a time before every archive was planned");
    } catch (const UsageError& err) {
        CHECK(std::string(err.what()) ==
              "no archive at or before 2025-12-31T23:59:59Z; the oldest is "
              "full/2026-01-01T00:00:00Z_full.sql.bz2, started 2026-01-01T00:00:00Z");
    }
    // Only an incremental at or before the time: no base then.
    const auto s = state({{"A", "a0"}});
    const std::vector<Manifest> late_base = {
        archive(BackupType::incremental, "2026-01-01T00:00:00Z", s, true, {"A"}),
        archive(BackupType::full, "2026-01-02T00:00:00Z", s, true, {"A"}),
    };
    CHECK_THROWS_AS(plan_latest_restore(late_base, at("2026-01-01T12:00:00Z")), UsageError);
    CHECK_THROWS_WITH(plan_latest_restore(late_base, at("2026-01-01T12:00:00Z")),
                      match::Contains("no full or differential archive at or before "
                                      "2026-01-01T12:00:00Z; the oldest is full/2026-01-02"));
    CHECK_THROWS_AS(archives_at_or_before({}, at("2026-01-01T00:00:00Z")), UsageError);
}

TEST_CASE("restore database --at: the database's newest section at or before the time") {
    const auto history = timed_history();
    SECTION("from an incremental") {
        const auto s = choose_database_at(history, "A", at("2026-01-01T01:00:00Z"));
        CHECK(s.tier == BackupType::incremental);
        CHECK(s.archive == "2026-01-01T01:00:00Z_incremental.sql.bz2");
        CHECK(s.section.kind == SectionKind::database);
        CHECK(*s.section.database == "A");
    }
    SECTION("from the differential when no later incremental changed it") {
        const auto s = choose_database_at(history, "A", at("2026-01-01T03:30:00Z"));
        CHECK(s.tier == BackupType::differential);
        CHECK(s.archive == "2026-01-01T02:00:00Z_differential.sql.bz2");
        // Later archives hold newer sections of A: ignored.
        CHECK(choose_database_at(history, "A", at("2026-01-01T06:00:00Z")).archive ==
              "2026-01-01T05:00:00Z_full.sql.bz2");
    }
    SECTION("a database dropped before the time is refused, naming its last copy") {
        CHECK_THROWS_WITH(
            choose_database_at(history, "B", at("2026-01-01T04:30:00Z")),
            match::Contains("database \"B\" did not exist at 2026-01-01T04:30:00Z") &&
                match::Contains("its last copy before then is in "
                                "incremental/2026-01-01T03:00:00Z_incremental.sql.bz2"));
        // Before its drop it is restored.
        CHECK(choose_database_at(history, "B", at("2026-01-01T03:59:00Z")).archive ==
              "2026-01-01T03:00:00Z_incremental.sql.bz2");
    }
    SECTION("a database created after the time is refused") {
        CHECK_THROWS_WITH(choose_database_at(history, "N", at("2026-01-01T01:30:00Z")),
                          match::Contains("database \"N\" did not exist at"));
        CHECK(choose_database_at(history, "N", at("2026-01-01T02:00:00Z")).archive ==
              "2026-01-01T02:00:00Z_differential.sql.bz2");
    }
    SECTION("a time before every archive") {
        CHECK_THROWS_AS(choose_database_at(history, "A", at("2025-01-01T00:00:00Z")), UsageError);
    }
}

TEST_CASE("restore --at: the times an operator types") {
    const auto utc = [](const std::string& text) {
        const auto t = parse_operator_time(text);
        return t ? format_utc_iso(*t) : std::string("(none)");
    };
    CHECK(utc("2026-12-04T10:00:00Z") == "2026-12-04T10:00:00.000000Z");
    CHECK(utc("2026-12-04T10:00") == "2026-12-04T10:00:00.000000Z");
    CHECK(utc("2026-12-04 10:00") == "2026-12-04T10:00:00.000000Z");
    CHECK(utc("2026-12-04 10:00:30") == "2026-12-04T10:00:30.000000Z");
    CHECK(utc("2026-12-04T10:00:00.123456Z") == "2026-12-04T10:00:00.123456Z");
    CHECK(utc("2026-12-04T11:00+01:00") == "2026-12-04T10:00:00.000000Z");
    CHECK(utc("2026-12-04 05:30:00-0430") == "2026-12-04T10:00:00.000000Z");
    for (const char* bad : {"", "yesterday", "2026-12-04", "2026-12-04T10", "2026-12-04T25:00",
                            "2026-02-30T10:00", "2026-12-04T10:00 Z", "2026-12-04T10:00:00+1",
                            "2026-12-04t10:00", " 2026-12-04T10:00", "2026-12-04T10:00:00.Z"}) {
        INFO(bad);
        CHECK_FALSE(parse_operator_time(bad));
    }
}
