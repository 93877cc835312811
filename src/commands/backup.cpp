// The backup command: the backup service (backup_run.cpp), its result line on stdout, then the
// offsite sync after the lock is released.
#include <cstdio>

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

}  // namespace

ExitCode backup(const Config& config, const Environment& env, BackupType requested, Force force,
                OutputFormat format) {
    load_archive_keys(config);  // a key that cannot be read is a configuration error, said first
    Repository repo(config.storage.dir);
    repo.ensure_layout();
    install_signal_handlers();
    const BackupOutcome outcome = run_backup(config, env, repo, requested, force);
    const bool json = format == OutputFormat::json;
    if (!json) print_line(backup_result_line(requested, outcome));
    // stdout has the result; a failure is said on stderr too, where the log goes.
    if (outcome.record.result == RunResult::failed)
        spdlog::error("{} backup failed: {}", to_string(requested), outcome.record.detail);
    Json document = json ? backup_json(requested, outcome) : Json();
    if (json) document["offsite"] = nullptr;  // no [offsite], or stopped before the sync
    if (config.offsite.enabled() && !stop_requested().load())
        sync_after_backup(config, env, repo, json ? &document : nullptr);
    if (json) print_json(document);
    return outcome.retention_failed || !outcome.not_backed_up.empty() ? ExitCode::failure
                                                                      : ExitCode::ok;
}

}  // namespace pgtier::commands
