#include "catch_compat.hpp"

#include "pgtier/core/cron.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/sys/config.hpp"

using namespace pgtier;

TEST_CASE("cron: the default schedules") {
    const auto full = parse_cron("0 3 * * 0");
    CHECK(full.seconds.count() == 1);
    CHECK(full.seconds.test(0));
    CHECK(full.minutes.count() == 1);
    CHECK(full.hours.test(3));
    CHECK(full.hours.count() == 1);
    CHECK(full.days_of_week.count() == 1);
    CHECK(full.days_of_week.test(0));
    CHECK(full.day_of_week_restricted);
    CHECK_FALSE(full.day_of_month_restricted);
    CHECK(parse_cron("0 * * * *").hours.count() == 24);
}

TEST_CASE("cron: lists, ranges, steps, names, seconds, macros") {
    const auto c = parse_cron("*/15 9-17/4 1,15 jan-mar MON-fri");
    CHECK(c.minutes.count() == 4);
    CHECK(c.hours.test(9));
    CHECK(c.hours.test(13));
    CHECK(c.hours.test(17));
    CHECK(c.hours.count() == 3);
    CHECK(c.days_of_month.count() == 2);
    CHECK(c.months.count() == 3);
    CHECK(c.days_of_week.count() == 5);
    CHECK(c.day_of_month_restricted);
    CHECK(c.day_of_week_restricted);

    const auto s = parse_cron("*/10 * * * * *");
    CHECK(s.seconds.count() == 6);
    CHECK(parse_cron("5/20 * * * *").minutes.count() == 3);  // 5, 25, 45
    CHECK(parse_cron("0 0 * * 7").days_of_week.test(0));     // 7 = Sunday
    CHECK(parse_cron("@weekly").days_of_week.test(0));
    CHECK(parse_cron("@hourly").hours.count() == 24);
    CHECK(parse_cron("@monthly").days_of_month.test(1));
}

TEST_CASE("cron: bad expressions name the field and the reason") {
    auto message = [](const char* text) {
        try {
            parse_cron(text);
        } catch (const CronError& err) {
            return std::string(err.what());
        }
        return std::string("(accepted)");
    };
    CHECK_THAT(message("0 3 * *"),
               match::Contains("expected 5 fields") && match::Contains("got 4"));
    CHECK_THAT(message("0 25 * * *"), match::Contains("field hour '25': 25 is out of range 0-23"));
    CHECK_THAT(message("61 * * * *"), match::Contains("field minute"));
    CHECK_THAT(message("0 0 0 * *"), match::Contains("field day-of-month '0'"));
    CHECK_THAT(message("0 0 * foo *"), match::Contains("unknown name 'foo'"));
    CHECK_THAT(message("0 0 * * 8"), match::Contains("field day-of-week"));
    CHECK_THAT(message("*/0 * * * *"), match::Contains("step 0 is out of range"));
    CHECK_THAT(message("5-1 * * * *"), match::Contains("runs backwards"));
    CHECK_THAT(message("1,,2 * * * *"), match::Contains("empty list item"));
    CHECK_THAT(message("@sometimes"), match::Contains("unknown macro"));
    CHECK_THAT(message("a * * * *"), match::Contains("'a' is not a number"));
}

TEST_CASE("config rejects a bad cron expression with file and key") {
    try {
        parse_config("[schedule]\nincremental = \"0 25 * * *\"\n", "/etc/pgtier/pgtier.toml", {});
        FAIL("accepted");
    } catch (const ConfigError& err) {
        CHECK_THAT(err.what(), match::Contains("/etc/pgtier/pgtier.toml:2") &&
                                   match::Contains("schedule.incremental") &&
                                   match::Contains("field hour"));
    }
}
