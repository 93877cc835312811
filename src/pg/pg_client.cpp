#include "pgtier/pg/pg_client.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/process.hpp"

namespace pgtier {

namespace {

// .pgpass escaping: backslash and colon are escaped with a backslash.
std::string passfile_escape(const std::string& value) {
    std::string out;
    for (char ch : value) {
        if (ch == '\\' || ch == ':') out.push_back('\\');
        out.push_back(ch);
    }
    return out;
}

// A file with `content` that has no name anywhere: a memfd, else an O_TMPFILE in $TMPDIR. It
// disappears with its last descriptor, so no crash can leave the password behind. Close-on-exec
// (only the children that need it inherit it), 0600 (libpq ignores a password file with group
// or other access) and numbered 3 or more (a child's stdin/stdout/stderr never take it).
int password_fd(const std::string& content) {
    int fd = ::memfd_create("pgtier-pgpass", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        const char* tmpdir = std::getenv("TMPDIR");
        fd = ::open(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                    O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    if (fd < 0) throw Error("cannot create an unnamed password file: " + errno_text(errno));
    if (fd < 3) {
        const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        const int saved = errno;
        ::close(fd);
        if (moved < 0)
            throw Error("cannot move the password file descriptor: " + errno_text(saved));
        fd = moved;
    }
    std::size_t done = 0;
    bool ok = ::fchmod(fd, 0600) == 0;
    while (ok && done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    if (!ok) {
        const int saved = errno;
        ::close(fd);
        throw Error("cannot write the unnamed password file: " + errno_text(saved));
    }
    // Children only read it (reopened through /proc/self/fd); a memfd is sealed against change.
    ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return fd;
}

}  // namespace

ClientEnvironment::ClientEnvironment(const ConnectionSettings& settings) : settings_(settings) {
    std::vector<std::string> extra;
    if (settings_.password) {
        passfd_ = password_fd("*:*:*:*:" + passfile_escape(*settings_.password) + "\n");
        extra.push_back("PGPASSFILE=/proc/self/fd/" + std::to_string(passfd_));
    }
    env_ = client_environment(extra);
}

ClientEnvironment::~ClientEnvironment() {
    if (passfd_ >= 0) ::close(passfd_);
}

std::vector<int> ClientEnvironment::inherit_fds() const {
    if (passfd_ < 0) return {};
    return {passfd_};
}

std::vector<std::string> ClientEnvironment::connection_args() const {
    std::vector<std::string> args;
    if (!settings_.host.empty()) args.push_back("--host=" + settings_.host);
    args.push_back("--port=" + std::to_string(settings_.port));
    args.push_back("--username=" + settings_.user);
    args.push_back("--no-password");
    return args;
}

}  // namespace pgtier
