// pgtier health [--live]: are the backups fresh (for monitors), or is the daemon alive (for the
// container's health check).
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/offsite_error.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/run_status.hpp"

namespace pgtier::commands {

std::optional<std::string> offsite_health_problem(const Config& config, const Repository& repo,
                                                  TimePoint now) {
    if (!config.offsite.enabled()) return std::nullopt;
    const auto view = read_offsite_view(repo);
    const auto& st = view.state;
    if (auto broken = judge_offsite_error(st.last_error, st.last_error_class, st.last_error_fix,
                                          st.last_error_at))
        return broken;
    return judge_offsite_lag(view.pending, config.offsite.max_lag_seconds, now,
                             view.state.last_error);
}

std::vector<std::string> health_problems(const Config& config, const Repository& repo,
                                         TimePoint now) {
    const auto status = read_tier_status(repo);
    const auto schedules = parse_schedules(config.schedule, config.source);

    std::map<BackupType, TierHealth> tiers_health;
    for (const auto& [tier, s] : status) {
        TierHealth& h = tiers_health[tier];
        if (s.last_run && !succeeded(s.last_run->result))
            h.failed = TierHealth::FailedRun{s.last_run->started_at, s.last_run->detail};
        if (s.last_success) h.last_success = s.last_success->started_at;
        h.running_since = s.running_since;
    }
    const auto published = repo.published_manifests();
    auto problems = judge_health(tiers_health, published, schedules, now, format_utc_seconds);
    if (auto offsite = offsite_health_problem(config, repo, now)) problems.push_back(*offsite);
    return problems;
}

ExitCode health(const Config& config, OutputFormat format) {
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto problems = health_problems(config, repo, now_utc());
    if (format == OutputFormat::json) {
        print_json(health_json(problems));
        return problems.empty() ? ExitCode::ok : ExitCode::failure;
    }
    if (problems.empty()) {
        std::printf("healthy: the last run of each tier succeeded and none is overdue\n");
        return ExitCode::ok;
    }
    for (const auto& p : problems) std::printf("unhealthy: %s\n", p.c_str());
    return ExitCode::failure;
}

ExitCode health_live(const Config& config, std::chrono::seconds max_age, OutputFormat format) {
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto heartbeat = read_heartbeat(repo);
    const auto problem = judge_liveness(heartbeat, now_utc(), max_age);
    if (format == OutputFormat::json) {
        print_json(health_live_json(heartbeat, problem));
        return problem ? ExitCode::failure : ExitCode::ok;
    }
    if (problem) {
        std::printf("not alive: %s\n", problem->c_str());
        return ExitCode::failure;
    }
    std::printf("alive: pid %ld, %s since %s\n", heartbeat->pid, heartbeat->activity.c_str(),
                format_utc_seconds(heartbeat->activity_since).c_str());
    return ExitCode::ok;
}

}  // namespace pgtier::commands
