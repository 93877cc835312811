#include "pgtier/archive/manifest_file.hpp"

#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

Manifest read_manifest(const std::filesystem::path& path) {
    const auto text = read_file_no_follow(path);
    if (!text) throw Error(path.string() + ": cannot read manifest: " + errno_text(errno));
    return manifest_from_json(*text, path.string());
}

}  // namespace pgtier
