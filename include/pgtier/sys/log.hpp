#pragma once
#include <spdlog/spdlog.h>

#include <string>

namespace pgtier {

enum class LogTarget { standard_output, standard_error };

// Sets up the default spdlog logger: one line per event, level by name
// (trace, debug, info, warn, error, critical, off).
void init_logging(const std::string& level, LogTarget target);

bool is_valid_log_level(const std::string& level);

// A message on one line (" | " for its line breaks), so that a log record stays one line.
std::string one_line(std::string text);

// A command's result line ("full: wrote …", a restore plan): on stdout for the one-shot
// commands; in the daemon, whose stdout is its log, an info record instead.
void report(const std::string& line);
void set_reports_to_log(bool to_log);

}  // namespace pgtier
