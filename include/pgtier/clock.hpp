#pragma once
#include <chrono>
#include <ctime>
#include <optional>
#include <string>

namespace pgtier {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::microseconds>;

TimePoint now_utc();

// "2026-11-23T09:00:00.123456Z"
std::string format_utc_iso(TimePoint t);
// Accepts what format_utc_iso writes (fraction optional).
std::optional<TimePoint> parse_utc_iso(const std::string& text);

// Broken-down local time of `t` in the process time zone (see set_process_timezone).
std::tm local_time(TimePoint t);

// Makes localtime use `zone` (an IANA name). Throws ConfigError if the zone is unknown.
void set_process_timezone(const std::string& zone);

}  // namespace pgtier
