#pragma once
#include <string>
#include <vector>

#include "pgtier/config.hpp"

namespace pgtier {

// What a PostgreSQL client program (pg_dump, pg_dumpall, psql) is started with: connection
// arguments and an environment. The password reaches it only through a 0600 PGPASSFILE that
// lives as long as this object, never through argv or the environment.
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

  private:
    ConnectionSettings settings_;
    std::string passfile_;
    std::vector<std::string> env_;
};

// A libpq conninfo for a database name ("dbname='it\'s'"), quoting-correct for any name.
std::string dbname_conninfo(const std::string& database);

}  // namespace pgtier
