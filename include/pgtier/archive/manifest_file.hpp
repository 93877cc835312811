#pragma once
#include <filesystem>

#include "pgtier/core/manifest.hpp"

namespace pgtier {

// The manifest file beside an archive, never read through a symbolic link. Throws Error naming
// the path when it cannot be read or is not a valid manifest.
Manifest read_manifest(const std::filesystem::path& path);

}  // namespace pgtier
