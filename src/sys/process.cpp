#include "pgtier/sys/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pgtier/core/errors.hpp"

extern char** environ;

namespace pgtier {

namespace {

constexpr std::size_t max_stderr = 64 * 1024;

// PATH lookup before fork: the child must only call async-signal-safe functions.
std::string find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        // An empty entry is the current directory. Built as a path, not with "." and "/" +
        // name: GCC 12 at -O3 reports a false -Wrestrict there (GCC bug 105329).
        const std::filesystem::path dir = end > start ? dirs.substr(start, end - start) : ".";
        std::string candidate = (dir / name).string();
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    throw Error(name + ": program not found in PATH");
}

std::string_view name_of(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

}  // namespace

Child::Child(const ChildSpec& spec) {
    if (spec.argv.empty()) throw Error("internal: empty argument vector");
    program_ = spec.argv[0];
    const std::string path = find_program(spec.argv[0]);

    std::vector<char*> argv;
    for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    // Of two entries with one name the later wins: getenv would return the first.
    std::vector<char*> envp;
    for (std::size_t i = 0; i < spec.env.size(); ++i) {
        const auto name = name_of(spec.env[i]);
        const bool overridden =
            std::any_of(spec.env.begin() + static_cast<std::ptrdiff_t>(i) + 1, spec.env.end(),
                        [&](const std::string& later) { return name_of(later) == name; });
        if (!overridden) envp.push_back(const_cast<char*>(spec.env[i].c_str()));
    }
    envp.push_back(nullptr);

    int out[2], err[2], in[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0) throw Error("pipe: " + errno_text(errno));
    if (pipe2(err, O_CLOEXEC) != 0 || (spec.pipe_stdin && pipe2(in, O_CLOEXEC) != 0)) {
        const int saved = errno;
        for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1]})
            if (fd >= 0) ::close(fd);
        throw Error("pipe: " + errno_text(saved));
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
        const int saved = errno;
        for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1]})
            if (fd >= 0) ::close(fd);
        throw Error("fork: " + errno_text(saved));
    }
    if (pid_ == 0) {
        // A dump must not outlive pgtier, even after kill -9 of pgtier.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        if (in[0] >= 0) {
            dup2(in[0], STDIN_FILENO);
        } else {
            int devnull = open("/dev/null", O_RDONLY);
            if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        }
        signal(SIGPIPE, SIG_DFL);
        for (int fd : spec.inherit_fds) fcntl(fd, F_SETFD, 0);
        execve(path.c_str(), argv.data(), envp.data());
        const char msg[] = "exec failed\n";
        [[maybe_unused]] auto ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (in[0] >= 0) ::close(in[0]);
    stdin_fd_ = in[1];
    // Non-blocking, so write_stdin never blocks while the child waits for us to read.
    if (stdin_fd_ >= 0) fcntl(stdin_fd_, F_SETFL, fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
    stdout_fd_ = out[0];
    stderr_fd_ = err[0];
}

Child::~Child() {
    if (!reaped_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    close_fd(stdin_fd_);
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
}

void Child::drain_stderr() {
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(stderr_fd_, buffer, sizeof buffer);
        if (n > 0) {
            stderr_.append(buffer, static_cast<std::size_t>(n));
            if (stderr_.size() > 2 * max_stderr) stderr_.erase(0, stderr_.size() - max_stderr);
            return;
        }
        if (n < 0 && errno == EINTR) continue;
        close_fd(stderr_fd_);  // end of stderr, or an error: stop watching it
        return;
    }
}

long Child::read_stdout(char* buffer, std::size_t size, int timeout_ms) {
    for (;;) {
        if (stdout_fd_ < 0) return 0;
        pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
        const int count = stderr_fd_ >= 0 ? 2 : 1;
        const int ready = poll(fds, count, timeout_ms);
        if (ready < 0) {
            if (errno == EINTR) return -1;
            throw Error("poll: " + errno_text(errno));
        }
        if (ready == 0) return -1;
        if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) drain_stderr();
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::read(stdout_fd_, buffer, size);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw Error("reading from " + program_ + ": " + errno_text(errno));
            }
            if (n == 0) close_fd(stdout_fd_);
            return n;
        }
    }
}

bool Child::write_stdin(const char* data, std::size_t size, const std::atomic<bool>* stop) {
    char discard[16384];
    while (size > 0) {
        if (stdin_fd_ < 0) return false;
        // The child may be blocked for long (a lock in the server): look at `stop` meanwhile.
        if (stop != nullptr && stop->load()) throw Error("interrupted");
        pollfd fds[3] = {{stdin_fd_, POLLOUT, 0}, {stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
        const int ready = poll(fds, 3, 200);
        if (ready < 0 && errno != EINTR) throw Error("poll: " + errno_text(errno));
        if (ready <= 0) continue;
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) drain_stderr();
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::read(stdout_fd_, discard, sizeof discard);
            if (n == 0 || (n < 0 && errno != EINTR)) close_fd(stdout_fd_);
        }
        if (fds[0].revents & (POLLERR | POLLHUP)) {
            close_fd(stdin_fd_);
            return false;
        }
        if (fds[0].revents & POLLOUT) {
            const ssize_t n = ::write(stdin_fd_, data, size);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                if (errno == EPIPE) {
                    close_fd(stdin_fd_);
                    return false;
                }
                throw Error("writing to " + program_ + ": " + errno_text(errno));
            }
            data += n;
            size -= static_cast<std::size_t>(n);
        }
    }
    return true;
}

