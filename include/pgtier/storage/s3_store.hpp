#pragma once
#include <atomic>
#include <memory>

#include "pgtier/storage/archive_store.hpp"
#include "pgtier/storage/s3_client.hpp"

namespace pgtier {

// An S3 bucket (and prefix) as an ArchiveStore: <prefix>/<tier>/<name>, the same names and tier
// folders as the backup directory. An archive is read by ranged GETs, so a single-database
// restore transfers only its section's bytes. Keys the listing shows that are not single plain
// names under a tier folder are never listed (a bucket's names are as untrusted as a
// directory's). One client, not thread-safe: one S3Store per thread.
class S3Store final : public ArchiveStore {
  public:
    S3Store(S3Location location, S3Credentials credentials, S3Tuning tuning = {});

    std::string describe() const override;
    std::string describe(BackupType tier, std::string_view name) const override;
    std::vector<StoredFile> list(BackupType tier) const override;
    std::optional<std::string> read_small(BackupType tier, std::string_view name) const override;
    std::shared_ptr<const ArchiveSource> open(BackupType tier,
                                              std::string_view name) const override;
    void put_file(BackupType tier, std::string_view name, int fd,
                  std::uint64_t size) const override;
    void put_small(BackupType tier, std::string_view name,
                   const std::string& content) const override;
    bool remove(BackupType tier, std::string_view name) const override;
    // put_file, returning the SHA-256 of the bytes sent (hashed while they were sent) and the
    // stored object's ETag.
    S3Upload upload_file(BackupType tier, std::string_view name, int fd, std::uint64_t size) const;
    // The ETag of an object; nullopt when there is none.
    std::optional<std::string> etag(BackupType tier, std::string_view name) const;

    S3Client& client() const { return *client_; }

  private:
    std::string key(BackupType tier, std::string_view name) const;
    std::shared_ptr<S3Client> client_;
};

}  // namespace pgtier
