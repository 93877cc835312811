#include "catch_compat.hpp"

#include <map>
#include <random>
#include <set>

#include "fixtures.hpp"
#include "pgtier/core/retention.hpp"

using namespace pgtier;
using test::state;

namespace {

const TimePoint now = *parse_utc_iso("2026-11-23T12:00:00Z");

TimePoint days_ago(double days) {
    return now - std::chrono::microseconds(static_cast<long long>(days * 86400e6));
}

// An archive `days` before now, named after its tier and age, holding `dbs`.
Manifest at(BackupType type, double days, std::vector<std::string> dbs = {"A"},
            const Fingerprint& fp = state({{"A", "a"}})) {
    Manifest m;
    m.type = type;
    m.started_at = days_ago(days);
    m.name = std::string(to_string(type)) + "-" + std::to_string(days);
    m.fingerprint = fp;
    if (type != BackupType::incremental)
        m.sections.push_back({SectionKind::globals, std::nullopt, 0, 0, 0, "", fp.globals});
    for (const auto& db : dbs) m.sections.push_back({SectionKind::database, db, 0, 0, 0, "", ""});
    return m;
}

std::map<std::string, std::pair<bool, std::string>> decide(const std::vector<Manifest>& archives,
                                                           RetentionConfig policy = {}) {
    std::map<std::string, std::pair<bool, std::string>> out;
    for (const auto& d : plan_retention(archives, policy, now)) out[d.name] = {d.keep, d.reason};
    return out;
}

constexpr auto full = BackupType::full;
constexpr auto diff = BackupType::differential;
constexpr auto incr = BackupType::incremental;

}  // namespace

TEST_CASE("retention: the default tiers (14 / 42 / 42 days, min_full 2)") {
    const auto d =
        decide({at(full, 60), at(full, 50), at(full, 8), at(full, 1), at(diff, 45), at(diff, 40),
                at(diff, 4), at(incr, 20), at(incr, 15), at(incr, 13), at(incr, 3), at(incr, 0.5)});
    struct Row {
        std::string name;
        bool keep;
        std::string reason_part;
    };
    const std::vector<Row> golden = {
        {"incremental-0.500000", true, "newest incremental"},
        {"full-1.000000", true, "newest full"},
        {"incremental-3.000000", true, "age 3.0 days <= 14 days"},
        {"differential-4.000000", true, "newest differential"},
        {"full-8.000000", true, "newest 2 fulls (min_full)"},
        {"incremental-13.000000", true, "<= 14 days"},
        {"incremental-15.000000", false, "age 15.0 days > 14 days (incremental_days)"},
        {"incremental-20.000000", false, "> 14 days"},
        {"differential-40.000000", true, "<= 42 days"},
        {"differential-45.000000", false, "> 42 days (differential_days)"},
        {"full-50.000000", false, "> 42 days (full_days)"},
        {"full-60.000000", false, "> 42 days"},
    };
    REQUIRE(d.size() == golden.size());
    for (const auto& row : golden) {
        INFO(row.name);
        REQUIRE(d.count(row.name));
        CHECK(d.at(row.name).first == row.keep);
        CHECK_THAT(d.at(row.name).second, match::Contains(row.reason_part));
    }
}

TEST_CASE("retention: a single old full and the incrementals its restore chain needs stay") {
    // One full 100 days old; B changed 20 days ago (only in that incremental), A 2 days ago.
    const auto fp = state({{"A", "a2"}, {"B", "b1"}});
    const auto d = decide({at(full, 100, {"A", "B"}, fp), at(incr, 30, {"A"}, fp),
                           at(incr, 20, {"B"}, fp), at(incr, 2, {"A"}, fp)});
    CHECK(d.at("full-100.000000") == std::make_pair(true, std::string("newest full: always kept")));
    CHECK(d.at("incremental-20.000000").first);
    CHECK_THAT(d.at("incremental-20.000000").second, match::Contains("restore chain"));
    // A's older incremental is superseded by the 2-day one: deleted.
    CHECK_FALSE(d.at("incremental-30.000000").first);
}

TEST_CASE("retention: min_full counts the newest full and keeps the rest whatever their age") {
    RetentionConfig policy;
    policy.min_full = 3;
    const auto d = decide({at(full, 100), at(full, 90), at(full, 80), at(full, 70)}, policy);
    CHECK(d.at("full-100.000000").first == false);
    CHECK(d.at("full-90.000000").first);
    CHECK_THAT(d.at("full-90.000000").second, match::Contains("min_full"));
    CHECK(d.at("full-80.000000").first);
    CHECK(d.at("full-70.000000").first);
}

