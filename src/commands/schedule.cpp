// pgtier schedule EXPR: when a cron expression fires, before it is deployed.
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/core/cron.hpp"

namespace pgtier::commands {

ExitCode schedule(const std::string& expression, const std::optional<std::string>& timezone,
                  const std::optional<std::string>& from, int count) {
    if (timezone) {
        try {
            set_process_timezone(*timezone);
        } catch (const ConfigError& err) {
            throw ConfigError(std::string("--timezone: ") + err.what());
        }
    }
    CronSchedule cron;
    try {
        cron = parse_cron(expression);
    } catch (const CronError& err) {
        throw ConfigError("cron expression '" + expression + "': " + err.what());
    }
    TimePoint at = now_utc();
    if (from) {
        const auto parsed = parse_iso8601(*from);
        if (!parsed) {
            throw ConfigError("--from '" + *from +
                              "' is not an ISO 8601 time such as 2026-12-01T03:00:00Z or "
                              "2026-12-01T04:00:00+01:00");
        }
        at = *parsed;
    }
    for (int i = 0; i < count; ++i) {
        const auto next = next_fire(cron, at);
        if (!next) {
            std::fprintf(stderr, "pgtier: '%s' does not fire within eight years after %s\n",
                         expression.c_str(), format_utc_seconds(at).c_str());
            return ExitCode::failure;
        }
        std::printf("%s\n", format_utc_seconds(*next).c_str());
        at = *next;
    }
    return ExitCode::ok;
}

}  // namespace pgtier::commands
