#include "pgtier/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
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
            bad(field, whole, "'" + std::string(token) + "' is not a number");
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
    return schedule;
}

}  // namespace pgtier
