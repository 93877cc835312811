#pragma once
#include <chrono>
#include <optional>
#include <string>

// The time type and its UTC text forms: pure (no clock, no time zone); sys/clock.hpp has those.
namespace pgtier {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::microseconds>;

// "2026-11-23T09:00:00.123456Z"
std::string format_utc_iso(TimePoint t);
// "2026-11-23T09:00:00Z": to the second.
std::string format_utc_seconds(TimePoint t);
// Accepts what format_utc_iso writes (fraction optional).
std::optional<TimePoint> parse_utc_iso(const std::string& text);
// ISO 8601 with "Z" or an offset: 2026-12-01T03:00:00Z, 2026-12-01T04:00:00+01:00 (fraction
// optional; +0100 accepted too).
std::optional<TimePoint> parse_iso8601(const std::string& text);

}  // namespace pgtier
