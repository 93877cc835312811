#pragma once
#include <bitset>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pgtier/core/time.hpp"

namespace pgtier {

class CronError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A parsed cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with a
// leading seconds field; lists, ranges, steps, month and day names, @hourly/@daily/@weekly/
// @monthly/@yearly. Day-of-month and day-of-week follow the usual OR rule when both are set.
struct CronSchedule {
    std::bitset<60> seconds;
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days_of_month;  // 1..31
    std::bitset<13> months;         // 1..12
    std::bitset<7> days_of_week;    // 0 = Sunday
    bool day_of_month_restricted = false;
    bool day_of_week_restricted = false;
    std::string text;
};

// Throws CronError naming the field and the reason (also for a schedule that can never fire,
// such as 30 February).
CronSchedule parse_cron(std::string_view text);

// The first instant strictly after `after` at which the schedule fires, with the fields read as
// wall-clock time in the process time zone (set_process_timezone). Daylight saving time: a
// wall-clock time that does not exist (spring forward) fires at the first instant after the
// gap; one that happens twice (fall back) fires once, at its first occurrence. nullopt when
// nothing matches within eight years.
std::optional<TimePoint> next_fire(const CronSchedule& schedule, TimePoint after);

}  // namespace pgtier
