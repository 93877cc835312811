#include "pgtier/core/lock_wait.hpp"

#include <cmath>

#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

constexpr std::size_t query_excerpt = 120;

std::string describe_holder(const LockHolder& holder) {
    std::string text = "pid " + holder.pid;
    if (!holder.user.empty()) text += ": user " + printable(holder.user);
    if (!holder.application.empty()) text += ", application " + printable(holder.application);
    if (!holder.state.empty()) {
        text += ", " + holder.state;
    }
    if (holder.transaction_seconds) {
        text += ", transaction open for " +
                std::to_string(std::lround(*holder.transaction_seconds)) + " s";
    }
    if (!holder.query.empty()) {
        std::string query = holder.query.substr(0, query_excerpt);
        for (char& c : query) {
            if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        }
        const bool cut = holder.query.size() > query_excerpt;
        text += ", statement \"" + printable(query) + (cut ? "...\"" : "\"");
    }
    return text;
}

}  // namespace

std::optional<std::string> describe_lock_wait(const LockWait& wait) {
    if (wait.wait_event_type != "Lock") return std::nullopt;
    std::string text = "waiting for a lock";
    if (!wait.relation.empty()) {
        text += " on " + printable(wait.relation);
    } else if (!wait.wait_event.empty()) {
        text += " (" + wait.wait_event + ")";
    }
    if (wait.holders.empty()) return text;
    text += " (held by ";
    for (std::size_t i = 0; i < wait.holders.size(); ++i) {
        if (i > 0) text += "; ";
        text += describe_holder(wait.holders[i]);
    }
    return text + ")";
}

}  // namespace pgtier
