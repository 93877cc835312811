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
// ISO 8601 with "Z" or an offset: 2026-12-01T03:00:00Z, 2026-12-01T04:00:00+01:00 (fraction
// optional; +0100 accepted too).
std::optional<TimePoint> parse_iso8601(const std::string& text);
// "2026-03-29T03:00:00+02:00": the process time zone's wall clock with its offset (seconds).
std::string format_local_iso(TimePoint t);

// Broken-down local time of `t` in the process time zone (see set_process_timezone).
std::tm local_time(TimePoint t);

// Makes localtime use `zone` (an IANA name). Throws ConfigError if the zone is unknown.
void set_process_timezone(const std::string& zone);

}  // namespace pgtier
