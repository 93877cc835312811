#pragma once
#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/compression.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/storage/archive_store.hpp"
#include "pgtier/storage/directory.hpp"
#include "pgtier/sys/clock.hpp"

namespace pgtier {

namespace fs = std::filesystem;

// Holds the advisory lock on <dir>/.pgtier/lock until destroyed (closing releases the flock).
class RepositoryLock {
  public:
    explicit RepositoryLock(UniqueFd fd) : fd_(std::move(fd)) {}

  private:
    UniqueFd fd_;
};

// A file being written under its .partial name in a tier folder; removed unless published.
class PartialFile {
  public:
    PartialFile(Directory dir, std::string name);
    ~PartialFile();
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;

    int fd() const { return fd_.get(); }
    fs::path path() const { return dir_.path_of(name_); }
    // fsync + close; the file stays until it is published or destroyed.
    void sync_and_close();

  private:
    friend class Repository;
    Directory dir_;
    std::string name_;
    UniqueFd fd_;
    bool released_ = false;
};

// One section of a parallel backup, compressed apart under its spool_name() in the tier folder
// until it is appended to the archive; removed when destroyed (the sweep removes one that a
// crash left).
class SpoolFile {
  public:
    SpoolFile(Directory dir, std::string name);
    ~SpoolFile();
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;

    // For writing, until close().
    int fd() const { return fd_.get(); }
    fs::path path() const { return dir_.path_of(name_); }
    // No fsync: a spool never outlives its run.
    void close();
    // Opens it again to append it, never through a link.
    UniqueFd open_for_reading() const { return dir_.open_for_reading(name_); }

  private:
    Directory dir_;
    std::string name_;
    UniqueFd fd_;
};

// The backup directory: tier folders, published archives, pgtier's state files, the lock and
// the crash sweep. Its contents are untrusted (docs/design.md, Trust boundaries; README,
// "Security model"): every write, rename and delete goes through a Directory (no symbolic link is
// followed), and only names of pgtier's own patterns are ever acted on.
class Repository {
  public:
    explicit Repository(fs::path dir) : dir_(std::move(dir)) {}

    const fs::path& dir() const { return dir_; }
    fs::path tier_dir(BackupType type) const;
    fs::path state_dir() const { return dir_ / ".pgtier"; }

    // Throws Error when the backup directory does not exist: every command but backup and the
    // daemon needs it (a verify job on a wrong mount must fail, not find "no archives").
    void require_exists() const;

    // Creates the directory, the tier folders and .pgtier (0750) where missing. Throws Error
    // when it cannot, or when one of them is a symbolic link.
    void ensure_layout() const;

    // Takes the advisory lock, waiting (and logging) while another pgtier holds it; a signal
    // that sets *stop ends the wait with an Error.
    std::unique_ptr<RepositoryLock> lock(const std::atomic<bool>* stop = nullptr) const;

    // Whether some process holds the lock now (does not wait, takes nothing).
    bool lock_held() const;

    // pgtier's own files in .pgtier/ (status.json, metrics.prom, restoring): read (nullopt
    // when missing or .pgtier is missing), written atomically, removed.
    std::optional<std::string> read_state_file(std::string_view name) const;
    void write_state_file(std::string_view name, const std::string& content) const;
    void remove_state_file(std::string_view name) const;

    // Removes what a crash left: .partial and temporary files of pgtier's names, an archive
    // (with its sidecar) whose publication was interrupted before its manifest was written, and
    // what an interrupted deletion left (finish_interrupted_deletions, which logs it).
    // Returns what it removed.
    std::vector<fs::path> sweep() const;
    // sweep(), with a warning logged for each thing removed (what backup and the daemon do
    // under the lock before a run).
    void sweep_and_log() const;

    // The directory as an ArchiveStore (what readers and uploads go through).
    std::shared_ptr<const ArchiveStore> store() const;
    // Every archive-looking file in the tier folders (scan_store); no database connection.
    std::vector<ArchiveEntry> scan() const;
    // The manifests of complete archives, oldest first by started_at. A manifest's name and
    // type always match its archive's file name and tier folder (scan() checks).
    std::vector<Manifest> published_manifests() const;

    // A name for a new archive started at `local` in `format` (an age file when `encrypted`),
    // its time stamp unused in its tier (in any variant).
    std::string new_archive_name(BackupType type, const std::tm& local, CompressionFormat format,
                                 bool encrypted = false) const;

    // Starts writing a new archive under its .partial name in the tier folder.
    PartialFile create_partial(BackupType type, const std::string& name) const;
    // Starts writing section `index` (archive order) of archive `name` apart (parallel backup).
    std::unique_ptr<SpoolFile> create_spool(BackupType type, const std::string& name,
                                            std::size_t index) const;

    // Resolves what a user named: a path, a name in a tier folder, or latest-<tier>. A link
    // (latest_full.sql.bz2) is resolved one level, to an archive in the same folder. Throws
    // Error when the name leads somewhere pgtier will not go, or latest-<tier> finds only
    // broken archives.
    std::optional<fs::path> resolve(const std::string& archive) const;

    // Publishes a finished, fsynced partial file under `manifest.name` in the crash-safe order
    // of docs/design.md, Publishing: rename, sidecar, manifest, directory fsync, latest link. On
    // failure nothing stays under the final name.
    void publish(PartialFile& partial, const Manifest& manifest) const;

    // Deletes a published archive (delete_archive: an intent file NAME.deleting, manifest,
    // archive, sidecar, intent); repoints latest_<tier> to the newest remaining one if it named
    // this one. `name` must be an archive name of pgtier's for that tier.
    void remove_archive(BackupType type, const std::string& name) const;
    // Completes the deletions a kill interrupted (finish_interrupted_deletions); under the lock.
    // sweep() does it too.
    void finish_interrupted_deletions() const;

    // Points latest_<tier> at the newest published archive of the tier (removes it when there
    // is none): after a fetch of an older archive, or a deletion. The link has the archive's
    // extension (latest_full.sql.bz2 or latest_full.sql.zst); the other one is removed.
    void point_latest_to_newest(BackupType type) const;

  private:
    Directory root() const;
    Directory tier(BackupType type) const;
    std::optional<Directory> existing_tier(BackupType type) const;
    std::optional<Directory> existing_state() const;
    void point_latest(const Directory& dir, BackupType type, const std::string& name) const;
    fs::path dir_;
};

}  // namespace pgtier
