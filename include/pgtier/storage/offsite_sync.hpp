#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/manifest.hpp"
#include "pgtier/core/offsite_error.hpp"
#include "pgtier/core/retention.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/storage/s3_store.hpp"
#include "pgtier/sys/config.hpp"

namespace pgtier {

// The offsite store the configuration names ([offsite]), with its credentials. Throws
// ConfigError when offsite copies are not configured or the credentials are missing.
std::unique_ptr<S3Store> open_offsite_store(const Config& config, const Environment& env,
                                            const std::atomic<bool>* stop = nullptr);

// Deletes an archive from the bucket (delete_archive: an intent object NAME.deleting, manifest
// first, archive, sidecar, intent last). `name` must be an archive name of pgtier's.
void remove_remote_archive(const S3Store& remote, BackupType tier, const std::string& name);

// What the last sync left in .pgtier/offsite.json: no queue (pending uploads are derived from
// the local and remote listings), only what status, metrics and health report.
struct OffsiteState {
    // Every local archive that finished by then is in the bucket (or was skipped by remote
    // retention); nullopt: never synced.
    std::optional<TimePoint> synced_through;
    std::optional<TimePoint> last_attempt_at;
    std::optional<TimePoint> last_success_at;  // a sync that left nothing pending
    std::optional<TimePoint> last_error_at;
    std::string last_error;  // of the last attempt; "" when it succeeded
    // Of last_error: a permanent one (a wrong bucket, key, certificate) makes health fail at
    // once, with last_error_fix saying what to change; a transient one waits for max_lag.
    OffsiteErrorClass last_error_class = OffsiteErrorClass::transient;
    std::string last_error_fix;
};
OffsiteState read_offsite_state(const Repository& repo);

// The offsite state as status, metrics and health see it, without the network: the state file
// and the local archives that finished after synced_through.
struct OffsiteView {
    OffsiteState state;
    std::vector<Manifest> pending;  // oldest first
    std::uint64_t pending_bytes = 0;
};
// Before the first sync attempt (no .pgtier/offsite.json) every local archive is pending.
OffsiteView read_offsite_view(const Repository& repo);

// The offsite gauges for metrics.prom; "" when no sync has been attempted.
std::string offsite_metrics_text(const Repository& repo, TimePoint now);

struct OffsiteSyncResult {
    std::size_t uploaded = 0;
    std::uint64_t uploaded_bytes = 0;
    std::vector<Manifest> uploaded_archives;  // in upload order
    std::size_t deleted = 0;                  // by remote retention
    // Remote retention's deletions, with their rule (in a dry run: those it would make).
    std::vector<RetentionDecision> retention_deletions;
    std::vector<Manifest> pending;  // still waiting, oldest first
    std::uint64_t pending_bytes = 0;
    std::string error;                                             // "" when the pass completed
    OffsiteErrorClass error_class = OffsiteErrorClass::transient;  // of `error`
    std::string fix;  // for a permanent error: what to change (core/offsite_error)
    bool ok() const { return error.empty() && pending.empty(); }
};

// One pass (docs/design.md, Offsite copies): lists the backup directory and the bucket,
// uploads each pending archive oldest first (archive, sidecar, then the manifest, so that a
// remote archive counts only when complete), then applies remote retention (manifest first).
// A store error ends the pass and is returned, never thrown: an outage delays, never loses;
// an S3 error is classified (core/offsite_error) as permanent, with its fix, or transient.
// `dry_run` only reports. Records the outcome in .pgtier/offsite.json (not in a dry run).
OffsiteSyncResult sync_offsite(const Config& config, const Repository& repo, S3Store& remote,
                               TimePoint now, const std::atomic<bool>& stop, bool dry_run = false);

}  // namespace pgtier
