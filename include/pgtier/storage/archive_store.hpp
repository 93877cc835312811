#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/manifest.hpp"

namespace pgtier {

using ByteSink = std::function<void(const char* data, std::size_t size)>;

// The bytes of one stored archive, read by range: a file of the backup directory (opened once,
// never through a link) or an object in the bucket (one ranged GET per read). Reads are const
// and may be repeated: a restore reads a section once to check it and once to replay it.
class ArchiveSource {
  public:
    virtual ~ArchiveSource() = default;
    // The archive's file name and where it is, for messages ("/backups/full/X", "s3://b/p/full/X").
    virtual const std::string& name() const = 0;
    virtual const std::string& describe() const = 0;
    virtual std::uint64_t size() const = 0;
    // Passes the bytes [offset, offset + length) to `sink` in order. Throws Error naming `what`
    // when the archive ends before them or cannot be read.
    virtual void read(std::uint64_t offset, std::uint64_t length, const std::string& what,
                      const ByteSink& sink) const = 0;
};

struct StoredFile {
    std::string name;
    std::uint64_t size = 0;
};

// Where archives live, behind one interface: the backup directory (LocalStore) or an S3 bucket
// (S3Store). Every name is a single entry of a tier folder: a store refuses anything else, and
// what it lists is untrusted (the callers act only on names of pgtier's patterns).
class ArchiveStore {
  public:
    virtual ~ArchiveStore() = default;
    virtual std::string describe() const = 0;  // "/backups", "s3://bucket/prefix at ENDPOINT"
    virtual std::string describe(BackupType tier, std::string_view name) const = 0;
    // The plain files of a tier folder (links and other entries are not listed); empty when the
    // folder does not exist.
    virtual std::vector<StoredFile> list(BackupType tier) const = 0;
    // A small file's content (manifest, sidecar); nullopt when it does not exist.
    virtual std::optional<std::string> read_small(BackupType tier, std::string_view name) const = 0;
    // Opens an archive for ranged reads; throws Error when it is missing or cannot be opened.
    virtual std::shared_ptr<const ArchiveSource> open(BackupType tier,
                                                      std::string_view name) const = 0;
    // Stores `size` bytes read from `fd` (from offset 0) under NAME, replacing what is there;
    // nothing incomplete is ever visible under NAME.
    virtual void put_file(BackupType tier, std::string_view name, int fd,
                          std::uint64_t size) const = 0;
    virtual void put_small(BackupType tier, std::string_view name,
                           const std::string& content) const = 0;
    // Removes NAME; false when it was not there.
    virtual bool remove(BackupType tier, std::string_view name) const = 0;
};

enum class ArchiveState {
    complete,          // archive + sidecar + manifest
    missing_sidecar,   // archive + manifest, no sidecar
    missing_manifest,  // an archive without manifest (a crash, or not made by pgtier)
    unreadable_manifest,
    foreign_manifest,  // the manifest names another archive or tier: never acted on
};
std::string_view to_string(ArchiveState state);

struct ArchiveEntry {
    BackupType tier = BackupType::full;
    std::string name;
    std::string location;  // ArchiveStore::describe(tier, name): a path or an s3:// URL
    ArchiveState state = ArchiveState::complete;
    std::optional<Manifest> manifest;
    std::string problem;  // why the manifest could not be used
    std::uint64_t file_size = 0;
};

// Every file of a tier folder whose name is an archive name of pgtier's pattern, judged by its
// sidecar and manifest. A manifest whose name or type disagrees with its file is
// foreign_manifest: everything downstream (retention, restore plans, uploads) trusts a
// manifest's name, so it must be that very file.
std::vector<ArchiveEntry> scan_store(const ArchiveStore& store);

// The manifests of complete archives, oldest first by started_at.
std::vector<Manifest> published_manifests(const std::vector<ArchiveEntry>& entries);

// One archive and the two files beside it (sidecar, manifest), wherever it is: in a store, or
// at a path a user named.
struct StoredArchive {
    std::string name;
    std::string location;  // the archive's path or URL, for messages
    std::function<std::shared_ptr<const ArchiveSource>()> open;
    // A file beside it: its content, nullopt when missing; throws Error when unreadable.
    std::function<std::optional<std::string>(const std::string& file)> read_beside;
    std::function<std::string(const std::string& file)> describe_beside;

    // Its manifest; throws Error when it is missing or invalid.
    Manifest manifest() const;
    // The SHA-256 its sidecar records; throws Error when it is missing or not a sidecar line.
    std::string sidecar_sha256() const;
};
StoredArchive stored_archive(const std::shared_ptr<const ArchiveStore>& store, BackupType tier,
                             std::string name);

// NAME.deleting: pgtier's record that it decided to delete archive NAME, beside it in the tier
// folder (or bucket). It holds the archive's SHA-256 as a sidecar line; written before the
// first file goes, removed after the last.
std::string deletion_intent_name(const std::string& archive);

// Deletes a complete archive of `store`: the intent, then manifest (from then on it no longer
// counts), archive, sidecar, and the intent last. `sync` (may be empty) runs after the intent is
// written and after the deletions: the backup directory fsyncs the tier folder there. Throws Error
// when NAME is not an archive name of pgtier's or has no manifest of its own to take the
// SHA-256 from.
void delete_archive(const ArchiveStore& store, BackupType tier, const std::string& name,
                    const std::function<void(BackupType)>& sync = {});

// Completes the deletions a kill or a cut connection interrupted: for each NAME.deleting of an
// archive name, the files still there are deleted when they are the archive the intent names
// (its manifest, or without one its sidecar, records the intent's SHA-256); an archive that is
// not (replaced, or a sidecar that disagrees) is left alone with a warning. The intent goes
// either way. Files without an intent (an old script's archive and sidecar) are never touched.
// Logs what it does; returns where each archive whose deletion it completed was.
std::vector<std::string> finish_interrupted_deletions(
    const ArchiveStore& store, const std::function<void(BackupType)>& sync = {});

// The SHA-256 a sidecar (sha256sum format, "HASH  NAME\n") records for archive `name`. Throws
// Error naming `where` when it is not such a line.
std::string parse_sidecar(const std::string& text, const std::string& name,
                          const std::string& where);
std::string sidecar_text(const std::string& sha256, const std::string& name);

}  // namespace pgtier
