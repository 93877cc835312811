#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pgtier {

// What a read of a whole file gave: its text, or the errno of the failure (0: read).
struct FileText {
    std::string text;
    int error = 0;

    bool ok() const { return error == 0; }
};

// The whole content of a small trusted file (config, password). Follows symbolic links
// (Docker and Kubernetes secrets are links).
FileText read_file(const std::filesystem::path& path);

// The content of a regular file in the backup directory (manifest, sidecar), never through a
// symbolic link (ELOOP: it is a link; EINVAL: not a regular file).
FileText read_file_no_follow(const std::filesystem::path& path);

// The rest of an open file.
FileText read_all_fd(int fd);

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
