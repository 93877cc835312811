#include "pgtier/storage/offsite_sync.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "pgtier/core/cluster.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/storage/run_status.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

namespace {

constexpr std::string_view state_file = "offsite.json";

std::optional<TimePoint> time_field(const nlohmann::json& j, const char* key) {
    if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
    return parse_utc_iso(j[key].get<std::string>());
}

void write_state(const Repository& repo, const OffsiteState& state) {
    nlohmann::json j = nlohmann::json::object();
    const auto put = [&](const char* key, const std::optional<TimePoint>& t) {
        if (t) j[key] = format_utc_iso(*t);
    };
    put("synced_through", state.synced_through);
    put("last_attempt_at", state.last_attempt_at);
    put("last_success_at", state.last_success_at);
    put("last_error_at", state.last_error_at);
    j["last_error"] = state.last_error;
    if (!state.last_error.empty()) {
        j["last_error_class"] = std::string(to_string(state.last_error_class));
        j["last_error_fix"] = state.last_error_fix;
    }
    try {
        repo.write_state_file(state_file, j.dump(2) + "\n");
    } catch (const Error& err) {
        spdlog::warn("cannot record the offsite state: {}", err.what());
    }
}

// An archive whose local bytes are not what its manifest says (or that pgtier will not read):
// not uploaded, it stays pending, and the other archives still go up.
class UnfitArchive : public Error {
    using Error::Error;
};

// Records which object in the bucket was checked as it was sent, until its manifest is: a run
// that ends between the two (a kill) leaves the object there, and the next one must know that
// it is the archive and not bytes nobody checked.
constexpr std::string_view checked_file = "offsite-checked";

std::string checked_record(const Manifest& m, const std::string& etag) {
    return std::string(to_string(m.type)) + "/" + m.name + " " + etag + " " + m.sha256 + "\n";
}

bool object_was_checked(const Repository& repo, const S3Store& remote, const Manifest& m) {
    try {
        const auto etag = remote.etag(m.type, m.name);
        return etag && repo.read_state_file(checked_file) == checked_record(m, *etag);
    } catch (const S3Error&) {
        throw;
    } catch (const Error& err) {
        spdlog::warn("ignoring {}: {}", checked_file, err.what());
        return false;
    }
}

// Uploads one archive: archive (unless a checked copy is already there), sidecar, manifest
// last; the sidecar and manifest are the local files' own bytes. The archive's SHA-256 is
// computed while it is sent and compared with the manifest and the sidecar before the manifest,
// which commits the archive in the bucket, is sent.
void upload(const Repository& repo, const LocalStore& local, const S3Store& remote,
            const OffsiteUpload& item) {
    const Manifest& m = item.manifest;
    const auto started = std::chrono::steady_clock::now();
    const auto file = local.open_file(m.type, m.name);
    struct stat st = {};
    if (::fstat(file->fd(), &st) != 0)
        throw Error("cannot stat " + file->describe() + ": " + errno_text(errno));
    // A hard link can be a file from anywhere (the lock file is refused the same way).
    if (st.st_nlink > 1) {
        throw UnfitArchive(file->describe() + " has " + std::to_string(st.st_nlink) +
                           " hard links: not uploaded (an archive of pgtier's has one)");
    }
    // The manifest's size is what the bucket must hold: a local file that changed since is not
    // sent.
    if (file->size() != m.compressed_size) {
        throw UnfitArchive(file->describe() + " is " + std::to_string(file->size()) +
                           " bytes, its manifest says " + std::to_string(m.compressed_size) +
                           ": not uploaded (run pgtier verify)");
    }
    const bool send = item.archive || !object_was_checked(repo, remote, m);
    if (!item.archive && send) {
        spdlog::info(
            "offsite: {}/{}: the object in the bucket was not checked as it was sent: "
            "sending it again",
            to_string(m.type), m.name);
    }
    if (send) {
        const S3Upload sent = remote.upload_file(m.type, m.name, file->fd(), m.compressed_size);
        if (sent.sha256 != m.sha256) {
            // Never committed (no manifest); the object itself goes too.
            try {
                remote.remove(m.type, m.name);
            } catch (const Error& err) {
                spdlog::warn("cannot remove the uncommitted object: {}", err.what());
            }
            throw UnfitArchive(file->describe() + " is corrupt: the bytes sent have SHA-256 " +
                               sent.sha256 + ", its manifest says " + m.sha256 +
                               ": its manifest was not sent, the bucket holds no copy of it "
                               "(run pgtier verify)");
        }
        try {
            repo.write_state_file(checked_file, checked_record(m, sent.etag));
        } catch (const Error& err) {  // only spares a resend after a kill
            spdlog::warn("cannot record the checked upload: {}", err.what());
        }
    }
    const std::string sidecar_file = sidecar_name(m.name);
    const std::string manifest_file = manifest_name(m.name);
    const auto sidecar = local.read_small(m.type, sidecar_file);
    const auto manifest = local.read_small(m.type, manifest_file);
    if (!sidecar || !manifest)
        throw Error(local.describe(m.type, m.name) + ": its sidecar or manifest disappeared");
    if (parse_sidecar(*sidecar, m.name, local.describe(m.type, sidecar_file)) != m.sha256) {
        throw UnfitArchive(local.describe(m.type, sidecar_file) +
                           " records another SHA-256 than the manifest: not uploaded (run pgtier "
                           "verify)");
    }
    const Manifest now = manifest_from_json(*manifest, local.describe(m.type, manifest_file));
    if (now.sha256 != m.sha256 || now.name != m.name || now.type != m.type ||
        now.compressed_size != m.compressed_size)
        throw Error(local.describe(m.type, manifest_file) + " changed during the upload");
    remote.put_small(m.type, sidecar_file, *sidecar);
    remote.put_small(m.type, manifest_file, *manifest);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("offsite: uploaded {}/{} ({}{}) in {:.1f} s", to_string(m.type), m.name,
                 human_size(m.compressed_size), send ? "" : ", archive already there", seconds);
}

}  // namespace

