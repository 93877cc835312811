#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgtier {

// The whole content of a small trusted file (config, password); nullopt when it cannot be
// opened, with errno set. Follows symbolic links (Docker and Kubernetes secrets are links).
std::optional<std::string> read_file(const std::filesystem::path& path);

// The content of a regular file in the backup directory (manifest, sidecar), never through a
// symbolic link; nullopt with errno set when it cannot be read (ELOOP: it is a link).
std::optional<std::string> read_file_no_follow(const std::filesystem::path& path);

// The rest of an open file; nullopt with errno set when a read fails.
std::optional<std::string> read_all_fd(int fd);

// Writes all of `data` (retrying short writes and EINTR); throws Error naming `what`.
void write_all(int fd, const char* data, std::size_t size, const std::string& what);

// An owned file descriptor.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release();
    void reset();

  private:
    int fd_ = -1;
};

}  // namespace pgtier
