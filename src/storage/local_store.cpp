#include "pgtier/storage/local_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "pgtier/core/errors.hpp"
#include "pgtier/storage/directory.hpp"

namespace pgtier {

namespace {

constexpr std::size_t chunk_size = 1 << 20;

std::optional<Directory> existing_tier(const std::filesystem::path& dir, BackupType tier) {
    auto root = Directory::open_existing(dir);
    if (!root) return std::nullopt;
    return root->subdir(to_string(tier));
}

Directory tier_or_create(const std::filesystem::path& dir, BackupType tier) {
    return Directory::open_or_create(dir).subdir_or_create(to_string(tier));
}

}  // namespace

std::string LocalStore::describe(BackupType tier, std::string_view name) const {
    return (dir_ / to_string(tier) / name).string();
}

std::vector<StoredFile> LocalStore::list(BackupType tier) const {
    std::vector<StoredFile> files;
    const auto dir = existing_tier(dir_, tier);
    if (!dir) return files;
    for (auto& name : dir->entries()) {
        if (dir->type_of(name) != EntryType::file) continue;
        const auto size = dir->size_of(name);
        files.push_back({std::move(name), size});
    }
    std::sort(files.begin(), files.end(),
              [](const StoredFile& a, const StoredFile& b) { return a.name < b.name; });
    return files;
}

std::optional<std::string> LocalStore::read_small(BackupType tier, std::string_view name) const {
    const auto dir = existing_tier(dir_, tier);
    if (!dir) return std::nullopt;
    return dir->read(name);
}

std::shared_ptr<const ArchiveSource> LocalStore::open(BackupType tier,
                                                      std::string_view name) const {
    return open_file(tier, name);
}

std::shared_ptr<const FileSource> LocalStore::open_file(BackupType tier,
                                                        std::string_view name) const {
    const auto dir = existing_tier(dir_, tier);
    if (!dir) throw Error("cannot open " + describe(tier, name) + ": " + errno_text(ENOENT));
    return std::make_shared<FileSource>(dir->open_for_reading(name), std::string(name),
                                        describe(tier, name));
}

void LocalStore::put_file(BackupType tier, std::string_view name, int fd,
                          std::uint64_t size) const {
    const Directory dir = tier_or_create(dir_, tier);
    // Built by appends: GCC 12's -Wrestrict misfires on "." + std::string(name) + ".partial".
    std::string partial = ".";
    partial.append(name).append(".partial");
    dir.remove_quietly(partial);
    try {
        const UniqueFd out = dir.create_new(partial);
        FileSource in(UniqueFd(::dup(fd)), std::string(name), "the source of " + std::string(name));
        in.read(0, size, "the copy", [&](const char* data, std::size_t n) {
            write_all(out.get(), data, n, dir.path_of(partial).string());
        });
        if (::fsync(out.get()) != 0)
            throw Error("cannot fsync " + dir.path_of(partial).string() + ": " + errno_text(errno));
        dir.rename(partial, name);
    } catch (...) {
        dir.remove_quietly(partial);
        throw;
    }
}

void LocalStore::put_small(BackupType tier, std::string_view name,
                           const std::string& content) const {
    tier_or_create(dir_, tier).write_atomically(name, content);
}

bool LocalStore::remove(BackupType tier, std::string_view name) const {
    const auto dir = existing_tier(dir_, tier);
    return dir && dir->remove(name);
}

StoredArchive archive_at_path(const std::filesystem::path& path) {
    StoredArchive archive;
    archive.name = path.filename().string();
    archive.location = path.string();
    archive.open = [path] { return FileSource::open_path(path); };
    const auto folder = path.parent_path();
    archive.read_beside = [folder](const std::string& file) -> std::optional<std::string> {
        auto read = read_file_no_follow(folder / file);
        if (read.error == ENOENT) return std::nullopt;
        if (!read.ok())
            throw Error("cannot read " + (folder / file).string() + ": " +
                        read_failure_text(folder / file, read.error, max_small_file_size));
        return std::move(read.text);
    };
    archive.describe_beside = [folder](const std::string& file) {
        return (folder / file).string();
    };
    return archive;
}

FileSource::FileSource(UniqueFd fd, std::string name, std::string where)
    : fd_(std::move(fd)), name_(std::move(name)), where_(std::move(where)) {
    if (!fd_) throw Error("cannot open " + where_ + ": " + errno_text(errno));
}

std::shared_ptr<const FileSource> FileSource::open_path(const std::filesystem::path& path) {
    // Never through a link: archives are read from an untrusted directory.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd && errno == ELOOP)
        throw Error(path.string() + ": refusing a symbolic link where an archive should be");
    if (!fd) throw Error(path.string() + ": cannot open: " + errno_text(errno));
    struct stat st = {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        throw Error(path.string() + ": not a regular file");
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return std::make_shared<FileSource>(std::move(fd), path.filename().string(), path.string());
}

std::uint64_t FileSource::size() const {
    struct stat st = {};
    if (::fstat(fd_.get(), &st) != 0) throw Error(where_ + ": cannot stat: " + errno_text(errno));
    return static_cast<std::uint64_t>(st.st_size);
}

void FileSource::read(std::uint64_t offset, std::uint64_t length, const std::string& what,
                      const ByteSink& sink) const {
    ::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length),
                    POSIX_FADV_SEQUENTIAL);
    std::vector<char> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, length)));
    std::uint64_t done = 0;
    while (done < length) {
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
        const ssize_t got =
            ::pread(fd_.get(), buffer.data(), want, static_cast<off_t>(offset + done));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(where_ + ": read error in " + what + ": " + errno_text(errno));
        }
        if (got == 0) {
            throw Error(where_ + " is truncated: " + what + " should end at byte " +
                        std::to_string(offset + length) + ", the file ends at " +
                        std::to_string(offset + done));
        }
        sink(buffer.data(), static_cast<std::size_t>(got));
        done += static_cast<std::uint64_t>(got);
    }
}

}  // namespace pgtier
