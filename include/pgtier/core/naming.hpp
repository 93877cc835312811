#pragma once
#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/compression.hpp"
#include "pgtier/core/errors.hpp"

namespace pgtier {

// "20261123_090000_full.sql.bz2" (".sql.zst" for zstd, then ".age" when encrypted); collision > 0
// gives "20261123_090000-2_full.sql.bz2" so two archives in one second get distinct names that
// still end in "_<tier>.sql.bz2".
std::string archive_name(BackupType type, const std::tm& local, int collision,
                         CompressionFormat format, bool encrypted = false);

// The four kinds of archive file: either compression, plain or in an age file (".age").
struct ArchiveVariant {
    CompressionFormat format;
    bool encrypted;
};
inline constexpr ArchiveVariant all_archive_variants[] = {
    {CompressionFormat::bzip2, false},
    {CompressionFormat::zstd, false},
    {CompressionFormat::bzip2, true},
    {CompressionFormat::zstd, true},
};
inline constexpr std::string_view encrypted_extension = ".age";
// Whether a file is an age file, by its name (ends in ".age").
bool archive_encrypted(std::string_view file_name);

std::string sidecar_name(const std::string& archive);   // NAME.sha256
std::string manifest_name(const std::string& archive);  // NAME.json
std::string partial_name(const std::string& archive);   // .NAME.partial
// ".NAME.section-INDEX.partial": section INDEX (its place in the archive) of a parallel backup,
// compressed apart until it is appended to .NAME.partial. Partial too: the sweep removes it.
std::string spool_name(const std::string& archive, std::size_t index);
// latest_<tier>.sql.bz2 / latest_<tier>.sql.zst (+ ".age"): the link to the newest archive of a
// tier has that archive's extension (only one of the variants exists at a time).
std::string latest_link_name(BackupType type, CompressionFormat format, bool encrypted = false);

// True only for names archive_name() makes for `type`, in any variant:
// YYYYMMDD_HHMMSS[-N]_<tier>.sql.bz2 or .sql.zst, either optionally followed by .age.
bool looks_like_archive(const std::string& file_name, BackupType type);
// True only for names spool_name() makes for an archive of `type`.
bool looks_like_spool(const std::string& file_name, BackupType type);

// How a file is compressed, by its name: zstd when it ends in ".zst" (or ".zst.age"), else bzip2
// (also for files a user names that are not of pgtier's pattern).
CompressionFormat archive_format(std::string_view file_name);

// A name pgtier cannot restore a database into; the message is the reason alone ("the
// database name is empty"), for the caller to phrase.
class BadDatabaseName : public Error {
  public:
    using Error::Error;
};

// Throws BadDatabaseName when `name` cannot be a database pgtier restores into: empty, over
// PostgreSQL's 63 bytes, holding a NUL, CR or LF (pg_dump refuses such names, so the database
// could never be backed up again), or of the form of pgtier's own work databases.
void check_database_name(const std::string& name);

// Whether a database's section starts with CREATE DATABASE (pg_dump --create): all but template1
// and postgres, which exist in every cluster and are loaded into (as pg_dumpall does).
bool dump_creates_database(const std::string& database);

// The private database a restore loads into before renaming it: "pgtier_restore_<pid>_<n>".
// The one definition of that pattern; backups leave such databases out.
std::string work_database_name(long pid, int n);
// The pid in a work database name; nullopt for any other name.
std::optional<long> work_database_pid(std::string_view name);
// Where a restore moves the database it replaces until the new one is in place:
// "pgtier_replaced_<pid>_<n>"; and the pid in such a name.
std::string replaced_database_name(long pid, int n);
std::optional<long> replaced_database_pid(std::string_view name);
// A PostgreSQL regular expression matching exactly the work database names.
std::string work_database_regex();
// What the psql sessions of process `pid` are named: "pgtier-restore-<pid>" (each psql's own
// name starts with it, below).
std::string restore_application_name(long pid);
// The application_name of one psql of process `pid`: "pgtier-restore-<pid>-<n>", unique per
// restore in the process, so that ending one restore's session (a failed database of a parallel
// restore) leaves the others running.
std::string restore_application_name(long pid, int n);

}  // namespace pgtier