std::unique_ptr<S3Store> open_offsite_store(const Config& config, const Environment& env,
                                            const std::atomic<bool>* stop) {
    if (!config.offsite.enabled())
        throw ConfigError("offsite copies are not configured (set offsite.url)");
    const S3Url url = parse_s3_url(config.offsite.url);
    S3Location location;
    location.endpoint = config.offsite.endpoint;
    location.region = config.offsite.region;
    location.bucket = url.bucket;
    location.prefix = url.prefix;
    location.path_style = config.offsite.path_style;
    location.ca_file = config.offsite.ca_file;
    location.verify_tls = config.offsite.verify_tls;
    const auto secrets = resolve_offsite_credentials(config, env);
    auto store = std::make_unique<S3Store>(
        std::move(location),
        S3Credentials{secrets.access_key_id, secrets.secret_access_key, secrets.session_token});
    if (stop != nullptr) store->client().set_cancel_flag(stop);
    return store;
}

void remove_remote_archive(const S3Store& remote, BackupType tier, const std::string& name) {
    delete_archive(remote, tier, name);
}

OffsiteState read_offsite_state(const Repository& repo) {
    OffsiteState state;
    std::optional<std::string> text;
    try {
        text = repo.read_state_file(state_file);
    } catch (const Error& err) {
        spdlog::warn("ignoring the offsite state: {}", err.what());
    }
    if (!text) return state;
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object()) return state;
    state.synced_through = time_field(j, "synced_through");
    state.last_attempt_at = time_field(j, "last_attempt_at");
    state.last_success_at = time_field(j, "last_success_at");
    state.last_error_at = time_field(j, "last_error_at");
    if (j.contains("last_error") && j["last_error"].is_string())
        state.last_error = j["last_error"].get<std::string>();
    if (j.contains("last_error_class") && j["last_error_class"].is_string())
        state.last_error_class = offsite_error_class_from(j["last_error_class"].get<std::string>());
    if (j.contains("last_error_fix") && j["last_error_fix"].is_string())
        state.last_error_fix = j["last_error_fix"].get<std::string>();
    return state;
}

OffsiteView read_offsite_view(const Repository& repo) {
    OffsiteView view;
    view.state = read_offsite_state(repo);
    view.pending = offsite_pending(repo.published_manifests(), view.state.synced_through);
    for (const auto& m : view.pending) view.pending_bytes += m.compressed_size;
    return view;
}

std::string offsite_metrics_text(const Repository& repo, TimePoint now) {
    const auto view = read_offsite_view(repo);
    if (!view.state.last_attempt_at) return "";  // offsite copies not in use (or not yet)
    std::string out;
    const auto gauge = [&](const char* name, const char* help, double value) {
        char number[64];
        std::snprintf(number, sizeof number, "%.3f", value);
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
               " " + number + "\n";
    };
    const auto unix_seconds = [](TimePoint t) {
        return std::chrono::duration<double>(t.time_since_epoch()).count();
    };
    gauge("pgtier_offsite_pending_archives", "Local archives not yet in the bucket.",
          static_cast<double>(view.pending.size()));
    gauge("pgtier_offsite_pending_bytes", "Compressed bytes of the archives not yet in the bucket.",
          static_cast<double>(view.pending_bytes));
    gauge("pgtier_offsite_lag_seconds",
          "How long the oldest archive not yet in the bucket has waited (0: none waits).",
          view.pending.empty()
              ? 0.0
              : std::chrono::duration<double>(now - view.pending.front().finished_at).count());
    if (view.state.last_success_at) {
        gauge("pgtier_offsite_last_success_timestamp_seconds",
              "Start of the last sync that left nothing pending, Unix time.",
              unix_seconds(*view.state.last_success_at));
    }
    gauge("pgtier_offsite_last_sync_ok", "1 when the last sync attempt had no error, else 0.",
          view.state.last_error.empty() ? 1.0 : 0.0);
    return out;
}

