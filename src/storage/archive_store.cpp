#include "pgtier/storage/archive_store.hpp"

#include <algorithm>
#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/storage/s3_client.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

std::string_view to_string(ArchiveState state) {
    switch (state) {
        case ArchiveState::complete:
            return "complete";
        case ArchiveState::missing_sidecar:
            return "incomplete: no .sha256 sidecar";
        case ArchiveState::missing_manifest:
            return "incomplete: no .json manifest";
        case ArchiveState::unreadable_manifest:
            return "incomplete: unreadable manifest";
        case ArchiveState::foreign_manifest:
            return "broken: the manifest describes another archive";
    }
    return "?";
}

std::vector<ArchiveEntry> scan_store(const ArchiveStore& store) {
    std::vector<ArchiveEntry> entries;
    for (auto type : all_backup_types) {
        const auto files = store.list(type);
        const auto has = [&](const std::string& name) {
            return std::any_of(files.begin(), files.end(),
                               [&](const StoredFile& f) { return f.name == name; });
        };
        for (const auto& file : files) {
            if (!looks_like_archive(file.name, type)) continue;
            ArchiveEntry entry;
            entry.tier = type;
            entry.name = file.name;
            entry.location = store.describe(type, file.name);
            entry.file_size = file.size;
            const std::string manifest_file = manifest_name(file.name);
            try {
                const auto text = has(manifest_file) ? store.read_small(type, manifest_file)
                                                     : std::optional<std::string>();
                if (!text) {
                    entry.state = ArchiveState::missing_manifest;
                    entries.push_back(std::move(entry));
                    continue;
                }
                entry.manifest = manifest_from_json(*text, store.describe(type, manifest_file));
            } catch (const Error& err) {
                entry.state = ArchiveState::unreadable_manifest;
                entry.problem = err.what();
                entries.push_back(std::move(entry));
                continue;
            }
            if (entry.manifest->name != file.name || entry.manifest->type != type) {
                entry.state = ArchiveState::foreign_manifest;
                entry.problem = "its manifest describes " +
                                std::string(to_string(entry.manifest->type)) + " archive \"" +
                                entry.manifest->name + "\", not this file: never acted on";
            } else {
                entry.state = has(sidecar_name(file.name)) ? ArchiveState::complete
                                                           : ArchiveState::missing_sidecar;
            }
            entries.push_back(std::move(entry));
        }
    }
    return entries;
}

std::vector<Manifest> published_manifests(const std::vector<ArchiveEntry>& entries) {
    std::vector<Manifest> manifests;
    for (const auto& entry : entries) {
        if (entry.state == ArchiveState::complete) manifests.push_back(*entry.manifest);
    }
    std::stable_sort(manifests.begin(), manifests.end(), [](const Manifest& a, const Manifest& b) {
        return a.started_at < b.started_at;
    });
    return manifests;
}

Manifest StoredArchive::manifest() const {
    const std::string file = manifest_name(name);
    const auto text = read_beside(file);
    if (!text) throw Error(describe_beside(file) + ": cannot read manifest: " + errno_text(ENOENT));
    return manifest_from_json(*text, describe_beside(file));
}

std::string StoredArchive::sidecar_sha256() const {
    const std::string file = sidecar_name(name);
    const auto text = read_beside(file);
    if (!text) throw Error("no sidecar " + describe_beside(file) + ": " + errno_text(ENOENT));
    return parse_sidecar(*text, name, describe_beside(file));
}

StoredArchive stored_archive(const std::shared_ptr<const ArchiveStore>& store, BackupType tier,
                             std::string name) {
    StoredArchive archive;
    archive.location = store->describe(tier, name);
    archive.open = [store, tier, name] { return store->open(tier, name); };
    archive.read_beside = [store, tier](const std::string& file) {
        return store->read_small(tier, file);
    };
    archive.describe_beside = [store, tier](const std::string& file) {
        return store->describe(tier, file);
    };
    archive.name = std::move(name);
    return archive;
}

std::string deletion_intent_name(const std::string& archive) {
    return archive + ".deleting";
}

namespace {

constexpr std::string_view intent_suffix = ".deleting";

void run_sync(const std::function<void(BackupType)>& sync, BackupType tier) {
    if (sync) sync(tier);
}

// The SHA-256 in the manifest of `name` when it is that archive's own; nullopt when there is no
// manifest. Throws Error when it cannot be read or describes another archive.
std::optional<std::string> own_manifest_sha256(const ArchiveStore& store, BackupType tier,
                                               const std::string& name) {
    const std::string file = manifest_name(name);
    const auto text = store.read_small(tier, file);
    if (!text) return std::nullopt;
    const Manifest m = manifest_from_json(*text, store.describe(tier, file));
    if (m.name != name || m.type != tier)
        throw Error(store.describe(tier, file) + " describes another archive");
    return m.sha256;
}

}  // namespace

