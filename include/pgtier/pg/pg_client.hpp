#pragma once
#include <string>
#include <vector>

#include "pgtier/core/sql_filter.hpp"  // dbname_conninfo
#include "pgtier/sys/config.hpp"

namespace pgtier {

// What a PostgreSQL client program (pg_dump, pg_dumpall, psql) is started with: connection
// arguments and an environment. The password reaches it only through a PGPASSFILE that is a
// file descriptor (memfd, else an unnamed O_TMPFILE) the child inherits, named
// /proc/self/fd/N: never argv or the environment, and no file under any name, so nothing is
// left behind even after kill -9 of pgtier.
class ClientEnvironment {
  public:
    explicit ClientEnvironment(const ConnectionSettings& settings);
    ~ClientEnvironment();
    ClientEnvironment(const ClientEnvironment&) = delete;
    ClientEnvironment& operator=(const ClientEnvironment&) = delete;

    // --host/--port/--username/--no-password
    std::vector<std::string> connection_args() const;
    const std::vector<std::string>& env() const { return env_; }
    const ConnectionSettings& settings() const { return settings_; }
    // What a child must inherit (ChildSpec::inherit_fds) for PGPASSFILE to be readable.
    std::vector<int> inherit_fds() const;

  private:
    ConnectionSettings settings_;
    int passfd_ = -1;
    std::vector<std::string> env_;
};

}  // namespace pgtier
