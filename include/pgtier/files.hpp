#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace pgtier {

// The whole content of a small file (config, manifest, sidecar, password); nullopt when it
// cannot be opened, with errno set.
std::optional<std::string> read_file(const std::filesystem::path& path);

// Writes `content` to `path` through a temporary file, fsync and rename (mode 0640).
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

void fsync_directory(const std::filesystem::path& dir);

}  // namespace pgtier