void delete_archive(const ArchiveStore& store, BackupType tier, const std::string& name,
                    const std::function<void(BackupType)>& sync) {
    if (!looks_like_archive(name, tier)) {
        throw Error("refusing to delete \"" + name + "\" in " + store.describe() +
                    ": not an archive name of pgtier's");
    }
    const auto sha256 = own_manifest_sha256(store, tier, name);
    if (!sha256) {
        throw Error("refusing to delete " + store.describe(tier, name) +
                    ": it has no manifest (not a complete archive of pgtier's)");
    }
    // The intent first: a kill or a cut connection after any deletion below leaves it, and the
    // next run completes the deletion (finish_interrupted_deletions).
    store.put_small(tier, deletion_intent_name(name), sidecar_text(*sha256, name));
    run_sync(sync, tier);
    // Manifest first: an archive without one no longer counts, whatever happens next. The
    // sidecar after the archive: while the archive is there, its sidecar tells that it is the
    // one the intent names.
    for (const auto& file : {manifest_name(name), name, sidecar_name(name)})
        store.remove(tier, file);
    run_sync(sync, tier);
    store.remove(tier, deletion_intent_name(name));
    run_sync(sync, tier);
}

std::vector<std::string> finish_interrupted_deletions(const ArchiveStore& store,
                                                      const std::function<void(BackupType)>& sync) {
    std::vector<std::string> done;
    for (auto tier : all_backup_types) {
        const auto files = store.list(tier);
        const auto has = [&](const std::string& file) {
            return std::any_of(files.begin(), files.end(),
                               [&](const StoredFile& f) { return f.name == file; });
        };
        for (const auto& intent : files) {
            const std::string& file = intent.name;
            if (file.size() <= intent_suffix.size() ||
                file.compare(file.size() - intent_suffix.size(), intent_suffix.size(),
                             intent_suffix) != 0)
                continue;
            const std::string name = file.substr(0, file.size() - intent_suffix.size());
            if (!looks_like_archive(name, tier)) continue;  // not pgtier's: never acted on
            const std::string where = store.describe(tier, name);
            // Which of the files still there are the archive the intent names.
            std::string refusal;
            try {
                const auto text = store.read_small(tier, file);
                const std::string decided =
                    parse_sidecar(text.value_or(""), name, store.describe(tier, file));
                if (const auto manifest = own_manifest_sha256(store, tier, name)) {
                    if (*manifest != decided) refusal = "its manifest records another SHA-256";
                } else if (has(name)) {
                    const auto sidecar = store.read_small(tier, sidecar_name(name));
                    if (!sidecar)
                        refusal = "the archive has no sidecar to tell it is that one";
                    else if (parse_sidecar(*sidecar, name,
                                           store.describe(tier, sidecar_name(name))) != decided)
                        refusal = "its sidecar records another SHA-256";
                } else if (const auto sidecar = store.read_small(tier, sidecar_name(name));
                           sidecar &&
                           parse_sidecar(*sidecar, name,
                                         store.describe(tier, sidecar_name(name))) != decided) {
                    refusal = "its sidecar records another SHA-256";
                }
            } catch (const S3Error&) {
                throw;  // the bucket could not be read: the intent stays for the next run
            } catch (const Error& err) {
                refusal = err.what();
            }
            if (refusal.empty()) {
                for (const auto& f : {manifest_name(name), name, sidecar_name(name)})
                    store.remove(tier, f);
                run_sync(sync, tier);
                spdlog::warn("completed the interrupted deletion of {}", where);
                done.push_back(where);
            } else {
                spdlog::warn(
                    "{}: an interrupted deletion was recorded for it, but {}: left as it is", where,
                    refusal);
            }
            store.remove(tier, file);
            run_sync(sync, tier);
        }
    }
    return done;
}

std::string parse_sidecar(const std::string& text, const std::string& name,
                          const std::string& where) {
    const auto space = text.find("  ");
    std::string named = space == std::string::npos ? "" : text.substr(space + 2);
    while (!named.empty() && named.back() == '\n') named.pop_back();
    if (space != 64 || named != name) {
        throw Error("sidecar " + where + " is not a sha256sum line for " + name);
    }
    return text.substr(0, 64);
}

std::string sidecar_text(const std::string& sha256, const std::string& name) {
    return sha256 + "  " + name + "\n";
}

}  // namespace pgtier
