#include "pgtier/core/notify.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace pgtier {

std::optional<NotifyFormat> parse_notify_format(std::string_view text) {
    if (text == "json") return NotifyFormat::json;
    if (text == "slack") return NotifyFormat::slack;
    return std::nullopt;
}

std::string_view to_string(NotifyFormat format) {
    return format == NotifyFormat::slack ? "slack" : "json";
}

std::string_view to_string(NotifyEvent event) {
    switch (event) {
        case NotifyEvent::backup_failed:
            return "backup_failed";
        case NotifyEvent::backup_succeeded:
            return "backup_succeeded";
        case NotifyEvent::offsite_failed:
            return "offsite_failed";
        case NotifyEvent::recovered:
            return "recovered";
    }
    return "?";
}

std::optional<NotifyEvent> backup_event(std::optional<bool> previous_failed, bool succeeded,
                                        bool on_success) {
    if (!succeeded) return NotifyEvent::backup_failed;
    if (previous_failed.value_or(false)) return NotifyEvent::recovered;
    if (on_success) return NotifyEvent::backup_succeeded;
    return std::nullopt;
}

std::optional<NotifyEvent> offsite_event(bool& raised, bool problem_now) {
    if (problem_now == raised) return std::nullopt;
    raised = problem_now;
    return problem_now ? NotifyEvent::offsite_failed : NotifyEvent::recovered;
}

namespace {

template <typename T>
nlohmann::json or_null(const std::optional<T>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

std::string notification_text(const Notification& n) {
    std::string text = "pgtier";
    if (!n.host.empty()) text += " on " + n.host;
    if (n.cluster) text += " (cluster " + *n.cluster + ")";
    text += ": ";
    const std::string what = n.tier ? "the " + *n.tier + " backup" : "the offsite copies";
    switch (n.event) {
        case NotifyEvent::backup_failed:
            text += what + " failed";
            break;
        case NotifyEvent::backup_succeeded:
            text += what + " succeeded";
            break;
        case NotifyEvent::offsite_failed:
            text += "the offsite copies are failing";
            break;
        case NotifyEvent::recovered:
            text += what + " recovered";
            break;
    }
    if (n.archive) text += ": " + *n.archive;
    if (n.size_bytes && n.archive) text += " (" + std::to_string(*n.size_bytes) + " bytes)";
    if (n.duration_s) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.1f", *n.duration_s);
        text += std::string(" in ") + seconds + " s";
    }
    if (n.error) text += ": " + *n.error;
    text += " [" + format_utc_seconds(n.time) + "]";
    return text;
}

std::string notification_body(const Notification& n, NotifyFormat format) {
    if (format == NotifyFormat::slack) return nlohmann::json{{"text", notification_text(n)}}.dump();
    const nlohmann::json body = {
        {"schema", 1},
        {"event", to_string(n.event)},
        {"scope", n.scope},
        {"tier", or_null(n.tier)},
        {"archive", or_null(n.archive)},
        {"size_bytes", or_null(n.size_bytes)},
        {"duration_s", or_null(n.duration_s)},
        {"error", or_null(n.error)},
        {"host", n.host},
        {"cluster", or_null(n.cluster)},
        {"time", format_utc_seconds(n.time)},
    };
    // Invalid UTF-8 (a database name in an error) is replaced, never a throw.
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string url_host(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return "?";
    std::string_view rest = url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
    return rest.empty() ? "?" : std::string(rest);
}

bool is_webhook_url(std::string_view url) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return false;
    if (url.find_first_of(" \t\r\n") != std::string_view::npos) return false;
    return url_host(url) != "?";
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return std::nullopt;
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return std::nullopt;  // an IPv6 address needs its brackets
    }
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    int port = 0;
    for (char ch : port_text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        port = port * 10 + (ch - '0');
    }
    if (port < 1 || port > 65535) return std::nullopt;
    return ListenAddress{std::string(host), port};
}

}  // namespace pgtier
