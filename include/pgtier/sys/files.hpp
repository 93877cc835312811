#pragma once
#include <cstddef>
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

// The most pgtier keeps in memory of a file or object it reads whole (manifest, sidecar, S3
// reply): a manifest of thousands of databases is far smaller.
constexpr std::size_t max_small_file_size = std::size_t{64} << 20;

// The whole content of a small trusted file (config, password): a regular file of at most
// `limit` bytes (EINVAL: not a regular file, never waiting on a FIFO; EFBIG: larger). Follows
// symbolic links (Docker and Kubernetes secrets are links).
FileText read_file(const std::filesystem::path& path, std::size_t limit);

// The content of a regular file in the backup directory (manifest, sidecar), never through a
// symbolic link (ELOOP: it is a link; EINVAL: not a regular file; EFBIG: larger than
// max_small_file_size).
FileText read_file_no_follow(const std::filesystem::path& path);

// The rest of an open file; EFBIG when it holds more than `limit` bytes (never more than
// limit + 1 are read).
FileText read_all_fd(int fd, std::size_t limit);

// Why read_file or read_file_no_follow of `path` failed with `error`: "not a regular file (a
// directory)", "larger than 1 MiB", else the errno text.
std::string read_failure_text(const std::filesystem::path& path, int error, std::size_t limit);

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
