#include "pgtier/pg_client.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "pgtier/errors.hpp"
#include "pgtier/process.hpp"

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

}  // namespace

std::string dbname_conninfo(const std::string& database) {
    std::string out = "dbname='";
    for (char ch : database) {
        if (ch == '\'' || ch == '\\') out.push_back('\\');
        out.push_back(ch);
    }
    return out + "'";
}

ClientEnvironment::ClientEnvironment(const ConnectionSettings& settings) : settings_(settings) {
    std::vector<std::string> extra;
    if (settings_.password) {
        const char* tmpdir = std::getenv("TMPDIR");
        std::string pattern =
            std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/pgtier-pass-XXXXXX";
        const int fd = ::mkstemp(pattern.data());
        if (fd < 0) throw Error("cannot create a temporary password file: " + errno_text(errno));
        passfile_ = pattern;
        ::fchmod(fd, 0600);
        const std::string line = "*:*:*:*:" + passfile_escape(*settings_.password) + "\n";
        const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        ::close(fd);
        if (!ok) {
            ::unlink(passfile_.c_str());
            throw Error("cannot write a temporary password file: " + errno_text(errno));
        }
        extra.push_back("PGPASSFILE=" + passfile_);
    }
    env_ = child_environment({"PGPASSWORD"}, extra);
}

ClientEnvironment::~ClientEnvironment() {
    if (!passfile_.empty()) ::unlink(passfile_.c_str());
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
