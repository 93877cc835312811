#include "pgtier/core/time.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <regex>

namespace pgtier {

std::int64_t unix_seconds(TimePoint t) {
    return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

TimePoint from_unix_seconds(std::int64_t seconds) {
    return TimePoint(std::chrono::seconds(seconds));
}

std::string format_utc_iso(TimePoint t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    const auto micros = (t - seconds).count();
    const std::time_t tt = unix_seconds(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(micros));
    return buffer;
}

std::string format_utc_seconds(TimePoint t) {
    return format_utc_iso(t).substr(0, 19) + "Z";
}

std::optional<TimePoint> parse_iso8601(const std::string& text) {
    int year, month, day, hour, minute, second, consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                    &second, &consumed) != 6 ||
        month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
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
    long offset = 0;  // seconds east of UTC
    if (pos < text.size() && text[pos] == 'Z') {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        const int sign = text[pos] == '-' ? -1 : 1;
        int oh = 0, om = 0, used = 0;
        const std::string rest = text.substr(pos + 1);
        if (std::sscanf(rest.c_str(), "%2d:%2d%n", &oh, &om, &used) == 2 ||
            std::sscanf(rest.c_str(), "%2d%2d%n", &oh, &om, &used) == 2) {
            pos += 1 + static_cast<std::size_t>(used);
        } else {
            return std::nullopt;
        }
        if (oh > 18 || om > 59) return std::nullopt;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t local = timegm(&tm);
    std::tm check{};
    gmtime_r(&local, &check);
    if (check.tm_mday != day || check.tm_mon != month - 1) return std::nullopt;  // 31 February
    const std::time_t tt = local - offset;
    return from_unix_seconds(tt) + std::chrono::microseconds(micros);
}

std::optional<TimePoint> parse_utc_iso(const std::string& text) {
    if (text.empty() || text.back() != 'Z') return std::nullopt;
    return parse_iso8601(text);
}

std::optional<TimePoint> parse_operator_time(const std::string& text) {
    // Rewritten into the strict form parse_iso8601 reads: "T", seconds, and a zone.
    static const std::regex form(
        R"(([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2})(:[0-9]{2}(\.[0-9]{1,6})?)?)"
        R"((Z|[+-][0-9]{2}:?[0-9]{2})?)");
    std::smatch m;
    if (!std::regex_match(text, m, form)) return std::nullopt;
    const std::string seconds = m[3].matched ? m[3].str() : ":00";
    const std::string zone = m[5].matched ? m[5].str() : "Z";
    return parse_iso8601(m[1].str() + "T" + m[2].str() + seconds + zone);
}

}  // namespace pgtier
