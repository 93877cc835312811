#include "pgtier/core/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <sstream>
#include <vector>

namespace pgtier {

namespace {

struct FieldSpec {
    const char* name;
    int low;
    int high;
    const char* const* names;  // aliases for low, low+1, … (nullptr when none)
};

constexpr const char* month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr FieldSpec second_field{"second", 0, 59, nullptr};
constexpr FieldSpec minute_field{"minute", 0, 59, nullptr};
constexpr FieldSpec hour_field{"hour", 0, 23, nullptr};
constexpr FieldSpec dom_field{"day-of-month", 1, 31, nullptr};
constexpr FieldSpec month_field{"month", 1, 12, month_names};
constexpr FieldSpec dow_field{"day-of-week", 0, 7, day_names};  // 7 is Sunday too

[[noreturn]] void bad(const FieldSpec& field, std::string_view text, const std::string& why) {
    throw CronError("field " + std::string(field.name) + " '" + std::string(text) + "': " + why);
}

// 'text'. Appended rather than "'" + std::string(text): GCC 12 at -O3 inlines that operator+
// into a false -Wrestrict (GCC bug 105329).
std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '\'';
    out += text;
    out += '\'';
    return out;
}

int parse_value(const FieldSpec& field, std::string_view whole, std::string_view token) {
    if (token.empty()) bad(field, whole, "empty value");
    if (field.names != nullptr && std::isalpha(static_cast<unsigned char>(token[0]))) {
        std::string lower(token);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        const int count = field.low == 1 ? 12 : 7;
        for (int i = 0; i < count; ++i) {
            if (lower == field.names[i]) return field.low + i;
        }
        bad(field, whole, "unknown name '" + std::string(token) + "'");
    }
    int value = 0;
    for (char ch : token) {
        if (!std::isdigit(static_cast<unsigned char>(ch))) {
            bad(field, whole, quoted(token) + " is not a number");
        }
        value = value * 10 + (ch - '0');
        if (value > 1000) break;
    }
    if (value < field.low || value > field.high) {
        bad(field, whole,
            std::to_string(value) + " is out of range " + std::to_string(field.low) + "-" +
                std::to_string(field.high));
    }
    return value;
}

// Returns the set values (indexes low..high) and whether the field was "*" (unrestricted).
std::pair<std::vector<bool>, bool> parse_field(const FieldSpec& field, std::string_view text) {
    std::vector<bool> set(static_cast<std::size_t>(field.high + 1), false);
    bool star = false;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view item = text.substr(start, comma - start);
        if (item.empty()) bad(field, text, "empty list item");
        std::string_view range = item;
        int step = 1;
        if (const auto slash = item.find('/'); slash != std::string_view::npos) {
            range = item.substr(0, slash);
            const std::string_view step_text = item.substr(slash + 1);
            if (step_text.empty() || !std::all_of(step_text.begin(), step_text.end(), [](char ch) {
                    return std::isdigit(static_cast<unsigned char>(ch));
                })) {
                bad(field, text, "step '" + std::string(step_text) + "' is not a number");
            }
            step = std::stoi(std::string(step_text.substr(0, 4)));
            if (step <= 0 || step > field.high)
                bad(field, text, "step " + std::string(step_text) + " is out of range");
        }
        int low = field.low, high = field.high;
        if (range == "*") {
            star = star || step == 1;
        } else if (const auto dash = range.find('-'); dash != std::string_view::npos) {
            low = parse_value(field, text, range.substr(0, dash));
            high = parse_value(field, text, range.substr(dash + 1));
            if (low > high) bad(field, text, "range " + std::string(range) + " runs backwards");
        } else {
            low = parse_value(field, text, range);
            if (item.find('/') == std::string_view::npos) high = low;  // "5/15" means 5-max/15
        }
        for (int v = low; v <= high; v += step) set[static_cast<std::size_t>(v)] = true;
        start = comma + 1;
    }
    return {set, star};
}

template <std::size_t N>
std::bitset<N> to_bits(const std::vector<bool>& set, int offset = 0) {
    std::bitset<N> bits;
    for (std::size_t i = 0; i < set.size(); ++i) {
        if (set[i]) bits.set((i + static_cast<std::size_t>(offset)) % N);
    }
    return bits;
}

