// pgtier prune [--dry-run] [--at TIME]: tiered retention (docs/design.md, Retention).
#include <cstdio>

#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/core/retention.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier::commands {

std::vector<RetentionDecision> apply_retention(const Repository& repo,
                                               const RetentionConfig& policy, TimePoint now,
                                               bool dry_run) {
    // A deletion a kill interrupted is completed before anything is decided.
    if (!dry_run) repo.finish_interrupted_deletions();
    const auto manifests = repo.published_manifests();
    auto decisions = plan_retention(manifests, policy, now);
    if (dry_run) return decisions;
    for (const auto& d : decisions) {
        if (d.keep) continue;
        repo.remove_archive(d.tier, d.name);
        spdlog::info("retention: deleted {}/{}: {}", to_string(d.tier), d.name, d.reason);
    }
    return decisions;
}

ExitCode prune(const Config& config, const Environment& env, bool dry_run,
               const std::optional<std::string>& at, bool remote, OutputFormat format) {
    TimePoint now = now_utc();
    if (at && !dry_run) {
        throw ConfigError(
            "--at only goes with --dry-run: deleting as of another date than now "
            "is not what retention means");
    }
    if (at) {
        const auto parsed = parse_iso8601(*at);
        if (!parsed) {
            throw ConfigError("--at '" + *at +
                              "' is not an ISO 8601 time such as 2026-12-01T03:00:00Z");
        }
        // A date no backup can have been taken at, or decided at, is a typo (9999, 0001):
        // refused rather than deciding every archive as dated in the future or as ancient.
        const TimePoint earliest = from_unix_seconds(0);
        const TimePoint latest = *parse_utc_iso("3000-01-01T00:00:00Z");
        if (*parsed < earliest || *parsed >= latest) {
            throw ConfigError("--at '" + *at +
                              "' is outside the times retention decides at (1970 to 2999)");
        }
        now = *parsed;
    }
    const bool json = format == OutputFormat::json;
    std::vector<RetentionDecision> decisions;
    std::string policy;  // the bucket's, said first
    if (remote) {
        // The bucket's own retention ([offsite] day counts, else the local ones); objects
        // that are not complete pgtier archives are never decided, so never deleted.
        policy = describe_offsite_retention(config.retention, config.offsite);
        if (!json) std::printf("%s\n", policy.c_str());
        const auto store = open_offsite_store(config, env);
        if (!dry_run) finish_interrupted_deletions(*store);
        decisions = plan_retention(published_manifests(scan_store(*store)),
                                   offsite_retention(config.retention, config.offsite), now);
        for (const auto& d : decisions) {
            if (d.keep || dry_run) continue;
            remove_remote_archive(*store, d.tier, d.name);
            spdlog::info("offsite retention: deleted {}/{}: {}", to_string(d.tier), d.name,
                         d.reason);
        }
    } else {
        const Repository repo(config.storage.dir);
        repo.require_exists();
        std::unique_ptr<RepositoryLock> lock;
        if (!dry_run) {
            repo.ensure_layout();
            lock = repo.lock();
        }
        decisions = apply_retention(repo, config.retention, now, dry_run);
    }
    if (json) {
        print_json(prune_json(decisions, now, dry_run, remote, policy));
        return ExitCode::ok;
    }
    std::uint64_t freed = 0;
    std::size_t deleted = 0;
    for (const auto& d : decisions) {
        std::printf("%-6s %-13s %-40s %s\n", d.keep ? "keep" : (dry_run ? "DELETE" : "deleted"),
                    std::string(to_string(d.tier)).c_str(), d.name.c_str(), d.reason.c_str());
        if (!d.keep) {
            freed += d.size;
            ++deleted;
        }
    }
    std::printf("%zu archives at %s: %zu kept, %zu %s (%s)%s\n", decisions.size(),
                format_utc_seconds(now).c_str(), decisions.size() - deleted, deleted,
                dry_run ? "to delete" : "deleted", human_size(freed).c_str(),
                dry_run ? "; dry run, nothing deleted" : "");
    return ExitCode::ok;
}

}  // namespace pgtier::commands
