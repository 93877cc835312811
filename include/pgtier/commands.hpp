#pragma once
#include <string>
#include <vector>

#include "pgtier/backup_type.hpp"
#include "pgtier/config.hpp"
#include "pgtier/errors.hpp"
#include "pgtier/selection.hpp"

// One function per subcommand; each returns the process exit code.
namespace pgtier::commands {

ExitCode backup(const Config& config, const Environment& env, BackupType type, Force force);

enum class OutputFormat { text, json };
ExitCode list(const Config& config, OutputFormat format);

ExitCode verify(const Config& config, const std::vector<std::string>& archives);

}  // namespace pgtier::commands
