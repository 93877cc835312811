// pgtier offsite sync [--dry-run]; pgtier fetch ARCHIVE (docs/design.md, Offsite copies).
#include <cstdio>

#include "pgtier/archive/keys.hpp"
#include "pgtier/archive/section_reader.hpp"
#include "pgtier/archive/sha256.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/offsite_error.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

ExitCode offsite_sync(const Config& config, const Environment& env, bool dry_run,
                      OutputFormat format) {
    install_signal_handlers();
    const Repository repo(config.storage.dir);
    repo.require_exists();
    const auto store = open_offsite_store(config, env, &stop_requested());
    const auto result = sync_offsite(config, repo, *store, now_utc(), stop_requested(), dry_run);
    if (format == OutputFormat::json) {
        // The error goes to stderr as in the text output; the document carries it too.
        if (!result.error.empty()) {
            std::fprintf(stderr, "pgtier: offsite sync stopped: %s%s\n", result.error.c_str(),
                         result.error_class == OffsiteErrorClass::permanent
                             ? permanent_error_note(result.fix).c_str()
                             : "");
        }
        const Json document = sync_json(result, dry_run, store->describe());
        print_json(document);
        return document["ok"].get<bool>() ? ExitCode::ok : ExitCode::failure;
    }
    std::printf("%s: %zu uploaded (%s), %zu deleted by remote retention, %zu pending (%s)%s\n",
                store->describe().c_str(), result.uploaded,
                human_size(result.uploaded_bytes).c_str(), result.deleted, result.pending.size(),
                human_size(result.pending_bytes).c_str(), dry_run ? "; dry run, nothing sent" : "");
    if (!result.error.empty()) {
        std::fprintf(stderr, "pgtier: offsite sync stopped: %s%s\n", result.error.c_str(),
                     result.error_class == OffsiteErrorClass::permanent
                         ? permanent_error_note(result.fix).c_str()
                         : "");
        return ExitCode::failure;
    }
    return result.pending.empty() || dry_run ? ExitCode::ok : ExitCode::failure;
}

ExitCode fetch(const Config& config, const Environment& env, const std::string& archive) {
    install_signal_handlers();
    const Repository repo(config.storage.dir);
    const ArchiveKeys keys = load_archive_keys(config);
    repo.ensure_layout();
    const auto lock = repo.lock(&stop_requested());
    // Under the lock whatever partial file is there is a killed run's (a killed fetch's own
    // .NAME.partial would block this one): swept as a backup sweeps.
    repo.sweep_and_log();
    const std::shared_ptr<S3Store> store = open_offsite_store(config, env, &stop_requested());
    const ArchiveEntry* found = nullptr;
    const auto entries = scan_store(*store);
    for (const auto& e : entries) {
        if (e.state != ArchiveState::complete) continue;
        const bool latest = archive == "latest-" + std::string(to_string(e.tier)) &&
                            (!found || e.manifest->started_at > found->manifest->started_at);
        if (e.name == archive || latest) found = &e;
    }
    if (!found) {
        throw Error("no complete archive \"" + archive + "\" in " + store->describe() +
                    " (a file name, or latest-full / latest-differential / latest-incremental)");
    }
    const Manifest& manifest = *found->manifest;
    check_manifest_signature(manifest, keys,
                             store->describe(manifest.type, manifest_name(manifest.name)));
    const bool encrypted = archive_encrypted(manifest.name);
    if (encrypted && keys.identities.empty()) {
        throw Error(found->location +
                    " is encrypted (age) and fetch checks every section: set "
                    "encryption.identity_file (or PGTIER_ENCRYPTION_IDENTITY_FILE)");
    }
    for (const auto& local : repo.published_manifests()) {
        if (local.type == manifest.type && local.name == manifest.name) {
            std::printf("%s/%s is already in %s\n", std::string(to_string(manifest.type)).c_str(),
                        manifest.name.c_str(), repo.dir().c_str());
            return ExitCode::ok;
        }
    }
    // Downloaded under its .partial name, checked against the sidecar and the manifest, then
    // published as a backup is: nothing counts locally until it is whole and checked.
    const StoredArchive stored = stored_archive(store, manifest.type, manifest.name);
    const std::string sidecar = stored.sidecar_sha256();
    if (sidecar != manifest.sha256)
        throw Error(found->location + ": its sidecar and manifest disagree: not fetched");
    auto partial = repo.create_partial(manifest.type, manifest.name);
    Sha256 hash;
    const auto source = stored.open();
    source->read(0, source->size(), "the archive", [&](const char* data, std::size_t n) {
        hash.update(data, n);
        write_all(partial.fd(), data, n, partial.path().string());
    });
    partial.sync_and_close();
    if (source->size() != manifest.compressed_size || hash.hex_digest() != manifest.sha256) {
        throw Error(found->location +
                    ": the downloaded bytes do not match its manifest "
                    "(corrupted or changed in the bucket): not fetched");
    }
    if (encrypted) {
        // Bytes the manifest names may still be sealed for other recipients: every section is
        // decrypted and checked against the manifest before the archive counts.
        const auto stream =
            age::decrypting_source(archive_at_path(partial.path()).open(), keys.identities);
        for (const auto& section : manifest.sections) check_section(*stream, section);
    }
    repo.publish(partial, manifest);
    repo.point_latest_to_newest(manifest.type);
    std::printf("fetched %s/%s (%s) from %s, checked against its manifest\n",
                std::string(to_string(manifest.type)).c_str(), manifest.name.c_str(),
                human_size(manifest.compressed_size).c_str(), store->describe().c_str());
    return ExitCode::ok;
}

}  // namespace pgtier::commands
