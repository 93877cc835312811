#include "pgtier/naming.hpp"

#include <cstdio>

namespace pgtier {

std::string_view to_string(BackupType type) {
    switch (type) {
        case BackupType::full:
            return "full";
        case BackupType::differential:
            return "differential";
        case BackupType::incremental:
            return "incremental";
    }
    return "?";
}

std::optional<BackupType> parse_backup_type(std::string_view text) {
    if (text == "full") return BackupType::full;
    if (text == "differential" || text == "diff") return BackupType::differential;
    if (text == "incremental" || text == "incr") return BackupType::incremental;
    return std::nullopt;
}

std::string_view to_string(SectionKind kind) {
    return kind == SectionKind::globals ? "globals" : "database";
}

std::string archive_name(BackupType type, const std::tm& local, int collision) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%04d%02d%02d_%02d%02d%02d", local.tm_year + 1900,
                  local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
    std::string name = stamp;
    // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict for "x" + std::string
    // (GCC bug 105329), as below.
    if (collision > 0) name.append("-").append(std::to_string(collision + 1));
    return name + "_" + std::string(to_string(type)) + ".sql.bz2";
}

std::string sidecar_name(const std::string& archive) {
    return archive + ".sha256";
}
std::string manifest_name(const std::string& archive) {
    return archive + ".json";
}
std::string partial_name(const std::string& archive) {
    return "." + archive + ".partial";
}

std::string latest_link_name(BackupType type) {
    return "latest_" + std::string(to_string(type)) + ".sql.bz2";
}

bool looks_like_archive(const std::string& file_name, BackupType type) {
    const std::string suffix = std::string("_").append(to_string(type)).append(".sql.bz2");
    return file_name.size() > suffix.size() && file_name.rfind("latest_", 0) != 0 &&
           file_name[0] != '.' &&
           file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace pgtier
