#pragma once
#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>

#include "pgtier/core/time.hpp"

namespace pgtier {

// The clock and the process time zone (environment, zone files); the time type and the UTC
// formats are core/time.hpp.
TimePoint now_utc();

// "2026-03-29T03:00:00+02:00": the process time zone's wall clock with its offset (seconds).
std::string format_local_iso(TimePoint t);

// Broken-down local time of `t` in the process time zone (see set_process_timezone).
std::tm local_time(TimePoint t);

// The zone database: $TZDIR, else /usr/share/zoneinfo.
std::filesystem::path zoneinfo_dir();

// Throws ConfigError saying why, unless `zone` is a time zone of the database in `zoneinfo`: a
// relative name without "." or ".." components that resolves to a regular TZif file inside
// `zoneinfo` (glibc would silently use UTC for anything else). "" and "UTC" are always zones.
void check_timezone(const std::string& zone, const std::filesystem::path& zoneinfo);

// Makes localtime use `zone` (an IANA name; "" = UTC). Throws ConfigError if the zone is
// unknown (see check_timezone).
void set_process_timezone(const std::string& zone);

}  // namespace pgtier
