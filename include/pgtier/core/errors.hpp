#pragma once
#include <stdexcept>
#include <string>

namespace pgtier {

// Process exit codes, shared by every command.
enum class ExitCode : int { ok = 0, failure = 1, usage = 2 };

// A failure the user can act on; the message is shown as is.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Bad configuration or usage: exit code 2.
class ConfigError : public Error {
  public:
    using Error::Error;
};

// A command line that cannot be carried out as given (a time that does not parse, one before
// every archive): exit code 2 like a configuration error, but main() labels it "error".
class UsageError : public ConfigError {
  public:
    using ConfigError::ConfigError;
};

// A PostgreSQL version pgtier will not work with: a pg_dump older than the server, an archive
// dumped from a newer major than the server it is restored into. Nothing is wrong with the
// configuration (the message says what to install or where to restore), so main() labels it
// "version mismatch"; like a configuration error it ends the command before any work, with
// exit code 2.
class VersionError : public ConfigError {
  public:
    using ConfigError::ConfigError;
};

// errno as text, for messages.
std::string errno_text(int err);

}  // namespace pgtier