namespace {

// Another node uploading under the same prefix (docs/design.md, Cluster identity): plans and
// retention keep the identities apart, but the operator should know.
void warn_other_clusters(const Config& config, const std::vector<Manifest>& local,
                         const std::vector<Manifest>& remote_published, const S3Store& remote,
                         TimePoint now) {
    std::string own = config.storage.cluster_name;
    const Manifest* newest = nullptr;
    for (const auto& m : local) {
        if (!newest || m.started_at > newest->started_at) newest = &m;
    }
    if (newest && !cluster_identity(*newest).empty()) own = cluster_identity(*newest);
    for (const auto& other : live_other_clusters(own, remote_published, now)) {
        spdlog::warn(
            "offsite: {} also holds the archives of another live cluster, {}: {} archive(s), the "
            "newest started {}; this node is {}. Restore plans and retention keep the clusters "
            "apart, but give each cluster its own prefix (a node that continues another's "
            "history sets the same [storage] cluster_name)",
            remote.describe(), describe_identity(other.identity), other.archives,
            format_utc_seconds(other.newest), describe_identity(own));
    }
}

}  // namespace

OffsiteSyncResult sync_offsite(const Config& config, const Repository& repo, S3Store& remote,
                               TimePoint now, const std::atomic<bool>& stop, bool dry_run) {
    OffsiteSyncResult result;
    OffsiteState state = read_offsite_state(repo);
    state.last_attempt_at = now;
    const LocalStore local(repo.dir());
    std::vector<Manifest> local_published;
    std::optional<OffsitePlan> plan;
    std::vector<bool> sent;  // per planned upload
    std::string unfit;       // the archives not uploaded because of their local bytes
    try {
        local_published = repo.published_manifests();
        // A remote deletion a kill or a cut connection interrupted is completed first.
        if (!dry_run) finish_interrupted_deletions(remote);
        const auto remote_entries = scan_store(remote);
        std::vector<RemoteFiles> files;
        for (const auto& e : remote_entries) files.push_back({e.tier, e.name, e.file_size});
        const auto remote_published = published_manifests(remote_entries);
        warn_other_clusters(config, local_published, remote_published, remote, now);
        plan = plan_offsite(local_published, remote_published, files,
                            offsite_retention(config.retention, config.offsite), now);
        sent.assign(plan->uploads.size(), false);
        for (std::size_t i = 0; i < plan->uploads.size(); ++i) {
            const auto& item = plan->uploads[i];
            if (stop.load()) throw Error("stop requested");
            if (dry_run) {
                spdlog::info("offsite (dry run): would upload {}/{} ({})",
                             to_string(item.manifest.type), item.manifest.name,
                             human_size(item.manifest.compressed_size));
                continue;
            }
            try {
                upload(repo, local, remote, item);
            } catch (const UnfitArchive& err) {
                spdlog::error("offsite: {}", err.what());
                unfit += (unfit.empty() ? "" : "; ") + std::string(err.what());
                continue;
            }
            sent[i] = true;
            ++result.uploaded;
            result.uploaded_archives.push_back(item.manifest);
            result.uploaded_bytes += item.manifest.compressed_size;
        }
        // Remote retention counted on every pending archive being up.
        if (!unfit.empty()) throw Error("not uploaded: " + unfit);
        // Remote retention, only after every pending archive is up: the bucket never holds
        // less than the plan counted on.
        for (const auto& d : plan->retention) {
            if (d.keep) continue;
            if (stop.load()) throw Error("stop requested");
            spdlog::info("offsite{}: deleting {}/{} ({})", dry_run ? " (dry run)" : "",
                         to_string(d.tier), d.name, d.reason);
            if (dry_run) {
                result.retention_deletions.push_back(d);
                continue;
            }
            remove_remote_archive(remote, d.tier, d.name);
            result.retention_deletions.push_back(d);
            ++result.deleted;
        }
    } catch (const S3Error& err) {
        result.error = one_line(err.what());
        if (!stop.load()) {
            const S3Location& at = remote.client().location();
            auto judged = classify_offsite_error(
                err.failure(), OffsiteTarget{at.endpoint, at.bucket, at.path_style});
            result.error_class = judged.kind;
            result.fix = std::move(judged.fix);
        }
    } catch (const Error& err) {
        result.error = one_line(err.what());
    }
    if (plan) {
        for (std::size_t i = 0; i < plan->uploads.size(); ++i) {
            if (!dry_run && i < sent.size() && sent[i]) continue;
            result.pending.push_back(plan->uploads[i].manifest);
            result.pending_bytes += plan->uploads[i].manifest.compressed_size;
        }
    } else {
        // The bucket could not be listed: what waits is what the last pass had not sent.
        result.pending = offsite_pending(local_published, state.synced_through);
        for (const auto& m : result.pending) result.pending_bytes += m.compressed_size;
    }
    if (dry_run) return result;
    if (plan)
        state.synced_through =
            synced_through_after(local_published, result.pending, state.synced_through);
    if (result.error.empty()) {
        state.last_error.clear();
        state.last_error_class = OffsiteErrorClass::transient;
        state.last_error_fix.clear();
        if (result.pending.empty()) state.last_success_at = now;
    } else {
        state.last_error = result.error;
        state.last_error_at = now;
        state.last_error_class = result.error_class;
        state.last_error_fix = result.fix;
    }
    write_state(repo, state);
    refresh_metrics(repo);
    return result;
}

}  // namespace pgtier
