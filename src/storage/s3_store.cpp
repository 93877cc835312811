#include "pgtier/storage/s3_store.hpp"

#include <algorithm>

#include "pgtier/core/errors.hpp"
#include "pgtier/storage/directory.hpp"

namespace pgtier {

namespace {

// One archive object, read by ranged GETs; its size is known from the HEAD that opened it.
class S3Source final : public ArchiveSource {
  public:
    S3Source(std::shared_ptr<S3Client> client, std::string key, std::string name, std::string where,
             std::uint64_t size)
        : client_(std::move(client)),
          key_(std::move(key)),
          name_(std::move(name)),
          where_(std::move(where)),
          size_(size) {}

    const std::string& name() const override { return name_; }
    const std::string& describe() const override { return where_; }
    std::uint64_t size() const override { return size_; }

    void read(std::uint64_t offset, std::uint64_t length, const std::string& what,
              const ByteSink& sink) const override {
        if (length == 0) return;
        if (offset > size_ || length > size_ - offset) {
            throw Error(where_ + " is truncated: " + what + " should end at byte " +
                        std::to_string(offset + length) + ", the object ends at " +
                        std::to_string(size_));
        }
        client_->get_range(key_, offset, length, sink);
    }

  private:
    std::shared_ptr<S3Client> client_;
    std::string key_;
    std::string name_;
    std::string where_;
    std::uint64_t size_;
};

void require_plain(std::string_view name, const std::string& where) {
    if (!is_plain_entry_name(name))
        throw Error("refusing \"" + std::string(name) + "\" in " + where + ": not a plain name");
}

}  // namespace

S3Store::S3Store(S3Location location, S3Credentials credentials, S3Tuning tuning)
    : client_(std::make_shared<S3Client>(std::move(location), std::move(credentials), tuning)) {}

std::string S3Store::describe() const {
    return client_->location().describe();
}

std::string S3Store::describe(BackupType tier, std::string_view name) const {
    const auto& loc = client_->location();
    return "s3://" + loc.bucket + "/" + (loc.prefix.empty() ? "" : loc.prefix + "/") +
           key(tier, name);
}

std::string S3Store::key(BackupType tier, std::string_view name) const {
    return std::string(to_string(tier)) + "/" + std::string(name);
}

std::vector<StoredFile> S3Store::list(BackupType tier) const {
    const std::string folder = std::string(to_string(tier)) + "/";
    std::vector<StoredFile> files;
    for (auto& object : client_->list(folder)) {
        if (object.key.rfind(folder, 0) != 0) continue;
        std::string name = object.key.substr(folder.size());
        if (!is_plain_entry_name(name)) continue;  // deeper keys are not pgtier's
        files.push_back({std::move(name), object.size});
    }
    std::sort(files.begin(), files.end(),
              [](const StoredFile& a, const StoredFile& b) { return a.name < b.name; });
    return files;
}

std::optional<std::string> S3Store::read_small(BackupType tier, std::string_view name) const {
    require_plain(name, describe());
    try {
        return client_->get(key(tier, name));
    } catch (const S3Error& err) {
        if (err.http_status() == 404 && err.code() != "NoSuchBucket") return std::nullopt;
        throw;
    }
}

std::shared_ptr<const ArchiveSource> S3Store::open(BackupType tier, std::string_view name) const {
    require_plain(name, describe());
    const auto object = client_->head(key(tier, name));
    if (!object) throw Error("no object " + describe(tier, name) + " in " + describe());
    return std::make_shared<S3Source>(client_, key(tier, name), std::string(name),
                                      describe(tier, name), object->size);
}

void S3Store::put_file(BackupType tier, std::string_view name, int fd, std::uint64_t size) const {
    upload_file(tier, name, fd, size);
}

S3Upload S3Store::upload_file(BackupType tier, std::string_view name, int fd,
                              std::uint64_t size) const {
    require_plain(name, describe());
    return client_->put_file(key(tier, name), fd, size);
}

std::optional<std::string> S3Store::etag(BackupType tier, std::string_view name) const {
    require_plain(name, describe());
    const auto object = client_->head(key(tier, name));
    if (!object) return std::nullopt;
    return object->etag;
}

void S3Store::put_small(BackupType tier, std::string_view name, const std::string& content) const {
    require_plain(name, describe());
    client_->put(key(tier, name), content);
}

bool S3Store::remove(BackupType tier, std::string_view name) const {
    require_plain(name, describe());
    client_->remove(key(tier, name));
    return true;
}

}  // namespace pgtier
