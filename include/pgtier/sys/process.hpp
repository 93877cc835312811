#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pgtier {

struct ChildSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in PATH; never run through a shell
    // Complete environment, "KEY=VALUE"; of two entries with one name, the later one is used.
    std::vector<std::string> env;
    bool pipe_stdin = false;  // else stdin is /dev/null
    // Close-on-exec descriptors (3 or more) the child inherits under the same numbers.
    std::vector<int> inherit_fds = {};
};

// A running child process with its stdout and stderr on pipes. The destructor kills
// (SIGKILL) and reaps a child that is still running, so no child outlives its owner.
class Child {
  public:
    explicit Child(const ChildSpec& spec);
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Reads up to `size` bytes of stdout, collecting stderr meanwhile. Returns 0 at end of
    // stdout. Waits at most `timeout_ms` (returns -1 when nothing arrived in that time).
    long read_stdout(char* buffer, std::size_t size, int timeout_ms);
    // Writes all of `data` to the child's stdin (pipe_stdin), reading its stdout (discarded)
    // and stderr meanwhile so that neither side blocks. Returns false when the child closed
    // its stdin (it exited). Throws Error("interrupted") once *stop is set.
    bool write_stdin(const char* data, std::size_t size, const std::atomic<bool>* stop = nullptr);
    void close_stdin();
    // Waits for exit (after stdout's end); returns the wait status. Kills the child once
    // *stop is set.
    int wait(const std::atomic<bool>* stop = nullptr);
    void kill_now();
    pid_t pid() const { return pid_; }
    // What the child wrote on stderr (the last 64 KiB).
    const std::string& stderr_text() const { return stderr_; }
    const std::string& program() const { return program_; }

  private:
    void drain_stderr();
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1;
    bool reaped_ = false;
    int status_ = 0;
    std::string stderr_;
    std::string program_;
};

// "exited with status 1" / "killed by signal 9".
std::string describe_wait_status(int status);

// Runs a command to completion and returns its stdout; throws Error on failure.
std::string run_and_capture(const ChildSpec& spec);

// Whether a PostgreSQL client program (pg_dump, pg_dumpall, psql) may inherit the variable
// `name` from pgtier: an allow-list (see process.cpp), so that secrets meant for pgtier alone
// (S3 credentials, PGPASSWORD, PGTIER_*) never reach a child.
bool is_client_variable(std::string_view name);

// The entries ("KEY=VALUE") of `inherited` that is_client_variable allows, then `extra`
// (which replaces an inherited entry of the same name).
std::vector<std::string> client_environment(const std::vector<std::string>& inherited,
                                            const std::vector<std::string>& extra);

// client_environment of pgtier's own environment.
std::vector<std::string> client_environment(const std::vector<std::string>& extra);

}  // namespace pgtier
