// pgtier schedule EXPR: when a cron expression fires, before it is deployed.
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/cron.hpp"

namespace pgtier::commands {

ExitCode schedule(const std::string& expression, const std::optional<std::string>& timezone,
                  const std::optional<std::string>& from, int count, OutputFormat format,
                  const std::string& configured_zone) {
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
    const bool json = format == OutputFormat::json;
    Json document = json_document("schedule", true);
    document["expression"] = expression;
    const std::string zone = timezone.value_or(configured_zone);
    document["timezone"] = zone.empty() ? "UTC" : zone;
    document["from"] = format_utc_iso(at);
    document["next_runs"] = Json::array();
    for (int i = 0; i < count; ++i) {
        const auto next = next_fire(cron, at);
        if (!next) {
            const std::string why = "'" + expression + "' does not fire within eight years after " +
                                    format_utc_seconds(at);
            std::fprintf(stderr, "pgtier: %s\n", why.c_str());
            if (json) {
                document["ok"] = false;
                document["error"] = why;
                print_json(document);
            }
            return ExitCode::failure;
        }
        if (json) {
            document["next_runs"].push_back(format_utc_iso(*next));
        } else {
            std::printf("%s\n", format_utc_seconds(*next).c_str());
        }
        at = *next;
    }
    if (json) print_json(document);
    return ExitCode::ok;
}

}  // namespace pgtier::commands
