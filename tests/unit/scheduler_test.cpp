#include "catch_compat.hpp"

#include "pgtier/core/scheduler.hpp"

using namespace pgtier;

namespace {

TimePoint t(const char* iso) {
    return *parse_iso8601(iso);
}

// The defaults (UTC): full Sunday 03:00, differential Wednesday 03:00, incremental hourly.
const TierSchedules defaults = parse_schedules(ScheduleConfig{}, "test");

}  // namespace

TEST_CASE("scheduler: tiers due together coalesce into the biggest") {
    // 2026-11-29 is a Sunday: at 03:00 the full and the incremental are both due.
    const auto sunday = next_run(defaults, t("2026-11-29T02:30:00Z"));
    REQUIRE(sunday);
    CHECK(sunday->tier == BackupType::full);
    CHECK(sunday->at == t("2026-11-29T03:00:00Z"));
    CHECK(sunday->covered == std::vector<BackupType>{BackupType::incremental});
    // Wednesday 03:00: the differential covers the incremental.
    const auto wednesday = next_run(defaults, t("2026-11-25T02:59:59Z"));
    CHECK(wednesday->tier == BackupType::differential);
    CHECK(wednesday->covered == std::vector<BackupType>{BackupType::incremental});
    // Any other hour: the incremental alone.
    const auto monday = next_run(defaults, t("2026-11-23T10:15:00Z"));
    CHECK(monday->tier == BackupType::incremental);
    CHECK(monday->at == t("2026-11-23T11:00:00Z"));
    CHECK(monday->covered.empty());
}

TEST_CASE("scheduler: what runs at start") {
    const auto now = t("2026-11-23T10:15:00Z");  // Monday
    // No full at all: a full at once.
    CHECK(startup_run(defaults, now, false, std::nullopt, std::nullopt) == BackupType::full);
    // The last full was before Sunday 03:00: that full was missed.
    CHECK(startup_run(defaults, now, true, t("2026-11-15T03:00:00Z"), std::nullopt) ==
          BackupType::full);
    // Sunday's full ran: nothing to catch up (the next differential is Wednesday).
    CHECK_FALSE(startup_run(defaults, now, true, t("2026-11-22T03:00:05Z"), std::nullopt));
    // Thursday, the full ran on Sunday but Wednesday's differential did not: a differential.
    const auto thursday = t("2026-11-26T09:00:00Z");
    CHECK(startup_run(defaults, thursday, true, t("2026-11-22T03:00:05Z"),
                      t("2026-11-18T03:00:05Z")) == BackupType::differential);
    CHECK_FALSE(startup_run(defaults, thursday, true, t("2026-11-22T03:00:05Z"),
                            t("2026-11-25T03:00:02Z")));
}

TEST_CASE("scheduler: tier intervals for health") {
    const auto now = t("2026-11-23T10:15:00Z");
    CHECK(tier_interval(defaults.full, now) == std::chrono::hours(24 * 7));
    CHECK(tier_interval(defaults.incremental, now) == std::chrono::hours(1));
}

TEST_CASE("scheduler: a bad schedule names its key") {
    ScheduleConfig bad;
    bad.differential = "0 3 * * funday";
    CHECK_THROWS_WITH(parse_schedules(bad, "/etc/pgtier/pgtier.toml"),
                      match::Contains("schedule.differential") && match::Contains("funday"));
}

