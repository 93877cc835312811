#include "pgtier/core/naming.hpp"

#include <cctype>
#include <charconv>
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

std::string archive_name(BackupType type, const std::tm& local, int collision,
                         CompressionFormat format, bool encrypted) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%04d%02d%02d_%02d%02d%02d", local.tm_year + 1900,
                  local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
    std::string name = stamp;
    // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict for "x" + std::string
    // (GCC bug 105329), as below.
    if (collision > 0) name.append("-").append(std::to_string(collision + 1));
    name.append("_").append(to_string(type)).append(archive_extension(format));
    if (encrypted) name.append(encrypted_extension);
    return name;
}

bool archive_encrypted(std::string_view file_name) {
    return file_name.ends_with(encrypted_extension);
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

std::string spool_name(const std::string& archive, std::size_t index) {
    std::string name = ".";  // by appends: GCC 12 -Wrestrict, as above
    return name.append(archive)
        .append(".section-")
        .append(std::to_string(index))
        .append(".partial");
}

bool looks_like_spool(const std::string& file_name, BackupType type) {
    const std::string_view suffix = ".partial";
    const std::string_view marker = ".section-";
    if (file_name.size() <= 1 + suffix.size() || file_name[0] != '.' ||
        file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0)
        return false;
    const std::string inner = file_name.substr(1, file_name.size() - 1 - suffix.size());
    const auto at = inner.rfind(marker);
    if (at == std::string::npos) return false;
    const std::string index = inner.substr(at + marker.size());
    if (index.empty() || index.size() > 9 ||
        index.find_first_not_of("0123456789") != std::string::npos)
        return false;
    return looks_like_archive(inner.substr(0, at), type);
}

std::string latest_link_name(BackupType type, CompressionFormat format, bool encrypted) {
    std::string name =
        std::string("latest_").append(to_string(type)).append(archive_extension(format));
    if (encrypted) name.append(encrypted_extension);
    return name;
}

CompressionFormat archive_format(std::string_view file_name) {
    if (archive_encrypted(file_name)) file_name.remove_suffix(encrypted_extension.size());
    return file_name.ends_with(".zst") ? CompressionFormat::zstd : CompressionFormat::bzip2;
}

bool looks_like_archive(const std::string& file_name, BackupType type) {
    // Exactly what archive_name() makes: YYYYMMDD_HHMMSS[-N]_<tier>.sql.bz2 (or .sql.zst).
    // Names read from the backup directory (or a manifest, or .pgtier/publishing) are
    // untrusted: only this pattern is ever acted on, so no name can reach outside its tier
    // folder.
    auto digits = [&](std::size_t from, std::size_t count) {
        if (from + count > file_name.size()) return false;
        for (std::size_t i = from; i < from + count; ++i)
            if (file_name[i] < '0' || file_name[i] > '9') return false;
        return true;
    };
    if (!digits(0, 8) || file_name.size() < 15 || file_name[8] != '_' || !digits(9, 6))
        return false;
    std::size_t at = 15;
    if (at < file_name.size() && file_name[at] == '-') {
        const std::size_t start = ++at;
        while (at < file_name.size() && at - start < 6 && digits(at, 1)) ++at;
        if (at == start) return false;
    }
    for (auto variant : all_archive_variants) {
        std::string suffix =
            std::string("_").append(to_string(type)).append(archive_extension(variant.format));
        if (variant.encrypted) suffix.append(encrypted_extension);
        if (file_name.compare(at, std::string::npos, suffix) == 0) return true;
    }
    return false;
}

void check_database_name(const std::string& name) {
    if (name.empty()) throw BadDatabaseName("the database name is empty");
    if (name.size() > 63) {
        throw BadDatabaseName("the database name is " + std::to_string(name.size()) +
                              " bytes long; PostgreSQL's limit is 63");
    }
    if (name.find_first_of(std::string("\0\r\n", 3)) != std::string::npos) {
        throw BadDatabaseName(
            "the database name holds a NUL, carriage return or line feed (pg_dump could never "
            "dump it)");
    }
    if (work_database_pid(name) || replaced_database_pid(name)) {
        throw BadDatabaseName(
            "names of the form pgtier_restore_<pid>_<n> and pgtier_replaced_<pid>_<n> are "
            "pgtier's own work databases during a restore; choose another name");
    }
}

namespace {
constexpr std::string_view work_prefix = "pgtier_restore_";
constexpr std::string_view replaced_prefix = "pgtier_replaced_";

bool all_digits(std::string_view text) {
    if (text.empty()) return false;
    for (char ch : text) {
        if (std::isdigit(static_cast<unsigned char>(ch)) == 0) return false;
    }
    return true;
}

// The pid in "<prefix><pid>_<n>"; nullopt for any other name.
std::optional<long> pid_in_name(std::string_view prefix, std::string_view name) {
    if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
    name.remove_prefix(prefix.size());
    const auto underscore = name.find('_');
    if (underscore == std::string_view::npos) return std::nullopt;
    const auto digits = name.substr(0, underscore);
    if (!all_digits(digits) || !all_digits(name.substr(underscore + 1))) return std::nullopt;
    long pid = 0;
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (err != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return pid;
}
}  // namespace

bool dump_creates_database(const std::string& database) {
    return database != "template1" && database != "postgres";
}

std::string work_database_name(long pid, int n) {
    return std::string(work_prefix) + std::to_string(pid) + "_" + std::to_string(n);
}

std::optional<long> work_database_pid(std::string_view name) {
    return pid_in_name(work_prefix, name);
}

std::string replaced_database_name(long pid, int n) {
    return std::string(replaced_prefix) + std::to_string(pid) + "_" + std::to_string(n);
}

std::optional<long> replaced_database_pid(std::string_view name) {
    return pid_in_name(replaced_prefix, name);
}

std::string work_database_regex() {
    return "^" + std::string(work_prefix) + "[0-9]+_[0-9]+$";
}

std::string restore_application_name(long pid) {
    return "pgtier-restore-" + std::to_string(pid);
}

std::string restore_application_name(long pid, int n) {
    return restore_application_name(pid) + "-" + std::to_string(n);
}

}  // namespace pgtier
