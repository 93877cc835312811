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

// errno as text, for messages.
std::string errno_text(int err);

}  // namespace pgtier
