#include "pgtier/sys/files.hpp"

#include "pgtier/core/errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace pgtier {

namespace fs = std::filesystem;

FileText read_all_fd(int fd, std::size_t limit) {
    FileText out;
    char buffer[65536];
    for (;;) {
        const std::size_t want = std::min(sizeof buffer, limit + 1 - out.text.size());
        const ssize_t n = ::read(fd, buffer, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            return {"", errno};
        }
        if (n == 0) return out;
        out.text.append(buffer, static_cast<std::size_t>(n));
        if (out.text.size() > limit) return {"", EFBIG};
    }
}

namespace {

// A regular file of at most `limit` bytes behind `fd` (opened O_NONBLOCK: a FIFO does not hang
// the open), read whole.
FileText read_regular(const UniqueFd& fd, std::size_t limit) {
    if (!fd) return {"", errno};
    struct stat st = {};
    if (::fstat(fd.get(), &st) != 0) return {"", errno};
    if (!S_ISREG(st.st_mode)) return {"", EINVAL};
    if (static_cast<std::uint64_t>(st.st_size) > limit) return {"", EFBIG};
    return read_all_fd(fd.get(), limit);
}

std::string size_text(std::size_t bytes) {
    if (bytes % (1U << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

}  // namespace

FileText read_file(const fs::path& path, std::size_t limit) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    return read_regular(fd, limit);
}

FileText read_file_no_follow(const fs::path& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    return read_regular(fd, max_small_file_size);
}

std::string read_failure_text(const fs::path& path, int error, std::size_t limit) {
    if (error == EFBIG) return "larger than " + size_text(limit);
    if (error != EINVAL) return errno_text(error);
    struct stat st = {};
    if (::stat(path.c_str(), &st) != 0) return "not a regular file";
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a plain file";
    return std::string("not a regular file (") + kind + ")";
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

int UniqueFd::release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void UniqueFd::reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void write_all(int fd, const char* data, std::size_t size, const std::string& what) {
    while (size > 0) {
        const ssize_t written = ::write(fd, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) throw Error("cannot write " + what + ": " + errno_text(errno));
        data += written;
        size -= static_cast<std::size_t>(written);
    }
}

}  // namespace pgtier
