#pragma once
#include <filesystem>
#include <memory>

#include "pgtier/storage/archive_store.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

// The backup directory as an ArchiveStore: <dir>/<tier>/<name>, every entry opened through a
// Directory (no symbolic link followed). A missing directory or tier folder lists as empty.
class LocalStore final : public ArchiveStore {
  public:
    explicit LocalStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

    std::string describe() const override { return dir_.string(); }
    std::string describe(BackupType tier, std::string_view name) const override;
    std::vector<StoredFile> list(BackupType tier) const override;
    std::optional<std::string> read_small(BackupType tier, std::string_view name) const override;
    std::shared_ptr<const ArchiveSource> open(BackupType tier,
                                              std::string_view name) const override;
    // The same, as the file itself (uploads read it by descriptor).
    std::shared_ptr<const class FileSource> open_file(BackupType tier, std::string_view name) const;
    // Through `.NAME.partial` (fsync, rename): what fetch downloads into the directory.
    void put_file(BackupType tier, std::string_view name, int fd,
                  std::uint64_t size) const override;
    void put_small(BackupType tier, std::string_view name,
                   const std::string& content) const override;
    bool remove(BackupType tier, std::string_view name) const override;

  private:
    std::filesystem::path dir_;
};

// An archive file opened once, read with pread: the source of everything read from the
// backup directory, or from a path a user named.
class FileSource final : public ArchiveSource {
  public:
    FileSource(UniqueFd fd, std::string name, std::string where);
    // Opens `path` (no symbolic link followed; a regular file only).
    static std::shared_ptr<const FileSource> open_path(const std::filesystem::path& path);

    const std::string& name() const override { return name_; }
    const std::string& describe() const override { return where_; }
    std::uint64_t size() const override;
    int fd() const { return fd_.get(); }
    void read(std::uint64_t offset, std::uint64_t length, const std::string& what,
              const ByteSink& sink) const override;

  private:
    UniqueFd fd_;
    std::string name_;
    std::string where_;
};

// An archive at a path a user named (inside the backup directory or not), with the sidecar and
// manifest beside it; nothing is followed through a symbolic link.
StoredArchive archive_at_path(const std::filesystem::path& path);

}  // namespace pgtier
