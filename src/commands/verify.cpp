// pgtier verify [--remote [--deep]] [ARCHIVE...]
#include <cstdio>

#include "pgtier/archive/verifier.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
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

// Where each verdict goes: a line on stdout, or an entry of the --json document printed at the
// end. Either way the exit code says whether every one was OK.
class Verdicts {
  public:
    explicit Verdicts(OutputFormat format) : json_(format == OutputFormat::json) {}

    void checked(const std::string& where, const VerifyResult& result) {
        all_ok_ = all_ok_ && result.ok;
        if (json_) {
            archives_.push_back(verify_result_json(where, result));
        } else {
            print_verdict(where, result);
        }
    }
    // An archive that could not be checked: not found, or not a complete archive.
    void failed(const std::string& where, const std::string& error) {
        all_ok_ = false;
        if (json_) {
            archives_.push_back(verify_failure_json(where, error));
        } else {
            std::printf("FAILED %s: %s\n", where.c_str(), error.c_str());
        }
    }
    void none_in(const std::string& where) const {
        if (!json_) std::printf("no archives in %s\n", where.c_str());
    }
    ExitCode finish(const std::string& where, bool remote, bool deep) const {
        if (json_) {
            Json out = json_document("verify", all_ok_);
            out["where"] = where;
            out["remote"] = remote;
            out["deep"] = deep;
            out["archives"] = archives_;
            print_json(out);
        }
        return all_ok_ ? ExitCode::ok : ExitCode::failure;
    }

  private:
    bool json_;
    bool all_ok_ = true;
    Json archives_ = Json::array();
};

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
                       WorkerPool& pool, Verdicts& verdicts) {
    const std::shared_ptr<S3Store> store = open_offsite_store(config, env, &stop_requested());
    auto entries = scan_store(*store);
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
            verdicts.failed(name, "no such archive in " + store->describe());
        } else {
            chosen.push_back(found);
        }
    }
    if (names.empty()) {
        for (const auto& e : entries) chosen.push_back(&e);
        if (chosen.empty()) verdicts.none_in(store->describe());
    }
    for (const auto* e : chosen) {
        if (e->state != ArchiveState::complete) {
            const std::string problem =
                e->problem.empty() ? std::string(to_string(e->state)) : printable(e->problem);
            verdicts.failed(e->location, problem);
            continue;
        }
        spdlog::debug("verifying {}", e->location);
        const auto result =
            deep ? verify_archive(stored_archive(store, e->tier, e->name), keys, &pool)
                 : check_remote_listing(store, *e);
        verdicts.checked(e->location, result);
    }
    return verdicts.finish(store->describe(), true, deep);
}

}  // namespace

ExitCode verify(const Config& config, const Environment& env,
                const std::vector<std::string>& archives, bool remote, bool deep, int threads,
                OutputFormat format) {
    if (deep && !remote)
        throw ConfigError("--deep goes with --remote (a local verify always decodes)");
    WorkerPool pool(threads);
    const ArchiveKeys keys = load_archive_keys(config);
    Verdicts verdicts(format);
    if (remote) return verify_remote(config, env, archives, deep, keys, pool, verdicts);
    Repository repo(config.storage.dir);
    if (archives.empty()) repo.require_exists();
    std::vector<std::filesystem::path> paths;
    if (archives.empty()) {
        bool foreign = false;
        for (const auto& entry : repo.scan()) {
            if (entry.state == ArchiveState::foreign_manifest) {
                verdicts.failed(entry.location, printable(entry.problem));
                foreign = true;
                continue;
            }
            paths.push_back(entry.location);
        }
        if (paths.empty() && !foreign) verdicts.none_in(config.storage.dir.string());
    }
    for (const auto& name : archives) {
        try {
            if (auto path = repo.resolve(name)) {
                paths.push_back(*path);
                continue;
            }
            verdicts.failed(name, "no such archive (in " + config.storage.dir.string() + ")");
        } catch (const Error& err) {
            verdicts.failed(name, err.what());
        }
    }
    for (const auto& path : paths) {
        spdlog::debug("verifying {}", path.string());
        const auto result = verify_archive(archive_at_path(path), keys, &pool);
        verdicts.checked(path.string(), result);
    }
    return verdicts.finish(config.storage.dir.string(), false, false);
}

}  // namespace pgtier::commands
