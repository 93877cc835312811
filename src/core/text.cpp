#include "pgtier/core/text.hpp"

#include <cstdio>

namespace pgtier {

std::string human_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

std::string duration_text(double seconds) {
    char text[32];
    if (seconds < 120) {
        std::snprintf(text, sizeof text, "%.1f s", seconds);
    } else if (seconds < 7200) {
        std::snprintf(text, sizeof text, "%.0f min", seconds / 60);
    } else if (seconds < 172800) {
        std::snprintf(text, sizeof text, "%.1f h", seconds / 3600);
    } else {
        std::snprintf(text, sizeof text, "%.1f days", seconds / 86400);
    }
    return text;
}

std::string join_quoted(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "\"" : ", \"") + printable(name) + "\"";
    return out;
}

namespace {
std::string escape_controls(const std::string& text, bool keep_lines) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        const auto byte = static_cast<unsigned char>(ch);
        const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
        if (byte == 0xc2 && next >= 0x80 && next <= 0x9f) {
            // U+0080..U+009F in UTF-8: C1 controls (U+009B is a CSI to some terminals).
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\u%04x", next);
            out += hex;
            ++i;
        } else if (keep_lines && (ch == '\n' || ch == '\t')) {
            out.push_back(ch);
        } else if (ch == '\n') {
            out += "\\n";
        } else if (ch == '\r') {
            out += "\\r";
        } else if (byte < 0x20 || byte == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", byte);
            out += hex;
        } else {
            out.push_back(ch);
        }
    }
    return out;
}
}  // namespace

std::string printable(const std::string& text) {
    return escape_controls(text, false);
}

std::string printable_lines(const std::string& text) {
    return escape_controls(text, true);
}

std::string message_excerpt(const std::string& text, TextEnd end, std::size_t max_chars) {
    std::string out;
    if (end == TextEnd::head) {
        out = text.substr(0, max_chars);
    } else {
        out = text.size() > max_chars ? "…" + text.substr(text.size() - max_chars) : text;
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? "(no message)" : out;
}

}  // namespace pgtier
