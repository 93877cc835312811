// The webhooks' view of backup runs and offsite copies ([notify]): which event, and its fields.
// The decision is core/notify's; the delivery sys/notifier's.
#include "pgtier/commands/commands.hpp"
#include "pgtier/core/notify.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier::commands {

namespace {

// The identity the archives record: the configured cluster_name, else the system identifier
// of the newest published archive (none before the first).
std::optional<std::string> cluster_identity(const Config& config, const Repository& repo) {
    if (!config.storage.cluster_name.empty()) return config.storage.cluster_name;
    try {
        std::optional<Manifest> newest;
        for (auto& manifest : repo.published_manifests()) {
            if (!manifest.system_identifier.empty() &&
                (!newest || manifest.started_at > newest->started_at))
                newest = std::move(manifest);
        }
        if (newest) return newest->system_identifier;
    } catch (const std::exception& err) {
        spdlog::debug("notify: no cluster identity: {}", one_line(err.what()));
    }
    return std::nullopt;
}

Notification base_event(const Config& config, const Repository& repo, NotifyEvent event) {
    Notification n;
    n.event = event;
    n.host = this_host_name();
    n.cluster = cluster_identity(config, repo);
    n.time = now_utc();
    return n;
}

}  // namespace

std::optional<bool> last_run_failed(const Repository& repo, BackupType tier) {
    const auto status = read_tier_status(repo);
    const auto found = status.find(tier);
    if (found == status.end() || !found->second.last_run) return std::nullopt;
    return !succeeded(found->second.last_run->result);
}

std::optional<Notification> backup_notification(const Config& config, const Repository& repo,
                                                BackupType tier,
                                                std::optional<bool> previous_failed,
                                                const BackupOutcome* outcome,
                                                const std::string& error, double duration_s) {
    const bool ok = outcome != nullptr && succeeded(outcome->record.result);
    const auto event = backup_event(previous_failed, ok, config.notify.on_success);
    if (!event) return std::nullopt;
    Notification n = base_event(config, repo, *event);
    n.tier = std::string(to_string(tier));
    n.duration_s = duration_s;
    if (outcome != nullptr) {
        const RunRecord& record = outcome->record;
        n.duration_s = record.duration_seconds;
        if (!record.archive.empty()) {
            n.archive = record.archive;
            n.size_bytes = record.size;
        }
        if (!ok) n.error = one_line(record.detail);
    } else {
        n.error = one_line(error);
    }
    return n;
}

Notification offsite_notification(const Config& config, const Repository& repo, NotifyEvent event,
                                  const std::optional<std::string>& problem) {
    Notification n = base_event(config, repo, event);
    n.scope = "offsite";
    if (problem) n.error = one_line(*problem);
    return n;
}

NotifyTarget notify_target(const Config& config) {
    NotifyTarget target;
    target.urls = resolve_notify_urls(config);
    target.format = config.notify.format;
    target.timeout_seconds = config.notify.timeout_seconds;
    target.retries = config.notify.retries;
    return target;
}

}  // namespace pgtier::commands
