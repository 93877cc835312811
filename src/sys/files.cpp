#include "pgtier/sys/files.hpp"

#include "pgtier/core/errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace pgtier {

namespace fs = std::filesystem;

FileText read_all_fd(int fd) {
    FileText out;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            return {"", errno};
        }
        if (n == 0) return out;
        out.text.append(buffer, static_cast<std::size_t>(n));
    }
}

FileText read_file(const fs::path& path) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) return {"", errno != 0 ? errno : EIO};  // the stream sets errno; EIO if not
    std::ostringstream out;
    out << in.rdbuf();
    return {out.str(), 0};
}

FileText read_file_no_follow(const fs::path& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return {"", errno};
    struct stat st = {};
    if (::fstat(fd.get(), &st) != 0) return {"", errno};
    if (!S_ISREG(st.st_mode)) return {"", EINVAL};
    return read_all_fd(fd.get());
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
