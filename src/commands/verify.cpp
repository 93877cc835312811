#include <cstdio>

#include "pgtier/commands.hpp"
#include "pgtier/log.hpp"
#include "pgtier/repository.hpp"
#include "pgtier/verifier.hpp"

namespace pgtier::commands {

ExitCode verify(const Config& config, const std::vector<std::string>& archives) {
    Repository repo(config.storage.dir);
    std::vector<std::filesystem::path> paths;
    bool all_ok = true;
    if (archives.empty()) {
        for (const auto& entry : repo.scan()) paths.push_back(entry.path);
        if (paths.empty()) std::printf("no archives in %s\n", config.storage.dir.c_str());
    }
    for (const auto& name : archives) {
        if (auto path = repo.resolve(name)) {
            paths.push_back(*path);
        } else {
            std::printf("FAILED %s: no such archive (in %s)\n", name.c_str(),
                        config.storage.dir.c_str());
            all_ok = false;
        }
    }
    for (const auto& path : paths) {
        spdlog::debug("verifying {}", path.string());
        const auto result = verify_archive(path);
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
