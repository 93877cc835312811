#include <cstdio>

#include "pgtier/archive/verifier.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier::commands {

ExitCode verify(const Config& config, const std::vector<std::string>& archives) {
    Repository repo(config.storage.dir);
    if (archives.empty()) repo.require_exists();
    std::vector<std::filesystem::path> paths;
    bool all_ok = true;
    if (archives.empty()) {
        for (const auto& entry : repo.scan()) {
            if (entry.state == ArchiveState::foreign_manifest) {
                std::printf("FAILED %s: %s\n", entry.location.c_str(), entry.problem.c_str());
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
        const auto result = verify_archive(archive_at_path(path));
        if (result.ok) {
            std::printf("OK %s\n", path.string().c_str());
            continue;
        }
        all_ok = false;
        std::string why;
        for (const auto& p : result.problems) why += (why.empty() ? "" : "; ") + p;
        if (!result.intact_sections.empty()) {
            std::string intact;
            for (const auto& s : result.intact_sections) intact += (intact.empty() ? "" : ", ") + s;
            why += " [intact: " + intact + "]";
        }
        std::printf("FAILED %s: %s\n", path.string().c_str(), why.c_str());
    }
    return all_ok ? ExitCode::ok : ExitCode::failure;
}

}  // namespace pgtier::commands
