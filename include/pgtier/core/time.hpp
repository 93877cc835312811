#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

// The time type and its UTC text forms: pure (no clock, no time zone); sys/clock.hpp has those.
namespace pgtier {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::microseconds>;

// Seconds since 1970 (floored) and back, computed on TimePoint's own microseconds:
// Clock::to_time_t / from_time_t go through the system clock's nanoseconds, which overflow
// (and wrap silently) after the year 2262.
std::int64_t unix_seconds(TimePoint t);
TimePoint from_unix_seconds(std::int64_t seconds);

// "2026-11-23T09:00:00.123456Z"
std::string format_utc_iso(TimePoint t);
// "2026-11-23T09:00:00Z": to the second.
std::string format_utc_seconds(TimePoint t);
// Accepts what format_utc_iso writes (fraction optional).
std::optional<TimePoint> parse_utc_iso(const std::string& text);
// ISO 8601 with "Z" or an offset: 2026-12-01T03:00:00Z, 2026-12-01T04:00:00+01:00 (fraction
// optional; +0100 accepted too).
std::optional<TimePoint> parse_iso8601(const std::string& text);
// A time an operator types (restore --at): 2026-12-04T10:00:00Z, 2026-12-04T10:00,
// 2026-12-04 10:00, 2026-12-04T11:00:30.5+01:00. Seconds are optional, a space may stand for
// the "T", and a time without "Z" or an offset is UTC (the zone of every time pgtier prints).
std::optional<TimePoint> parse_operator_time(const std::string& text);

}  // namespace pgtier
