#pragma once
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <string>

namespace pgtier {

enum class LogTarget { standard_output, standard_error };

// Sets up the default spdlog logger: one line per event, level by name
// (trace, debug, info, warn, error, critical, off).
void init_logging(const std::string& level, LogTarget target);

bool is_valid_log_level(const std::string& level);

// A message on one line (" | " for its line breaks, other control characters escaped as by
// printable), so that a log record stays one line and sends no terminal escape.
std::string one_line(std::string text);

// A command's result line ("full: wrote …", a restore plan) on stdout, flushed. The daemon,
// whose stdout is its log, logs such lines instead.
void print_line(const std::string& line);

// The pace of the progress lines of a long dump or restore: one every 5 seconds.
class ProgressLog {
  public:
    ProgressLog();
    // When a line is due (5 s since the start or the last one), the seconds since the start,
    // and this counts as the last line; nullopt otherwise.
    std::optional<double> due();

  private:
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace pgtier
