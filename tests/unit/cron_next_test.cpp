#include "catch_compat.hpp"

#include <cstdlib>
#include <ctime>

#include "pgtier/core/cron.hpp"
#include "pgtier/sys/clock.hpp"

using namespace pgtier;

namespace {

// Runs a test section in one IANA time zone (cron reads fields in the process zone).
class ScopedZone {
  public:
    explicit ScopedZone(const char* zone) {
        const char* old = std::getenv("TZ");
        had_ = old != nullptr;
        if (had_) old_ = old;
        set_process_timezone(zone);
    }
    ~ScopedZone() {
        if (had_) {
            setenv("TZ", old_.c_str(), 1);
        } else {
            unsetenv("TZ");
        }
        tzset();
    }

  private:
    bool had_ = false;
    std::string old_;
};

struct Case {
    const char* zone;
    const char* expression;
    const char* after;
    std::vector<const char*> next;  // the following fire times, in UTC
};

std::string utc(TimePoint t) {
    std::string s = format_utc_iso(t);  // …T00:00:00.000000Z
    return s.substr(0, 19) + "Z";
}

}  // namespace

TEST_CASE("cron: next fire times, including DST days, month ends, leap days and DOM/DOW") {
    // Europe/Berlin 2026: CET->CEST on 29 March at 01:00Z (02:00->03:00 local), CEST->CET on
    // 25 October at 01:00Z (03:00->02:00). America/New_York 2026: 8 March at 07:00Z (02:00->03:00),
    // 1 November at 06:00Z (02:00->01:00).
    const std::vector<Case> cases = {
        // 02:30 does not exist on 29 March: the first instant after the gap, 03:00 CEST.
        {"Europe/Berlin",
         "30 2 * * *",
         "2026-03-28T12:00:00Z",
         {"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
        // 02:30 happens twice on 25 October: once, at the first (CEST).
        {"Europe/Berlin",
         "30 2 * * *",
         "2026-10-24T12:00:00Z",
         {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
        // Asked during the repeated hour (01:10Z = 02:10 CET, second time): 02:30 already ran.
        {"Europe/Berlin", "30 2 * * *", "2026-10-25T01:10:00Z", {"2026-10-26T01:30:00Z"}},
        // The default full (Sunday 03:00) on both DST Sundays.
        {"Europe/Berlin",
         "0 3 * * 0",
         "2026-03-28T00:00:00Z",
         {"2026-03-29T01:00:00Z", "2026-04-05T01:00:00Z"}},
        {"Europe/Berlin",
         "0 3 * * 0",
         "2026-10-24T00:00:00Z",
         {"2026-10-25T02:00:00Z", "2026-11-01T02:00:00Z"}},
        // Hourly through New York's fall back: 01:00 EDT runs, 01:00 EST (repeat) does not.
        {"America/New_York",
         "0 * * * *",
         "2026-11-01T04:30:00Z",
         {"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
        // Every 30 minutes of 02:xx on New York's spring-forward day: both fall in the gap and
        // run once, at 03:00 EDT.
        {"America/New_York",
         "*/30 2 * * *",
         "2026-03-08T06:00:00Z",
         {"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"}},
        // Month ends and leap days.
        {"UTC",
         "0 0 31 * *",
         "2026-04-15T00:00:00Z",
         {"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
        {"UTC", "0 12 29 2 *", "2026-03-01T00:00:00Z", {"2028-02-29T12:00:00Z"}},
        {"UTC", "@monthly", "2026-12-15T10:00:00Z", {"2027-01-01T00:00:00Z"}},
        // Day of month OR day of week when both are restricted (the 13th, or a Friday).
        {"UTC",
         "0 0 13 * 5",
         "2026-11-01T00:00:00Z",
         {"2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z"}},
        // "strictly after": asked at exactly a fire time, the next one.
        {"UTC",
         "0 0 1 * mon",
         "2026-11-23T00:00:00Z",
         {"2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-07T00:00:00Z"}},
        {"UTC", "0 6 * jan-mar mon-fri", "2026-03-31T07:00:00Z", {"2027-01-01T06:00:00Z"}},
        // A leading seconds field.
        {"UTC",
         "*/20 * * * * *",
         "2026-01-01T00:00:05Z",
         {"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
        // Sunday as 7.
        {"UTC", "0 0 * * 7", "2026-11-23T00:00:00Z", {"2026-11-29T00:00:00Z"}},
    };
    for (const auto& c : cases) {
        ScopedZone zone(c.zone);
        const auto schedule = parse_cron(c.expression);
        auto at = *parse_iso8601(c.after);
        for (const char* expected : c.next) {
            INFO(c.zone << " '" << c.expression << "' after " << format_utc_iso(at));
            const auto next = next_fire(schedule, at);
            REQUIRE(next.has_value());
            CHECK(utc(*next) == expected);
            at = *next;
        }
    }
}

TEST_CASE("cron: the local offset in printed times follows DST") {
    ScopedZone zone("Europe/Berlin");
    CHECK(format_local_iso(*parse_iso8601("2026-03-29T01:00:00Z")) == "2026-03-29T03:00:00+02:00");
    CHECK(format_local_iso(*parse_iso8601("2026-10-25T01:30:00Z")) == "2026-10-25T02:30:00+01:00");
    CHECK(format_local_iso(*parse_iso8601("2026-10-25T00:30:00Z")) == "2026-10-25T02:30:00+02:00");
}

TEST_CASE("ISO 8601 times with Z or an offset") {
    CHECK(utc(*parse_iso8601("2026-12-01T03:00:00Z")) == "2026-12-01T03:00:00Z");
    CHECK(utc(*parse_iso8601("2026-12-01T04:00:00+01:00")) == "2026-12-01T03:00:00Z");
    CHECK(utc(*parse_iso8601("2026-11-30T22:00:00-0500")) == "2026-12-01T03:00:00Z");
    CHECK(utc(*parse_iso8601("2026-12-01T03:00:00.250Z")) == "2026-12-01T03:00:00Z");
    CHECK_FALSE(parse_iso8601("2026-12-01 03:00:00"));
    CHECK_FALSE(parse_iso8601("2026-12-01T03:00:00"));
    CHECK_FALSE(parse_iso8601("2026-13-01T03:00:00Z"));
    CHECK_FALSE(parse_iso8601("2026-12-01T03:00:00+1"));
    CHECK_FALSE(parse_utc_iso("2026-12-01T04:00:00+01:00"));
}

TEST_CASE("cron: a date that never exists is rejected at parse time") {
    CHECK_THROWS_WITH(parse_cron("0 0 30 2 *"), match::Contains("never meet"));
    CHECK_THROWS_WITH(parse_cron("0 0 31 4,6,9,11 *"), match::Contains("never meet"));
    CHECK_NOTHROW(parse_cron("0 0 29 2 *"));    // leap years
    CHECK_NOTHROW(parse_cron("0 0 30 2 mon"));  // OR: every Monday of February
}

TEST_CASE("ISO 8601: dates that do not exist are refused") {
    CHECK_FALSE(parse_iso8601("2026-02-31T00:00:00Z"));
    CHECK_FALSE(parse_iso8601("2026-02-29T00:00:00Z"));
    CHECK(parse_iso8601("2028-02-29T00:00:00Z"));
}
