// pgtier verify [--remote [--deep]] [ARCHIVE...]
#include <cstdio>

#include "pgtier/archive/verifier.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

namespace {

void print_verdict(const std::string& where, const VerifyResult& result) {
    if (result.ok) {
        std::printf("OK %s%s\n", where.c_str(),
                    result.note.empty() ? "" : (" (" + result.note + ")").c_str());
        return;
    }
    std::string why;
    for (const auto& p : result.problems) why += (why.empty() ? "" : "; ") + p;
    if (!result.intact_sections.empty()) {
        std::string intact;
        for (const auto& s : result.intact_sections) intact += (intact.empty() ? "" : ", ") + s;
        why += " [intact: " + intact + "]";
    }
    // Problems quote manifest text (names, fields): one line, no terminal escapes.
    std::printf("FAILED %s: %s\n", where.c_str(), printable(why).c_str());
}

// Without downloading the archive: the object's size, the manifest's section table and the
// sidecar against the manifest.
VerifyResult check_remote_listing(const std::shared_ptr<S3Store>& store,
                                  const ArchiveEntry& entry) {
    VerifyResult result;
    const auto problem = [&](std::string text) {
        result.ok = false;
        result.problems.push_back(std::move(text));
    };
    if (entry.file_size != entry.manifest->compressed_size) {
        problem("the object is " + std::to_string(entry.file_size) + " bytes, its manifest says " +
                std::to_string(entry.manifest->compressed_size));
    }
    // The byte ranges a restore would read from the bucket must be the object's.
    const std::uint64_t stream_size = entry.manifest->encrypted_stream_size
                                          ? *entry.manifest->encrypted_stream_size
                                          : entry.file_size;
    for (auto& text : section_table_problems(*entry.manifest, stream_size))
        problem(std::move(text));
    try {
        const auto sidecar = stored_archive(store, entry.tier, entry.name).sidecar_sha256();
        if (sidecar != entry.manifest->sha256)
            problem("the sidecar's SHA-256 is not the manifest's");
    } catch (const Error& err) {
        problem(err.what());
    }
    return result;
}

ExitCode verify_remote(const Config& config, const Environment& env,
                       const std::vector<std::string>& names, bool deep, const ArchiveKeys& keys,
                       WorkerPool& pool) {
    const std::shared_ptr<S3Store> store = open_offsite_store(config, env, &stop_requested());
    auto entries = scan_store(*store);
    bool all_ok = true;
    std::vector<const ArchiveEntry*> chosen;
    for (const auto& name : names) {
        const ArchiveEntry* found = nullptr;
        for (const auto& e : entries) {
            const bool latest = name == "latest-" + std::string(to_string(e.tier)) &&
                                e.state == ArchiveState::complete &&
                                (!found || e.manifest->started_at > found->manifest->started_at);
            if (e.name == name || latest) found = &e;
        }
        if (!found) {
            std::printf("FAILED %s: no such archive in %s\n", name.c_str(),
                        store->describe().c_str());
            all_ok = false;
        } else {
            chosen.push_back(found);
        }
    }
    if (names.empty()) {
        for (const auto& e : entries) chosen.push_back(&e);
        if (chosen.empty()) std::printf("no archives in %s\n", store->describe().c_str());
    }
    for (const auto* e : chosen) {
        if (e->state != ArchiveState::complete) {
            const std::string problem =
                e->problem.empty() ? std::string(to_string(e->state)) : printable(e->problem);
            std::printf("FAILED %s: %s\n", e->location.c_str(), problem.c_str());
            all_ok = false;
            continue;
        }
        spdlog::debug("verifying {}", e->location);
        const auto result =
            deep ? verify_archive(stored_archive(store, e->tier, e->name), keys, &pool)
                 : check_remote_listing(store, *e);
        all_ok = all_ok && result.ok;
        print_verdict(e->location, result);
    }
    return all_ok ? ExitCode::ok : ExitCode::failure;
}

}  // namespace

ExitCode verify(const Config& config, const Environment& env,
                const std::vector<std::string>& archives, bool remote, bool deep, int threads) {
    if (deep && !remote)
        throw ConfigError("--deep goes with --remote (a local verify always decodes)");
    WorkerPool pool(threads);
    const ArchiveKeys keys = load_archive_keys(config);
    if (remote) return verify_remote(config, env, archives, deep, keys, pool);
    Repository repo(config.storage.dir);
    if (archives.empty()) repo.require_exists();
    std::vector<std::filesystem::path> paths;
    bool all_ok = true;
    if (archives.empty()) {
        for (const auto& entry : repo.scan()) {
            if (entry.state == ArchiveState::foreign_manifest) {
                std::printf("FAILED %s: %s\n", entry.location.c_str(),
                            printable(entry.problem).c_str());
                all_ok = false;
                continue;
            }
            paths.push_back(entry.location);
        }
        if (paths.empty() && all_ok) std::printf("no archives in %s\n", config.storage.dir.c_str());
    }
    for (const auto& name : archives) {
        try {
            if (auto path = repo.resolve(name)) {
                paths.push_back(*path);
                continue;
            }
            std::printf("FAILED %s: no such archive (in %s)\n", name.c_str(),
                        config.storage.dir.c_str());
        } catch (const Error& err) {
            std::printf("FAILED %s: %s\n", name.c_str(), err.what());
        }
        all_ok = false;
    }
    for (const auto& path : paths) {
        spdlog::debug("verifying {}", path.string());
        const auto result = verify_archive(archive_at_path(path), keys, &pool);
        all_ok = all_ok && result.ok;
        print_verdict(path.string(), result);
    }
    return all_ok ? ExitCode::ok : ExitCode::failure;
}

}  // namespace pgtier::commands
