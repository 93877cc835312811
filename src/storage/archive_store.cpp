#include "pgtier/storage/archive_store.hpp"

#include <algorithm>
#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"

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
