#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgtier/core/time.hpp"

// Notifications to webhooks ([notify], docs/notifications-and-metrics.md): which event follows
// which state, the body sent, and the parts of a URL that may be shown. Pure: the sender is
// sys/notifier.hpp.
namespace pgtier {

enum class NotifyFormat { json, slack };
std::optional<NotifyFormat> parse_notify_format(std::string_view text);
std::string_view to_string(NotifyFormat format);

enum class NotifyEvent { backup_failed, backup_succeeded, offsite_failed, recovered };
std::string_view to_string(NotifyEvent event);

// What a backup run's result means for the webhooks: a failure is always said; a success after
// a failed or interrupted last run of the same tier is a recovery; any other success is said only
// with on_success. `previous_failed`: the tier's last recorded run before this one failed or was
// interrupted (nullopt: there was none).
std::optional<NotifyEvent> backup_event(std::optional<bool> previous_failed, bool succeeded,
                                        bool on_success);

// The offsite copies' alarm: raised once when a problem makes `health` fail, said again only
// after it cleared (a recovery). `raised`: the alarm as it stands, updated here.
std::optional<NotifyEvent> offsite_event(bool& raised, bool problem_now);

// One event, as sent (schema 1). Unset fields are null in the JSON body.
struct Notification {
    NotifyEvent event = NotifyEvent::backup_failed;
    std::string scope = "backup";  // "backup" or "offsite": what the event is about
    std::optional<std::string> tier;
    std::optional<std::string> archive;  // "<tier>/<name>" when one was published
    std::optional<std::uint64_t> size_bytes;
    std::optional<double> duration_s;
    std::optional<std::string> error;
    std::string host;
    std::optional<std::string> cluster;  // cluster_name, else the system identifier
    TimePoint time{};
};

// The request body: the event's JSON object (format json), or {"text": "..."} with one
// readable line (format slack: Slack, Mattermost and similar incoming webhooks).
std::string notification_body(const Notification& n, NotifyFormat format);
// The one line of the slack format, also logged.
std::string notification_text(const Notification& n);

// The host (and port) of a webhook URL, the only part of it ever logged: the path of a Slack
// hook, or a user:password@, is the secret. "?" when there is none to find.
std::string url_host(std::string_view url);
// Whether a URL may be a webhook: http:// or https:// with a host.
bool is_webhook_url(std::string_view url);

// daemon.metrics_listen: "HOST:PORT" or "[IPV6]:PORT"; nullopt when it is not one.
struct ListenAddress {
    std::string host;
    int port = 0;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace pgtier