TEST_CASE("retention: archives dated in the future are kept and do not count as newest") {
    const auto d = decide({at(full, -2), at(full, 60), at(full, 50), at(full, 45)});
    CHECK(d.at("full--2.000000").first);
    CHECK_THAT(d.at("full--2.000000").second, match::Contains("future"));
    CHECK_THAT(d.at("full-45.000000").second, match::Contains("newest full"));
    CHECK_THAT(d.at("full-50.000000").second, match::Contains("min_full"));
    CHECK_FALSE(d.at("full-60.000000").first);
}

TEST_CASE("retention: keep_monthly_full keeps the newest full of each recent month") {
    // Weekly fulls; now is 2026-11-23, so the last 3 months are September to November.
    std::vector<Manifest> fulls;
    for (const char* when : {"2026-08-30T03:00:00Z", "2026-09-06T03:00:00Z", "2026-09-27T03:00:00Z",
                             "2026-10-04T03:00:00Z", "2026-10-25T03:00:00Z", "2026-11-01T03:00:00Z",
                             "2026-11-22T03:00:00Z"}) {
        Manifest m = at(full, 0);
        m.started_at = *parse_utc_iso(when);
        m.name = std::string(when).substr(0, 10);
        fulls.push_back(m);
    }
    RetentionConfig policy;
    policy.keep_monthly_full = 3;
    const auto d = decide(fulls, policy);
    CHECK(d.at("2026-11-22").first);  // newest
    CHECK(d.at("2026-11-01").first);  // min_full
    CHECK(d.at("2026-10-25").first);  // newest of October (also young enough)
    CHECK_FALSE(d.at("2026-10-04").first);
    CHECK(d.at("2026-09-27").first);
    CHECK_THAT(d.at("2026-09-27").second, match::Contains("newest full of 2026-09"));
    CHECK_FALSE(d.at("2026-09-06").first);
    CHECK_FALSE(d.at("2026-08-30").first);
    // Without the option the September full goes.
    CHECK_FALSE(decide(fulls).at("2026-09-27").first);
}

TEST_CASE("retention: invariants over random histories") {
    std::mt19937 rng(20261123);
    std::uniform_real_distribution<double> age(-1, 120);
    std::uniform_int_distribution<int> tier(0, 2), count(1, 40);
    for (int round = 0; round < 300; ++round) {
        std::vector<Manifest> archives;
        const int n = count(rng);
        for (int i = 0; i < n; ++i) {
            archives.push_back(at(static_cast<BackupType>(tier(rng)), age(rng)));
            archives.back().name += "#" + std::to_string(i);
        }
        const auto decisions = plan_retention(archives, {}, now);
        REQUIRE(decisions.size() == archives.size());
        std::set<std::string> names;
        std::map<BackupType, TimePoint> newest;
        for (const auto& m : archives) {
            if (m.started_at <= now && (!newest.count(m.type) || m.started_at > newest[m.type]))
                newest[m.type] = m.started_at;
        }
        for (const auto& d : decisions) {
            CHECK(names.insert(d.name).second);  // each archive decided once
            CHECK_FALSE(d.reason.empty());
            if (newest.count(d.tier) && d.started_at == newest[d.tier]) CHECK(d.keep);
            if (d.started_at > now) CHECK(d.keep);
            if (!d.keep) CHECK(now - d.started_at > std::chrono::hours(24 * 14));
        }
    }
}

TEST_CASE("retention: an archive dated centuries ahead is kept as future, never as ancient") {
    // Past the system clock's nanosecond range (2262): these times once wrapped to the 15th
    // century, and such an archive was deleted as the oldest of all.
    const std::vector<std::pair<std::string, std::string>> dates = {
        {"2300-01-01T00:00:00Z", "2300-01-01T00:00:00.000000Z"},
        {"2900-06-01T12:00:00Z", "2900-06-01T12:00:00.000000Z"},
        {"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
    };
    for (const auto& [when, printed] : dates) {
        INFO(when);
        auto future = at(full, 0);
        future.name = "full-future";
        future.started_at = *parse_utc_iso(when);
        CHECK(format_utc_iso(future.started_at) == printed);
        const auto d = decide({at(full, 100), at(full, 90), at(full, 80), future});
        CHECK(d.at("full-future").first);
        // Reasons print times to the second, as everything pgtier prints.
        CHECK(d.at("full-future").second ==
              "dated in the future (" + printed.substr(0, 19) + "Z): kept");
        // It is not counted as the newest full: the newest of the past still is.
        CHECK(d.at("full-80.000000").second == "newest full: always kept");
        CHECK_FALSE(d.at("full-100.000000").first);
    }
}
