#include "pgtier/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "pgtier/errors.hpp"

namespace pgtier {

namespace fs = std::filesystem;

namespace {

constexpr mode_t file_mode = 0640;

void write_all_fd(int fd, const std::string& content, const fs::path& path) {
    const char* data = content.data();
    std::size_t left = content.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, data, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot write " + path.string() + ": " + errno_text(errno));
        }
        data += n;
        left -= static_cast<std::size_t>(n);
    }
}

void remove_quietly(const fs::path& path) {
    std::error_code ec;
    fs::remove(path, ec);
}

}  // namespace

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void fsync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open directory " + dir.string() + ": " + errno_text(errno));
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) throw Error("cannot fsync directory " + dir.string() + ": " + errno_text(saved));
}

void write_file_atomically(const fs::path& path, const std::string& content) {
    const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, file_mode);
    if (fd < 0) throw Error("cannot create " + tmp.string() + ": " + errno_text(errno));
    try {
        ::fchmod(fd, file_mode);
        write_all_fd(fd, content, tmp);
        if (::fsync(fd) != 0)
            throw Error("cannot fsync " + tmp.string() + ": " + errno_text(errno));
    } catch (...) {
        ::close(fd);
        remove_quietly(tmp);
        throw;
    }
    if (::close(fd) != 0) {
        const int saved = errno;
        remove_quietly(tmp);
        throw Error("cannot write " + tmp.string() + ": " + errno_text(saved));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        remove_quietly(tmp);
        throw Error("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                    errno_text(saved));
    }
}

}  // namespace pgtier
