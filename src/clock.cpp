#include "pgtier/clock.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "pgtier/errors.hpp"

namespace pgtier {

TimePoint now_utc() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now());
}

std::string format_utc_iso(TimePoint t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    const auto micros = (t - seconds).count();
    const std::time_t tt = Clock::to_time_t(seconds);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(micros));
    return buffer;
}

std::optional<TimePoint> parse_utc_iso(const std::string& text) {
    int year, month, day, hour, minute, second, consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                    &second, &consumed) != 6) {
        return std::nullopt;
    }
    long long micros = 0;
    std::size_t pos = static_cast<std::size_t>(consumed);
    if (pos < text.size() && text[pos] == '.') {
        long long scale = 100000;
        for (++pos; pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]));
             ++pos) {
            micros += (text[pos] - '0') * scale;
            scale /= 10;
        }
    }
    if (pos >= text.size() || text[pos] != 'Z' || pos + 1 != text.size()) return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t tt = timegm(&tm);
    return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::from_time_t(tt)) +
           std::chrono::microseconds(micros);
}

std::tm local_time(TimePoint t) {
    const std::time_t tt = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
    std::tm tm{};
    localtime_r(&tt, &tm);
    return tm;
}

void set_process_timezone(const std::string& zone) {
    // glibc silently falls back to UTC for unknown names, so check the zone database first.
    if (zone != "UTC" && !std::filesystem::exists("/usr/share/zoneinfo/" + zone)) {
        throw ConfigError("unknown time zone '" + zone + "' (no /usr/share/zoneinfo/" + zone + ")");
    }
    setenv("TZ", zone.c_str(), 1);
    tzset();
}

}  // namespace pgtier
