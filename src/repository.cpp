#include "pgtier/repository.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "pgtier/errors.hpp"
#include "pgtier/files.hpp"
#include "pgtier/log.hpp"
#include "pgtier/naming.hpp"

namespace pgtier {

namespace {

constexpr BackupType all_tiers[] = {BackupType::full, BackupType::differential,
                                    BackupType::incremental};
constexpr mode_t file_mode = 0640;
constexpr mode_t dir_mode = 0750;

void remove_quietly(const fs::path& path) {
    std::error_code ec;
    fs::remove(path, ec);
}

bool exists_no_follow(const fs::path& path) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(path, ec));
}

const fs::path intent_file_name = "publishing";

}  // namespace

std::string_view to_string(ArchiveState state) {
    switch (state) {
        case ArchiveState::complete:
            return "complete";
        case ArchiveState::missing_sidecar:
            return "incomplete: no .sha256 sidecar";
        case ArchiveState::missing_manifest:
            return "incomplete: no .json manifest";
        case ArchiveState::unreadable_manifest:
            return "incomplete: unreadable manifest";
    }
    return "?";
}

PartialFile::PartialFile(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
    if (fd_ < 0) throw Error("cannot create " + path_.string() + ": " + errno_text(errno));
    ::fchmod(fd_, file_mode);
}

PartialFile::~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) remove_quietly(path_);
}

void PartialFile::sync_and_close() {
    if (::fsync(fd_) != 0) throw Error("cannot fsync " + path_.string() + ": " + errno_text(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw Error("cannot write " + path_.string() + ": " + errno_text(errno));
}

RepositoryLock::~RepositoryLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

fs::path Repository::tier_dir(BackupType type) const {
    return dir_ / std::string(to_string(type));
}

void Repository::ensure_layout() const {
    std::vector<fs::path> dirs = {dir_, state_dir()};
    for (auto tier : all_tiers) dirs.push_back(tier_dir(tier));
    for (const auto& dir : dirs) {
        if (::mkdir(dir.c_str(), dir_mode) != 0 && errno != EEXIST) {
            throw Error("cannot create backup directory " + dir.string() + ": " +
                        errno_text(errno));
        }
        if (::access(dir.c_str(), W_OK | X_OK) != 0) {
            throw Error("backup directory " + dir.string() +
                        " is not writable: " + errno_text(errno));
        }
    }
}

std::unique_ptr<RepositoryLock> Repository::lock(const std::atomic<bool>* stop) const {
    const fs::path path = state_dir() / "lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, file_mode);
    if (fd < 0) throw Error("cannot open lock file " + path.string() + ": " + errno_text(errno));
    auto guard = std::make_unique<RepositoryLock>(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            throw Error("cannot lock " + path.string() + ": " + errno_text(errno));
        }
        std::string holder = read_file(path).value_or("");
        while (!holder.empty() && holder.back() == '\n') holder.pop_back();
        spdlog::info("waiting for lock {} held by another pgtier ({})", path.string(),
                     holder.empty() ? "pid unknown" : "pid " + holder);
        while (::flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR)
                throw Error("cannot lock " + path.string() + ": " + errno_text(errno));
            if (stop != nullptr && stop->load())
                throw Error("interrupted while waiting for the lock " + path.string());
        }
        spdlog::info("lock acquired");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    return guard;
}

bool Repository::lock_held() const {
    const int fd = ::open((state_dir() / "lock").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);  // releases the shared lock if it was granted
    return held;
}

std::vector<fs::path> Repository::sweep() const {
    std::vector<fs::path> removed;
    // An interrupted publication: the archive may be under its final name without a manifest.
    const fs::path intent = state_dir() / intent_file_name;
    if (exists_no_follow(intent)) {
        std::string target = read_file(intent).value_or("");
        while (!target.empty() && target.back() == '\n') target.pop_back();
        const fs::path archive = dir_ / target;
        if (!target.empty() && target.find("..") == std::string::npos &&
            !exists_no_follow(archive.parent_path() / manifest_name(archive.filename().string()))) {
            for (const auto& path :
                 {archive, archive.parent_path() / sidecar_name(archive.filename().string())}) {
                if (exists_no_follow(path)) {
                    remove_quietly(path);
                    removed.push_back(path);
                }
            }
        }
        remove_quietly(intent);
    }
    for (auto tier : all_tiers) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(tier_dir(tier), ec)) {
            const std::string name = entry.path().filename().string();
            const bool partial = name.size() > 9 && name[0] == '.' &&
                                 name.compare(name.size() - 8, 8, ".partial") == 0;
            const bool temporary =
                name.size() > 5 && name[0] == '.' && name.compare(name.size() - 4, 4, ".tmp") == 0;
            if (partial || temporary) {
                remove_quietly(entry.path());
                removed.push_back(entry.path());
            }
        }
    }
    return removed;
}

std::vector<ArchiveEntry> Repository::scan() const {
    std::vector<ArchiveEntry> entries;
    for (auto tier : all_tiers) {
        std::error_code ec;
        for (const auto& dirent : fs::directory_iterator(tier_dir(tier), ec)) {
            const std::string name = dirent.path().filename().string();
            if (!looks_like_archive(name, tier) || dirent.is_symlink()) continue;
            ArchiveEntry entry;
            entry.tier = tier;
            entry.name = name;
            entry.path = dirent.path();
            entry.file_size = dirent.file_size(ec);
            const fs::path manifest = tier_dir(tier) / manifest_name(name);
            if (!exists_no_follow(manifest)) {
                entry.state = ArchiveState::missing_manifest;
            } else {
                try {
                    entry.manifest = read_manifest(manifest);
                    entry.state = exists_no_follow(tier_dir(tier) / sidecar_name(name))
                                      ? ArchiveState::complete
                                      : ArchiveState::missing_sidecar;
                } catch (const Error& err) {
                    entry.state = ArchiveState::unreadable_manifest;
                    entry.problem = err.what();
                }
            }
            entries.push_back(std::move(entry));
        }
    }
    return entries;
}

