#include "pgtier/sys/clock.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

TimePoint now_utc() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now());
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
    const std::time_t tt = unix_seconds(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    return tm;
}

std::filesystem::path zoneinfo_dir() {
    const char* dir = std::getenv("TZDIR");  // glibc reads zones from here too
    return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
}

void check_timezone(const std::string& zone, const std::filesystem::path& zoneinfo) {
    namespace fs = std::filesystem;
    if (zone.empty() || zone == "UTC") return;  // glibc's built-in default
    // printable: an exception's message ends at a NUL, and a line feed would break the line.
    // Built by appends: GCC 12's -Wrestrict misfires on "'" + std::string + "'" at -O3.
    std::string quoted = "'";
    quoted.append(printable(zone)).append("'");
    const std::string example = " (a zone name is like Europe/Berlin)";
    if (zone.front() == '/')
        throw ConfigError(quoted + " is a path, not a time zone name" + example);
    const bool odd_character = std::any_of(zone.begin(), zone.end(), [](char ch) {
        return !std::isalnum(static_cast<unsigned char>(ch)) &&
               std::string_view("/_-+.").find(ch) == std::string_view::npos;
    });
    if (odd_character) {
        throw ConfigError(quoted + " is not a time zone name: it has a character no zone name has" +
                          example);
    }
    for (const auto& part : fs::path(zone)) {
        if (part == "." || part == ".." || part.empty()) {
            throw ConfigError(quoted + " is not a time zone name: it has a '" + part.string() +
                              "' component" + example);
        }
    }
    if (zone.back() == '/')
        throw ConfigError(quoted + " is not a time zone name: it ends with '/'" + example);

    const fs::path path = zoneinfo / zone;
    const std::string unknown = "unknown time zone " + quoted + ": ";
    std::error_code ec;
    const auto status = fs::status(path, ec);  // follows symbolic links
    if (!fs::exists(status)) throw ConfigError(unknown + "there is no " + path.string());
    if (fs::is_directory(status)) {
        throw ConfigError(unknown + path.string() + " is a directory of zones, not a zone" +
                          example);
    }
    if (!fs::is_regular_file(status))
        throw ConfigError(unknown + path.string() + " is not a regular file");
    // A link in the zone database must not lead out of it.
    const auto real = fs::canonical(path, ec);
    std::error_code root_ec;
    const auto root = fs::canonical(zoneinfo, root_ec);
    if (ec || root_ec) throw ConfigError(unknown + "cannot resolve " + path.string());
    if (std::mismatch(root.begin(), root.end(), real.begin(), real.end()).first != root.end()) {
        throw ConfigError(unknown + path.string() + " leads to " + real.string() + ", outside " +
                          root.string());
    }
    std::ifstream in(real, std::ios::binary);
    char magic[4] = {};
    if (!in.read(magic, sizeof magic) || std::string_view(magic, sizeof magic) != "TZif") {
        throw ConfigError(unknown + path.string() + " is not a TZif zone file");
    }
}

void set_process_timezone(const std::string& zone) {
    // glibc silently falls back to UTC for a name it cannot load, so check the zone first.
    check_timezone(zone, zoneinfo_dir());
    setenv("TZ", zone.empty() ? "UTC" : zone.c_str(), 1);
    tzset();
}

}  // namespace pgtier