std::string expand_macro(std::string_view text) {
    static const std::array<std::pair<const char*, const char*>, 7> macros = {{
        {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    }};
    for (const auto& [name, expansion] : macros) {
        if (text == name) return expansion;
    }
    throw CronError("unknown macro '" + std::string(text) +
                    "' (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)");
}

// ---- next_fire: wall-clock ("naive") seconds are local time read as if it were UTC, so that
// calendar steps are plain arithmetic; the time zone only enters when converting back.
using Naive = std::int64_t;

Naive wall_clock(std::time_t instant) {
    std::tm tm{};
    localtime_r(&instant, &tm);
    return static_cast<Naive>(timegm(&tm));
}

long utc_offset(std::time_t instant) {
    std::tm tm{};
    localtime_r(&instant, &tm);
    return tm.tm_gmtoff;
}

Naive naive_of(const std::tm& tm) {
    std::tm copy = tm;
    return static_cast<Naive>(timegm(&copy));
}

bool day_matches(const CronSchedule& s, const std::tm& tm) {
    const bool dom = s.days_of_month.test(static_cast<std::size_t>(tm.tm_mday));
    const bool dow = s.days_of_week.test(static_cast<std::size_t>(tm.tm_wday));
    if (s.day_of_month_restricted && s.day_of_week_restricted) return dom || dow;
    if (s.day_of_month_restricted) return dom;
    if (s.day_of_week_restricted) return dow;
    return true;
}

// The first wall-clock second >= from that the fields match.
std::optional<Naive> next_match(const CronSchedule& s, Naive from) {
    const Naive limit = from + Naive{8} * 366 * 86400;
    Naive t = from;
    while (t < limit) {
        const std::time_t tt = static_cast<std::time_t>(t);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        std::tm next = tm;
        next.tm_sec = 0;
        if (!s.months.test(static_cast<std::size_t>(tm.tm_mon) + 1)) {
            next.tm_mon += 1;
            next.tm_mday = 1;
            next.tm_hour = next.tm_min = 0;
        } else if (!day_matches(s, tm)) {
            next.tm_mday += 1;
            next.tm_hour = next.tm_min = 0;
        } else if (!s.hours.test(static_cast<std::size_t>(tm.tm_hour))) {
            next.tm_hour += 1;
            next.tm_min = 0;
        } else if (!s.minutes.test(static_cast<std::size_t>(tm.tm_min))) {
            next.tm_min += 1;
        } else if (!s.seconds.test(static_cast<std::size_t>(tm.tm_sec))) {
            t += 1;
            continue;
        } else {
            return t;
        }
        t = naive_of(next);
    }
    return std::nullopt;
}

// The instants whose wall clock reads `wall`, earliest first: one, two (fall back) or none
// (spring forward; then `gap_end` is the first instant after the gap).
std::vector<std::time_t> instants_of(Naive wall, std::time_t& gap_end) {
    std::vector<long> offsets;
    for (Naive probe : {wall - 2 * 86400, wall, wall + 2 * 86400}) {
        const long o = utc_offset(static_cast<std::time_t>(probe));
        if (std::find(offsets.begin(), offsets.end(), o) == offsets.end()) offsets.push_back(o);
    }
    std::vector<std::time_t> found;
    for (long o : offsets) {
        const auto u = static_cast<std::time_t>(wall - o);
        if (utc_offset(u) == o) found.push_back(u);
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    if (found.empty()) {
        // Binary search for the first instant whose wall clock is past `wall`.
        const auto [lo_o, hi_o] = std::minmax_element(offsets.begin(), offsets.end());
        auto lo = static_cast<std::time_t>(wall - *hi_o - 1);
        auto hi = static_cast<std::time_t>(wall - *lo_o + 1);
        while (lo + 1 < hi) {
            const std::time_t mid = lo + (hi - lo) / 2;
            (wall_clock(mid) > wall ? hi : lo) = mid;
        }
        gap_end = hi;
    }
    return found;
}

}  // namespace

std::optional<TimePoint> next_fire(const CronSchedule& schedule, TimePoint after) {
    const std::time_t earliest = unix_seconds(after) + 1;
    Naive wall = wall_clock(earliest);
    for (int attempt = 0; attempt < 100000; ++attempt) {
        const auto match = next_match(schedule, wall);
        if (!match) return std::nullopt;
        std::time_t gap_end = 0;
        const auto instants = instants_of(*match, gap_end);
        // A repeated wall-clock time fires only at its first occurrence, so one whose first
        // occurrence has passed is skipped.
        const std::time_t candidate = instants.empty() ? gap_end : instants.front();
        if (candidate >= earliest) {
            return from_unix_seconds(candidate);
        }
        wall = *match + 1;
    }
    return std::nullopt;
}

namespace {

// Whether some month of the schedule has one of its days of the month (30 February never).
bool some_day_exists(const CronSchedule& s) {
    if (!s.day_of_month_restricted || s.day_of_week_restricted) return true;
    constexpr int longest[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int month = 1; month <= 12; ++month) {
        if (!s.months.test(static_cast<std::size_t>(month))) continue;
        for (int day = 1; day <= longest[month]; ++day) {
            if (s.days_of_month.test(static_cast<std::size_t>(day))) return true;
        }
    }
    return false;
}

}  // namespace

CronSchedule parse_cron(std::string_view text) {
    std::string source(text);
    if (!source.empty() && source[0] == '@') source = expand_macro(source);
    std::istringstream in(source);
    std::vector<std::string> fields;
    for (std::string field; in >> field;) fields.push_back(field);
    if (fields.size() == 5) fields.insert(fields.begin(), "0");
    if (fields.size() != 6) {
        throw CronError(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a "
            "leading seconds field, got " +
            std::to_string(fields.size()));
    }
    CronSchedule schedule;
    schedule.text = std::string(text);
    schedule.seconds = to_bits<60>(parse_field(second_field, fields[0]).first);
    schedule.minutes = to_bits<60>(parse_field(minute_field, fields[1]).first);
    schedule.hours = to_bits<24>(parse_field(hour_field, fields[2]).first);
    const auto [dom, dom_star] = parse_field(dom_field, fields[3]);
    schedule.days_of_month = to_bits<32>(dom);
    schedule.day_of_month_restricted = !dom_star;
    schedule.months = to_bits<13>(parse_field(month_field, fields[4]).first);
    const auto [dow, dow_star] = parse_field(dow_field, fields[5]);
    schedule.days_of_week = to_bits<7>(dow);  // 7 folds onto 0 (Sunday)
    schedule.day_of_week_restricted = !dow_star;
    if (!some_day_exists(schedule)) {
        throw CronError("fields day-of-month '" + fields[3] + "' and month '" + fields[4] +
                        "' never meet: no such date");
    }
    return schedule;
}

}  // namespace pgtier
