#pragma once
#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/backup_type.hpp"
#include "pgtier/clock.hpp"
#include "pgtier/files.hpp"
#include "pgtier/manifest.hpp"

namespace pgtier {

namespace fs = std::filesystem;

enum class ArchiveState {
    complete,          // archive + sidecar + manifest
    missing_sidecar,   // archive + manifest, no sidecar
    missing_manifest,  // an archive without manifest (a crash, or not made by pgtier)
    unreadable_manifest,
};
std::string_view to_string(ArchiveState state);

struct ArchiveEntry {
    BackupType tier = BackupType::full;
    std::string name;
    fs::path path;
    ArchiveState state = ArchiveState::complete;
    std::optional<Manifest> manifest;
    std::string problem;  // why the manifest could not be read
    std::uint64_t file_size = 0;
};

// Holds the advisory lock on <dir>/.pgtier/lock until destroyed.
class RepositoryLock {
  public:
    explicit RepositoryLock(int fd) : fd_(fd) {}
    ~RepositoryLock();
    RepositoryLock(const RepositoryLock&) = delete;
    RepositoryLock& operator=(const RepositoryLock&) = delete;

  private:
    int fd_;
};

// The backup directory: tier folders, published archives, the lock and the crash sweep.
class Repository {
  public:
    explicit Repository(fs::path dir) : dir_(std::move(dir)) {}

    const fs::path& dir() const { return dir_; }
    fs::path tier_dir(BackupType type) const;
    fs::path state_dir() const { return dir_ / ".pgtier"; }

    // Creates the tier folders and .pgtier (0750). Throws Error when it cannot.
    void ensure_layout() const;

    // Takes the advisory lock, waiting (and logging) while another pgtier holds it; a signal
    // that sets *stop ends the wait with an Error.
    std::unique_ptr<RepositoryLock> lock(const std::atomic<bool>* stop = nullptr) const;

    // Whether some process holds the lock now (does not wait, takes nothing).
    bool lock_held() const;

    // Removes what a crash left: .partial files, and an archive (with its sidecar) whose
    // publication was interrupted before its manifest was written. Returns what it removed.
    std::vector<fs::path> sweep() const;

    // Every archive-looking file in the tier folders; no database connection needed.
    std::vector<ArchiveEntry> scan() const;
    // The manifests of complete archives, oldest first by started_at.
    std::vector<Manifest> published_manifests() const;

    // A name for a new archive started at `local`, unused in its tier.
    std::string new_archive_name(BackupType type, const std::tm& local) const;

    // Resolves what a user named: a path, a name in a tier folder, or latest-<tier>.
    std::optional<fs::path> resolve(const std::string& archive) const;

    // Publishes a finished, fsynced partial file under `manifest.name` in the crash-safe order
    // of DESIGN §3: rename, sidecar, manifest, directory fsync, latest link. On failure nothing
    // stays under the final name.
    void publish(const fs::path& partial, const Manifest& manifest) const;

    // Deletes a published archive: manifest, sidecar, then the archive; repoints latest_<tier>
    // to the newest remaining one if it named this one.
    void remove_archive(BackupType type, const std::string& name) const;

  private:
    void point_latest(BackupType type, const std::string& name) const;
    fs::path dir_;
};

// A file being written under its .partial name; removed unless released.
class PartialFile {
  public:
    explicit PartialFile(fs::path path);
    ~PartialFile();
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;

    int fd() const { return fd_; }
    const fs::path& path() const { return path_; }
    // fsync + close; the file stays until release() or destruction.
    void sync_and_close();
    // The caller now owns the file on disk (it was renamed away).
    void release() { released_ = true; }

  private:
    fs::path path_;
    int fd_ = -1;
    bool released_ = false;
};

}  // namespace pgtier