TEST_CASE("scheduler: the last attempt of a tier is its newest archive or its last run") {
    auto published = [](BackupType type, const char* at) {
        Manifest m;
        m.type = type;
        m.started_at = t(at);
        return m;
    };
    const std::vector<Manifest> archives = {
        published(BackupType::full, "2026-11-15T03:00:00Z"),
        published(BackupType::full, "2026-11-22T03:00:00Z"),
        published(BackupType::differential, "2026-11-18T03:00:00Z"),
        published(BackupType::incremental, "2026-11-23T09:00:00Z"),
    };
    // Nothing at all.
    CHECK(last_attempt({}, BackupType::full, std::nullopt) == std::nullopt);
    CHECK(last_attempt(archives, BackupType::differential, std::nullopt) ==
          t("2026-11-18T03:00:00Z"));
    // The newest archive of the tier only (the incremental and the older full do not count).
    CHECK(last_attempt(archives, BackupType::full, std::nullopt) == t("2026-11-22T03:00:00Z"));
    // A run recorded after the newest archive (it failed or was skipped) is newer.
    CHECK(last_attempt(archives, BackupType::full, t("2026-11-23T03:00:00Z")) ==
          t("2026-11-23T03:00:00Z"));
    // One older than the newest archive is not.
    CHECK(last_attempt(archives, BackupType::full, t("2026-11-15T03:00:00Z")) ==
          t("2026-11-22T03:00:00Z"));
    // A run recorded without any archive of the tier.
    CHECK(last_attempt({}, BackupType::differential, t("2026-11-18T03:00:00Z")) ==
          t("2026-11-18T03:00:00Z"));
}

TEST_CASE("scheduler: a failed run is retried after 1, 5, 15, then every 60 minutes") {
    const auto back_off = DaemonConfig{}.retry_delays;
    const auto retry_time = [&](const TierSchedules& s, BackupType tier, int failures,
                                TimePoint at) {
        return pgtier::retry_time(s, tier, failures, at, back_off);
    };
    // A full failed on Sunday 03:10; the next full fires a week later.
    const auto failed = t("2026-11-29T03:10:00Z");
    CHECK(retry_time(defaults, BackupType::full, 1, failed) == t("2026-11-29T03:11:00Z"));
    CHECK(retry_time(defaults, BackupType::full, 2, failed) == t("2026-11-29T03:15:00Z"));
    CHECK(retry_time(defaults, BackupType::full, 3, failed) == t("2026-11-29T03:25:00Z"));
    CHECK(retry_time(defaults, BackupType::full, 4, failed) == t("2026-11-29T04:10:00Z"));
    CHECK(retry_time(defaults, BackupType::full, 9, failed) == t("2026-11-29T04:10:00Z"));
    // Never at or past the tier's next fire time: the schedule runs it then.
    CHECK(retry_time(defaults, BackupType::full, 4, t("2026-12-06T02:00:00Z")) == std::nullopt);
    CHECK(retry_time(defaults, BackupType::full, 1, t("2026-12-06T02:59:30Z")) == std::nullopt);
    // An hourly incremental that failed at 10:00:20 gets three retries before 11:00.
    const auto incr = t("2026-11-23T10:00:20Z");
    CHECK(retry_time(defaults, BackupType::incremental, 1, incr) == t("2026-11-23T10:01:20Z"));
    CHECK(retry_time(defaults, BackupType::incremental, 3, t("2026-11-23T10:06:40Z")) ==
          t("2026-11-23T10:21:40Z"));
    CHECK(retry_time(defaults, BackupType::incremental, 4, t("2026-11-23T10:21:50Z")) ==
          std::nullopt);
}

TEST_CASE("scheduler: retry delays are configurable, and none means no retry") {
    const auto failed = t("2026-11-29T03:10:00Z");
    const std::vector<std::chrono::seconds> delays{std::chrono::seconds(2),
                                                   std::chrono::seconds(30)};
    CHECK(retry_time(defaults, BackupType::full, 1, failed, delays) == t("2026-11-29T03:10:02Z"));
    CHECK(retry_time(defaults, BackupType::full, 2, failed, delays) == t("2026-11-29T03:10:30Z"));
    CHECK(retry_time(defaults, BackupType::full, 7, failed, delays) == t("2026-11-29T03:10:30Z"));
    CHECK(retry_time(defaults, BackupType::full, 1, failed, {}) == std::nullopt);
}
