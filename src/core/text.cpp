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
    for (const auto& name : names) out += (out.empty() ? "\"" : ", \"") + name + "\"";
    return out;
}

std::string printable(const std::string& text) {
    std::string out;
    for (char ch : text) {
        const auto byte = static_cast<unsigned char>(ch);
        if (ch == '\n') {
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
