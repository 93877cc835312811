#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace pgtier {

enum class BackupType { full, differential, incremental };
inline constexpr BackupType all_backup_types[] = {BackupType::full, BackupType::differential,
                                                  BackupType::incremental};

// "full", "differential", "incremental" — also the tier directory names.
std::string_view to_string(BackupType type);
// Accepts the long names and "diff" / "incr".
std::optional<BackupType> parse_backup_type(std::string_view text);

enum class SectionKind { globals, database };
std::string_view to_string(SectionKind kind);

}  // namespace pgtier
