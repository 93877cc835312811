#include "pgtier/sys/clock.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "pgtier/core/errors.hpp"

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
    return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::from_time_t(tt)) +
           std::chrono::microseconds(micros);
}

std::optional<TimePoint> parse_utc_iso(const std::string& text) {
    if (text.empty() || text.back() != 'Z') return std::nullopt;
    return parse_iso8601(text);
}

std::string format_local_iso(TimePoint t) {
    const std::tm tm = local_time(t);
    const long offset = tm.tm_gmtoff;
    const long abs_offset = offset < 0 ? -offset : offset;
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  offset < 0 ? '-' : '+', abs_offset / 3600, abs_offset % 3600 / 60);
    return buffer;
}

std::tm local_time(TimePoint t) {
    const std::time_t tt = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
    std::tm tm{};
    localtime_r(&tt, &tm);
    return tm;
}

std::filesystem::path zoneinfo_dir() {
    const char* dir = std::getenv("TZDIR");  // glibc reads zones from here too
    return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
}

std::optional<std::string> timezone_problem(const std::string& zone,
                                            const std::filesystem::path& zoneinfo) {
    namespace fs = std::filesystem;
    if (zone.empty() || zone == "UTC") return std::nullopt;  // glibc's built-in default
    const std::string quoted = "'" + zone + "'";
    const std::string example = " (a zone name is like Europe/Berlin)";
    if (zone.front() == '/') return quoted + " is a path, not a time zone name" + example;
    const bool odd_character = std::any_of(zone.begin(), zone.end(), [](char ch) {
        return !std::isalnum(static_cast<unsigned char>(ch)) &&
               std::string_view("/_-+.").find(ch) == std::string_view::npos;
    });
    if (odd_character) {
        return quoted + " is not a time zone name: it has a character no zone name has" + example;
    }
    for (const auto& part : fs::path(zone)) {
        if (part == "." || part == ".." || part.empty()) {
            return quoted + " is not a time zone name: it has a '" + part.string() + "' component" +
                   example;
        }
    }
    if (zone.back() == '/') return quoted + " is not a time zone name: it ends with '/'" + example;

    const fs::path path = zoneinfo / zone;
    const std::string unknown = "unknown time zone " + quoted + ": ";
    std::error_code ec;
    const auto status = fs::status(path, ec);  // follows symbolic links
    if (!fs::exists(status)) return unknown + "there is no " + path.string();
    if (fs::is_directory(status)) {
        return unknown + path.string() + " is a directory of zones, not a zone" + example;
    }
    if (!fs::is_regular_file(status)) return unknown + path.string() + " is not a regular file";
    // A link in the zone database must not lead out of it.
    const auto real = fs::canonical(path, ec);
    std::error_code root_ec;
    const auto root = fs::canonical(zoneinfo, root_ec);
    if (ec || root_ec) return unknown + "cannot resolve " + path.string();
    if (std::mismatch(root.begin(), root.end(), real.begin(), real.end()).first != root.end()) {
        return unknown + path.string() + " leads to " + real.string() + ", outside " +
               root.string();
    }
    std::ifstream in(real, std::ios::binary);
    char magic[4] = {};
    if (!in.read(magic, sizeof magic) || std::string_view(magic, sizeof magic) != "TZif") {
        return unknown + path.string() + " is not a TZif zone file";
    }
    return std::nullopt;
}

void set_process_timezone(const std::string& zone) {
    // glibc silently falls back to UTC for a name it cannot load, so check the zone first.
    if (auto problem = timezone_problem(zone, zoneinfo_dir())) throw ConfigError(*problem);
    setenv("TZ", zone.empty() ? "UTC" : zone.c_str(), 1);
    tzset();
}

}  // namespace pgtier
