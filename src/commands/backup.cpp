// The backup command: the backup service (backup_run.cpp), its result line on stdout, then the
// offsite sync after the lock is released.
#include <chrono>
#include <cstdio>
#include <optional>

#include "pgtier/archive/keys.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/offsite_error.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

namespace {

// Uploads what the bucket lacks after a one-shot backup (the daemon's uploader thread does it
// there). The lock is released by then: a slow upload never holds up the next backup. A
// failure is a warning: the archive is published locally and stays pending. With --json the
// pass goes into the document (its "offsite" field) instead of a line on stdout.
void sync_after_backup(const Config& config, const Environment& env, const Repository& repo,
                       Json* document) {
    try {
        const auto store = open_offsite_store(config, env, &stop_requested());
        const auto result = sync_offsite(config, repo, *store, now_utc(), stop_requested());
        if (document) (*document)["offsite"] = sync_json(result, false, store->describe());
        if (!result.error.empty()) {
            spdlog::warn("offsite: {}; {} archive(s) stay pending for the next sync{}",
                         result.error, result.pending.size(),
                         result.error_class == OffsiteErrorClass::permanent
                             ? permanent_error_note(result.fix)
                             : "");
        } else if (!document) {
            print_line("offsite: " + std::to_string(result.uploaded) + " uploaded to " +
                       store->describe() + ", " + std::to_string(result.pending.size()) +
                       " pending");
        }
    } catch (const Error& err) {
        spdlog::warn("offsite: {}; the archive stays pending for the next sync",
                     one_line(err.what()));
        if (document) (*document)["offsite"] = json_error("offsite sync", one_line(err.what()));
    }
}

// The one-shot run's event ([notify]), sent from the notifier's thread.
void notify_run(Notifier* notifier, const NotifyTarget& target, const Config& config,
                const Repository& repo, BackupType requested, std::optional<bool> previous_failed,
                const BackupOutcome* outcome, const std::string& error,
                std::chrono::steady_clock::time_point started) {
    if (notifier == nullptr || stop_requested().load()) return;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    try {
        if (const auto event = backup_notification(config, repo, requested, previous_failed,
                                                   outcome, error, seconds))
            notifier->send(target, *event);
    } catch (const std::exception& err) {
        spdlog::warn("notify: {}", one_line(err.what()));
    }
}

// The one-shot command waits for its event's delivery before exiting, at most as long as every
// attempt to every URL takes.
void await_delivery(Notifier& notifier, const NotifyTarget& target) {
    const auto bound = target.delivery_bound() * static_cast<int>(target.urls.size());
    if (!notifier.wait_idle(bound))
        spdlog::warn("notify: webhook delivery still not done after {} s: abandoned",
                     bound.count());
}

}  // namespace

ExitCode backup(const Config& config, const Environment& env, BackupType requested, Force force,
                OutputFormat format) {
    load_archive_keys(config);  // a key that cannot be read is a configuration error, said first
    const NotifyTarget target = notify_target(config);  // so is an unreadable notify.url_file
    Repository repo(config.storage.dir);
    repo.ensure_layout();
    install_signal_handlers();
    std::optional<Notifier> notifier;
    std::optional<bool> previous_failed;
    if (target.enabled()) {
        notifier.emplace();
        previous_failed = last_run_failed(repo, requested);
    }
    Notifier* notify = notifier ? &*notifier : nullptr;
    const auto started = std::chrono::steady_clock::now();
    BackupOutcome outcome;
    try {
        outcome = run_backup(config, env, repo, requested, force);
    } catch (const std::exception& err) {
        notify_run(notify, target, config, repo, requested, previous_failed, nullptr, err.what(),
                   started);
        if (notifier) await_delivery(*notifier, target);
        throw;
    }
    const bool json = format == OutputFormat::json;
    if (!json) print_line(backup_result_line(requested, outcome));
    // stdout has the result; a failure is said on stderr too, where the log goes.
    if (outcome.record.result == RunResult::failed)
        spdlog::error("{} backup failed: {}", to_string(requested), outcome.record.detail);
    notify_run(notify, target, config, repo, requested, previous_failed, &outcome, "", started);
    Json document = json ? backup_json(requested, outcome) : Json();
    if (json) document["offsite"] = nullptr;  // no [offsite], or stopped before the sync
    if (config.offsite.enabled() && !stop_requested().load())
        sync_after_backup(config, env, repo, json ? &document : nullptr);
    if (notifier) await_delivery(*notifier, target);
    if (json) print_json(document);
    return outcome.retention_failed || !outcome.not_backed_up.empty() ? ExitCode::failure
                                                                      : ExitCode::ok;
}

}  // namespace pgtier::commands