std::vector<Manifest> Repository::published_manifests() const {
    std::vector<Manifest> manifests;
    for (auto& entry : scan()) {
        if (entry.state == ArchiveState::complete) manifests.push_back(std::move(*entry.manifest));
    }
    std::stable_sort(manifests.begin(), manifests.end(), [](const Manifest& a, const Manifest& b) {
        return a.started_at < b.started_at;
    });
    return manifests;
}

std::string Repository::new_archive_name(BackupType type, const std::tm& local) const {
    for (int collision = 0;; ++collision) {
        const std::string name = archive_name(type, local, collision);
        const fs::path dir = tier_dir(type);
        if (!exists_no_follow(dir / name) && !exists_no_follow(dir / partial_name(name)) &&
            !exists_no_follow(dir / manifest_name(name))) {
            return name;
        }
    }
}

std::optional<fs::path> Repository::resolve(const std::string& archive) const {
    for (auto tier : all_tiers) {
        if (archive == "latest-" + std::string(to_string(tier))) {
            std::optional<fs::path> newest;
            TimePoint newest_time{};
            for (const auto& entry : scan()) {
                if (entry.tier == tier && entry.state == ArchiveState::complete &&
                    (!newest || entry.manifest->started_at > newest_time)) {
                    newest = entry.path;
                    newest_time = entry.manifest->started_at;
                }
            }
            return newest;
        }
    }
    if (exists_no_follow(archive)) return fs::path(archive);
    for (auto tier : all_tiers) {
        const fs::path candidate = tier_dir(tier) / archive;
        if (exists_no_follow(candidate)) return candidate;
    }
    return std::nullopt;
}

void Repository::publish(const fs::path& partial, const Manifest& manifest) const {
    const fs::path dir = tier_dir(manifest.type);
    const fs::path archive = dir / manifest.name;
    const fs::path sidecar = dir / sidecar_name(manifest.name);
    const fs::path manifest_path = dir / manifest_name(manifest.name);
    const fs::path intent = state_dir() / intent_file_name;

    write_file_atomically(intent,
                          std::string(to_string(manifest.type)) + "/" + manifest.name + "\n");
    try {
        if (::rename(partial.c_str(), archive.c_str()) != 0) {
            throw Error("cannot rename " + partial.string() + " to " + archive.string() + ": " +
                        errno_text(errno));
        }
        write_file_atomically(sidecar, manifest.sha256 + "  " + manifest.name + "\n");
        write_file_atomically(manifest_path, manifest_to_json(manifest));
        fsync_directory(dir);
    } catch (...) {
        // Nothing may stay under the final name: an archive counts only with all three files.
        remove_quietly(manifest_path);
        remove_quietly(sidecar);
        remove_quietly(archive);
        remove_quietly(intent);
        throw;
    }
    remove_quietly(intent);
    point_latest(manifest.type, manifest.name);
}

void Repository::remove_archive(BackupType type, const std::string& name) const {
    const fs::path dir = tier_dir(type);
    // Manifest first: an archive without one no longer counts, whatever happens next.
    for (const auto& file : {manifest_name(name), sidecar_name(name), name}) {
        if (::unlink((dir / file).c_str()) != 0 && errno != ENOENT) {
            throw Error("cannot delete " + (dir / file).string() + ": " + errno_text(errno));
        }
    }
    fsync_directory(dir);
    // Repoint latest_* when it named this archive (the newest is never deleted by retention,
    // but an operator's manual removal goes through here too).
    const fs::path link = dir / latest_link_name(type);
    std::error_code ec;
    if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).filename() == name) {
        std::optional<Manifest> newest;
        for (const auto& m : published_manifests()) {
            if (m.type == type) newest = m;
        }
        if (newest) {
            point_latest(type, newest->name);
        } else {
            remove_quietly(link);
        }
    }
}

void Repository::point_latest(BackupType type, const std::string& name) const {
    const fs::path dir = tier_dir(type);
    const fs::path link = dir / latest_link_name(type);
    const fs::path tmp = dir / ("." + latest_link_name(type) + ".tmp");
    remove_quietly(tmp);
    // Relative target: the link resolves on the host through a bind mount too.
    if (::symlink(name.c_str(), tmp.c_str()) == 0) {
        if (::rename(tmp.c_str(), link.c_str()) != 0) {
            const int saved = errno;
            remove_quietly(tmp);
            throw Error("cannot repoint " + link.string() + ": " + errno_text(saved));
        }
        fsync_directory(dir);
        return;
    }
    static bool warned = false;
    if (!warned) {
        spdlog::warn(
            "{}: the file system refuses symbolic links ({}); writing latest_{}.json instead",
            dir.string(), errno_text(errno), to_string(type));
        warned = true;
    }
    write_file_atomically(dir / ("latest_" + std::string(to_string(type)) + ".json"),
                          "{\"archive\": \"" + name + "\"}\n");
}

}  // namespace pgtier
