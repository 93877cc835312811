#include "catch_compat.hpp"

#include "pgtier/core/health.hpp"

using namespace pgtier;

namespace {

TimePoint t(const char* iso) {
    return *parse_iso8601(iso);
}

// The defaults (UTC): full Sunday 03:00, differential Wednesday 03:00, incremental hourly.
const TierSchedules defaults = parse_schedules(ScheduleConfig{}, "test");

std::string local(TimePoint at) {
    return "local " + format_utc_seconds(at);
}

TierHealth succeeded(const char* at) {
    TierHealth h;
    h.last_success = t(at);
    return h;
}

Manifest published(BackupType type, const char* at) {
    Manifest m;
    m.type = type;
    m.started_at = t(at);
    return m;
}

using Problems = std::vector<std::string>;

}  // namespace

TEST_CASE("health: a tier that never succeeded") {
    CHECK(judge_health({}, {}, defaults, t("2026-11-23T10:00:00Z"), local) ==
          Problems{"no successful full run yet", "no successful differential run yet",
                   "no successful incremental run yet"});
    // A run recorded as running is not a success of its own: but it is on time.
    std::map<BackupType, TierHealth> tiers;
    tiers[BackupType::incremental].running_since = t("2026-11-23T09:59:00Z");
    CHECK(judge_health(tiers, {}, defaults, t("2026-11-23T10:00:00Z"), local) ==
          Problems{"no successful full run yet", "no successful differential run yet"});
}

TEST_CASE("health: the last run failed") {
    std::map<BackupType, TierHealth> tiers;
    tiers[BackupType::incremental] = succeeded("2026-11-23T09:00:00Z");
    // A failed last run is reported even with a success before it and an archive after it.
    tiers[BackupType::incremental].failed =
        TierHealth::FailedRun{t("2026-11-23T10:00:00.250Z"), "pg_dump exited with status 1"};
    const std::vector<Manifest> archives = {
        published(BackupType::full, "2026-11-22T03:00:00Z"),
    };
    CHECK(judge_health(tiers, archives, defaults, t("2026-11-23T10:05:00Z"), local) ==
          Problems{"the last incremental run (2026-11-23T10:00:00Z) failed: pg_dump exited with "
                   "status 1"});
}

TEST_CASE("health: overdue beyond the grace, on time within it") {
    std::map<BackupType, TierHealth> tiers;
    tiers[BackupType::full] = succeeded("2026-11-15T03:00:00Z");  // a Sunday
    tiers[BackupType::differential] = succeeded("2026-11-18T03:00:00Z");
    // The full due on Sunday 22 at 03:00 has a grace of a tenth of a week: 16.8 h.
    SECTION("within the grace") {
        tiers[BackupType::incremental] = succeeded("2026-11-22T19:00:00Z");
        CHECK(judge_health(tiers, {}, defaults, t("2026-11-22T19:48:00Z"), local).empty());
    }
    SECTION("beyond it") {
        tiers[BackupType::incremental] = succeeded("2026-11-22T19:00:00Z");
        CHECK(judge_health(tiers, {}, defaults, t("2026-11-22T19:48:01Z"), local) ==
              Problems{"the full run due at local 2026-11-22T03:00:00Z has not succeeded (the "
                       "newest success started 7.7 days ago; grace 16.8 h)"});
    }
    SECTION("an hourly tier has a grace of an hour at least") {
        tiers[BackupType::full] = succeeded("2026-11-22T03:00:00Z");
        tiers[BackupType::incremental] = succeeded("2026-11-23T08:30:00Z");
        CHECK(judge_health(tiers, {}, defaults, t("2026-11-23T10:00:00Z"), local).empty());
        CHECK(judge_health(tiers, {}, defaults, t("2026-11-23T10:00:01Z"), local) ==
              Problems{"the incremental run due at local 2026-11-23T09:00:00Z has not "
                       "succeeded (the newest success started 90 min ago; grace 60 min)"});
    }
}

TEST_CASE("health: a bigger tier covers the smaller ones") {
    const auto now = t("2026-11-22T03:30:00Z");
    // A full published on Sunday is also the differential and the incremental.
    const std::vector<Manifest> archives = {published(BackupType::full, "2026-11-22T03:00:00Z")};
    CHECK(judge_health({}, archives, defaults, now, local).empty());
    // A recorded success of the full counts the same way.
    std::map<BackupType, TierHealth> tiers;
    tiers[BackupType::full] = succeeded("2026-11-22T03:00:00Z");
    CHECK(judge_health(tiers, {}, defaults, now, local).empty());
    // A smaller tier never covers a bigger one.
    const std::vector<Manifest> incremental = {
        published(BackupType::incremental, "2026-11-22T03:00:00Z")};
    CHECK(judge_health({}, incremental, defaults, now, local) ==
          Problems{"no successful full run yet", "no successful differential run yet"});
}

TEST_CASE("health: a run still going counts as on time") {
    std::map<BackupType, TierHealth> tiers;
    tiers[BackupType::full] = succeeded("2026-11-15T03:00:00Z");
    tiers[BackupType::differential] = succeeded("2026-11-18T03:00:00Z");
    tiers[BackupType::incremental] = succeeded("2026-11-23T09:30:00Z");
    const auto now = t("2026-11-23T10:00:00Z");
    CHECK(judge_health(tiers, {}, defaults, now, local).size() == 1);  // the full is overdue
    // The full started on Sunday and still running is judged when it ends.
    tiers[BackupType::full].running_since = t("2026-11-22T03:00:00Z");
    CHECK(judge_health(tiers, {}, defaults, now, local).empty());
}

TEST_CASE("health --live: the daemon's heartbeat must be fresh") {
    const TimePoint now = t("2026-11-23T10:00:00Z");
    const auto max_age = std::chrono::seconds(120);
    CHECK(judge_liveness(std::nullopt, now, max_age) ==
          "no daemon heartbeat: the daemon is not running (or not yet started)");
    Heartbeat beat{42, t("2026-11-23T09:58:30Z"), "running the full backup (scheduled)",
                   t("2026-11-23T03:00:00Z")};
    // 90 s old, within 120 s: alive, however long the activity has been going (a 7-hour dump).
    CHECK(judge_liveness(beat, now, max_age) == std::nullopt);
    beat.at = t("2026-11-23T09:57:59Z");  // 121 s
    const auto stale = judge_liveness(beat, now, max_age);
    REQUIRE(stale);
    CHECK_THAT(*stale, match::Contains("pid 42, running the full backup (scheduled)") &&
                           match::Contains("is 121 s old, more than 120 s"));
}