void Child::close_stdin() {
    close_fd(stdin_fd_);
}

int Child::wait(const std::atomic<bool>* stop) {
    close_fd(stdin_fd_);
    close_fd(stdout_fd_);
    while (stderr_fd_ >= 0) {
        if (stop != nullptr && stop->load()) kill_now();  // its stderr then ends at once
        pollfd fd{stderr_fd_, POLLIN, 0};
        const int ready = poll(&fd, 1, 200);
        if (ready < 0 && errno != EINTR) throw Error("poll: " + errno_text(errno));
        if (ready > 0) drain_stderr();
    }
    if (!reaped_) {
        while (waitpid(pid_, &status_, 0) < 0) {
            if (errno != EINTR) throw Error("waitpid: " + errno_text(errno));
        }
        reaped_ = true;
    }
    return status_;
}

void Child::kill_now() {
    if (!reaped_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    }
    return "ended with wait status " + std::to_string(status);
}

std::string run_and_capture(const ChildSpec& spec) {
    Child child(spec);
    std::string out;
    char buffer[4096];
    for (;;) {
        const long n = child.read_stdout(buffer, sizeof buffer, 10'000);
        if (n == 0) break;
        if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
    }
    const int status = child.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw Error(spec.argv[0] + " " + describe_wait_status(status) + ": " + child.stderr_text());
    }
    return out;
}

namespace {

// Everything pg_dump, pg_dumpall and psql legitimately read from the environment; nothing else
// of pgtier's is passed on (AWS_*, PGTIER_*, PGPASSWORD and whatever else the operator set):
// - the process basics: PATH, HOME (~/.pgpass, ~/.pg_service.conf, ~/.postgresql/ certificates),
//   LD_LIBRARY_PATH (a PostgreSQL installed outside the loader's path), TZ, and the locale
//   (LANG, LANGUAGE, LC_*: messages and encodings);
// - libpq's connection variables, so that the children connect the way pgtier's own
//   connections do (host, port, user, service, SSL, GSSAPI, timeouts, target session ...),
//   and its session defaults (PGTZ, PGDATESTYLE, PGCLIENTENCODING, PGOPTIONS, PGGEQO) — all but
//   PGPASSWORD, which reaches them only as the unnamed PGPASSFILE (ClientEnvironment);
// - what libpq's GSSAPI and OpenSSL read: KRB5CCNAME, KRB5_CONFIG, KRB5_KTNAME,
//   KRB5_CLIENT_KTNAME, SSL_CERT_FILE and SSL_CERT_DIR (sslrootcert=system), OPENSSL_CONF.
// psql's own variables (PSQLRC, PAGER, PSQL_HISTORY ...) are not needed: it runs with -X, its
// output goes to /dev/null.
constexpr std::string_view client_variables[] = {
    "PATH", "HOME", "LD_LIBRARY_PATH", "TZ", "LANG", "LANGUAGE",
    // libpq (the "Environment Variables" section of its documentation)
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSFILE", "PGSERVICE",
    "PGSERVICEFILE", "PGSYSCONFDIR", "PGLOCALEDIR", "PGOPTIONS", "PGAPPNAME", "PGSSLMODE",
    "PGREQUIRESSL", "PGSSLNEGOTIATION", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY",
    "PGSSLCERTMODE", "PGSSLROOTCERT", "PGSSLCRL", "PGSSLCRLDIR", "PGSSLSNI", "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGMINPROTOCOLVERSION",
    "PGMAXPROTOCOLVERSION", "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB", "PGGSSDELEGATION",
    "PGCONNECT_TIMEOUT", "PGCLIENTENCODING", "PGREQUIREAUTH", "PGCHANNELBINDING",
    "PGTARGETSESSIONATTRS", "PGLOADBALANCEHOSTS", "PGDATESTYLE", "PGTZ", "PGGEQO",
    // GSSAPI and OpenSSL under libpq
    "KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "OPENSSL_CONF"};

}  // namespace

bool is_client_variable(std::string_view name) {
    if (name.rfind("LC_", 0) == 0 && name.size() > 3) return true;
    return std::find(std::begin(client_variables), std::end(client_variables), name) !=
           std::end(client_variables);
}

std::vector<std::string> client_environment(const std::vector<std::string>& inherited,
                                            const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (const auto& entry : inherited) {
        const auto name = name_of(entry);
        if (name.size() == entry.size() || !is_client_variable(name)) continue;
        const bool replaced = std::any_of(extra.begin(), extra.end(),
                                          [&](const std::string& e) { return name_of(e) == name; });
        if (!replaced) env.push_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

std::vector<std::string> client_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> inherited;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
        inherited.emplace_back(*entry);
    return client_environment(inherited, extra);
}

}  // namespace pgtier
