#include "pgtier/storage/repository.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/storage/directory.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

namespace {

constexpr std::string_view intent_file_name = "publishing";
constexpr std::string_view lock_file_name = "lock";

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

// Whether `name` is a temporary or partial file of pgtier's in a tier folder (a parallel
// backup's section spools included): the sweep removes only these.
bool is_leftover_name(const std::string& name, BackupType type) {
    if (looks_like_spool(name, type)) return true;
    auto strip = [&](std::string_view suffix) -> std::optional<std::string> {
        if (name.size() <= suffix.size() + 1 || name[0] != '.' ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            return std::nullopt;
        return name.substr(1, name.size() - suffix.size() - 1);
    };
    if (auto archive = strip(".partial")) return looks_like_archive(*archive, type);
    if (auto file = strip(".tmp")) {
        for (auto variant : all_archive_variants) {
            if (*file == latest_link_name(type, variant.format, variant.encrypted)) return true;
        }
        if (*file == "latest_" + std::string(to_string(type)) + ".json") return true;
        for (std::string_view ext : {".sha256", ".json", ".deleting"}) {
            if (file->size() > ext.size() &&
                file->compare(file->size() - ext.size(), ext.size(), ext) == 0)
                return looks_like_archive(file->substr(0, file->size() - ext.size()), type);
        }
    }
    return false;
}

}  // namespace

PartialFile::PartialFile(Directory dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)) {
    fd_ = dir_.create_new(name_);
}

PartialFile::~PartialFile() {
    fd_.reset();
    if (!released_) dir_.remove_quietly(name_);
}

void PartialFile::sync_and_close() {
    if (::fsync(fd_.get()) != 0)
        throw Error("cannot fsync " + path().string() + ": " + errno_text(errno));
    if (::close(fd_.release()) != 0)
        throw Error("cannot write " + path().string() + ": " + errno_text(errno));
}

SpoolFile::SpoolFile(Directory dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)) {
    fd_ = dir_.create_new(name_);
}

SpoolFile::~SpoolFile() {
    fd_.reset();
    dir_.remove_quietly(name_);
}

void SpoolFile::close() {
    if (::close(fd_.release()) != 0)
        throw Error("cannot write " + path().string() + ": " + errno_text(errno));
}

fs::path Repository::tier_dir(BackupType type) const {
    return dir_ / std::string(to_string(type));
}

void Repository::require_exists() const {
    struct stat st = {};
    if (::stat(dir_.c_str(), &st) != 0) {
        throw Error("backup directory " + dir_.string() + " does not exist (" + errno_text(errno) +
                    "): check --dir / storage.dir and that it is mounted");
    }
    if (!S_ISDIR(st.st_mode))
        throw Error("backup directory " + dir_.string() + " is not a directory");
}

Directory Repository::root() const {
    auto dir = Directory::open_existing(dir_);
    if (!dir) require_exists();  // throws with the reason
    if (!dir) throw Error("cannot open backup directory " + dir_.string());
    return std::move(*dir);
}

Directory Repository::tier(BackupType type) const {
    return root().subdir_or_create(to_string(type));
}

std::optional<Directory> Repository::existing_tier(BackupType type) const {
    return root().subdir(to_string(type));
}

std::optional<Directory> Repository::existing_state() const {
    auto dir = Directory::open_existing(dir_);
    if (!dir) return std::nullopt;
    return dir->subdir(".pgtier");
}

void Repository::ensure_layout() const {
    const Directory top = Directory::open_or_create(dir_);
    if (::faccessat(top.fd(), ".", W_OK | X_OK, 0) != 0) {
        throw Error("backup directory " + dir_.string() + " is not writable: " + errno_text(errno));
    }
    top.subdir_or_create(".pgtier");
    for (auto type : all_backup_types) top.subdir_or_create(to_string(type));
}

std::unique_ptr<RepositoryLock> Repository::lock(const std::atomic<bool>* stop) const {
    const Directory state = root().subdir_or_create(".pgtier");
    const fs::path path = state.path_of(lock_file_name);
    auto fd = state.open_own_file(lock_file_name);
    const int raw = fd.get();
    auto guard = std::make_unique<RepositoryLock>(std::move(fd));
    if (::flock(raw, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            throw Error("cannot lock " + path.string() + ": " + errno_text(errno));
        }
        std::string holder;
        try {
            holder = trimmed(state.read(lock_file_name).value_or(""));
        } catch (const Error&) {
        }
        spdlog::info("waiting for lock {} held by another pgtier ({})", path.string(),
                     holder.empty() ? "pid unknown" : "pid " + holder);
        while (::flock(raw, LOCK_EX) != 0) {
            if (errno != EINTR)
                throw Error("cannot lock " + path.string() + ": " + errno_text(errno));
            if (stop != nullptr && stop->load())
                throw Error("interrupted while waiting for the lock " + path.string());
        }
        spdlog::info("lock acquired");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(raw, 0) == 0) {
        [[maybe_unused]] auto n = ::pwrite(raw, pid.data(), pid.size(), 0);
    }
    return guard;
}

bool Repository::lock_held() const {
    try {
        const auto state = existing_state();
        if (!state || state->type_of(lock_file_name) != EntryType::file) return false;
        const UniqueFd fd = state->open_for_reading(lock_file_name);
        // A granted shared lock is released when fd closes.
        return ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    } catch (const Error&) {
        return false;
    }
}

std::optional<std::string> Repository::read_state_file(std::string_view name) const {
    const auto state = existing_state();
    if (!state) return std::nullopt;
    return state->read(name);
}

void Repository::write_state_file(std::string_view name, const std::string& content) const {
    root().subdir_or_create(".pgtier").write_atomically(name, content);
}

void Repository::remove_state_file(std::string_view name) const {
    if (const auto state = existing_state()) state->remove(name);
}

std::vector<fs::path> Repository::sweep() const {
    std::vector<fs::path> removed;
    const Directory top = root();
    // An interrupted publication: the archive may be under its final name without a manifest.
    // The intent file is untrusted like everything here: only "<tier>/<archive name>" of
    // pgtier's pattern is acted on, inside that tier folder.
    if (auto state = top.subdir(".pgtier");
        state && state->type_of(intent_file_name) != EntryType::missing) {
        std::string target;
        try {
            target = trimmed(state->read(intent_file_name).value_or(""));
        } catch (const Error& err) {
            spdlog::warn("ignoring {}", err.what());
        }
        const auto slash = target.find('/');
        const auto type =
            parse_backup_type(target.substr(0, slash == std::string::npos ? 0 : slash));
        const std::string name = slash == std::string::npos ? "" : target.substr(slash + 1);
        if (!target.empty() && (!type || to_string(*type) != target.substr(0, slash) ||
                                !looks_like_archive(name, *type))) {
            spdlog::warn("ignoring {}: \"{}\" is not an archive name of pgtier's",
                         state->path_of(intent_file_name).string(), target);
        } else if (!target.empty()) {
            if (auto dir = top.subdir(to_string(*type));
                dir && dir->type_of(manifest_name(name)) == EntryType::missing) {
                for (const auto& file : {name, sidecar_name(name)}) {
                    if (dir->remove(file)) removed.push_back(dir->path_of(file));
                }
            }
        }
        state->remove(intent_file_name);
    }
    finish_interrupted_deletions();
    for (auto type : all_backup_types) {
        const auto dir = top.subdir(to_string(type));
        if (!dir) continue;
        for (const auto& name : dir->entries()) {
            if (is_leftover_name(name, type) && dir->remove(name))
                removed.push_back(dir->path_of(name));
        }
    }
    return removed;
}

void Repository::sweep_and_log() const {
    for (const auto& path : sweep()) {
        spdlog::warn("removed {} left by an interrupted run", path.string());
    }
}

std::shared_ptr<const ArchiveStore> Repository::store() const {
    return std::make_shared<LocalStore>(dir_);
}

std::vector<ArchiveEntry> Repository::scan() const {
    root();  // a missing backup directory is an error, not an empty one
    return scan_store(LocalStore(dir_));
}

std::vector<Manifest> Repository::published_manifests() const {
    return pgtier::published_manifests(scan());
}

std::string Repository::new_archive_name(BackupType type, const std::tm& local,
                                         CompressionFormat format, bool encrypted) const {
    const Directory dir = tier(type);
    // A time stamp names one archive of the tier whatever its format: names sort as they were
    // taken.
    const auto unused = [&](const std::string& name) {
        return dir.type_of(name) == EntryType::missing &&
               dir.type_of(partial_name(name)) == EntryType::missing &&
               dir.type_of(manifest_name(name)) == EntryType::missing;
    };
    for (int collision = 0;; ++collision) {
        bool free = true;
        for (auto other : all_archive_variants)
            free =
                free && unused(archive_name(type, local, collision, other.format, other.encrypted));
        if (free) return archive_name(type, local, collision, format, encrypted);
    }
}

PartialFile Repository::create_partial(BackupType type, const std::string& name) const {
    if (!looks_like_archive(name, type)) throw Error("not an archive name: " + name);
    return PartialFile(tier(type), partial_name(name));
}

std::unique_ptr<SpoolFile> Repository::create_spool(BackupType type, const std::string& name,
                                                    std::size_t index) const {
    if (!looks_like_archive(name, type)) throw Error("not an archive name: " + name);
    return std::make_unique<SpoolFile>(tier(type), spool_name(name, index));
}

namespace {

// A link named as an archive (latest_full.sql.bz2, or any link an operator passes) is followed
// one level, and only to an archive file in the same folder.
fs::path resolve_link(const fs::path& link) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(link, ec);
    const std::string name = target.string();
    bool archive = false;
    for (auto type : all_backup_types) archive = archive || looks_like_archive(name, type);
    if (ec || !is_plain_entry_name(name) || !archive) {
        throw Error("refusing " + link.string() + ": a link to \"" + name +
                    "\", which is not an archive in the same folder");
    }
    fs::path resolved = link.parent_path() / target;
    if (!fs::is_regular_file(fs::symlink_status(resolved, ec))) {
        throw Error(link.string() + " points to " + name + ", which is not there");
    }
    return resolved;
}

}  // namespace

std::optional<fs::path> Repository::resolve(const std::string& archive) const {
    for (auto type : all_backup_types) {
        if (archive != "latest-" + std::string(to_string(type))) continue;
        std::optional<ArchiveEntry> newest;
        std::vector<std::string> broken;
        for (auto& entry : scan()) {
            if (entry.tier != type) continue;
            if (entry.state != ArchiveState::complete) {
                if (entry.manifest || !entry.problem.empty())
                    broken.push_back(entry.name + " (" +
                                     (entry.problem.empty() ? std::string(to_string(entry.state))
                                                            : entry.problem) +
                                     ")");
                continue;
            }
            if (!newest || entry.manifest->started_at > newest->manifest->started_at)
                newest = std::move(entry);
        }
        if (!newest && !broken.empty()) {
            std::string list;
            for (const auto& b : broken) list += (list.empty() ? "" : "; ") + b;
            throw Error("no complete " + std::string(to_string(type)) + " archive for " + archive +
                        ": " + list);
        }
        if (!newest) return std::nullopt;
        return fs::path(newest->location);
    }
    std::error_code ec;
    const auto status = fs::symlink_status(archive, ec);
    if (fs::is_symlink(status)) return resolve_link(archive);
    if (fs::exists(status)) return fs::path(archive);
    if (!is_plain_entry_name(archive)) return std::nullopt;
    for (auto type : all_backup_types) {
        const auto dir = existing_tier(type);
        if (!dir) continue;
        switch (dir->type_of(archive)) {
            case EntryType::missing:
                continue;
            case EntryType::symlink:
                return resolve_link(dir->path_of(archive));
            default:
                return dir->path_of(archive);
        }
    }
    return std::nullopt;
}

void Repository::publish(PartialFile& partial, const Manifest& manifest) const {
    if (!looks_like_archive(manifest.name, manifest.type))
        throw Error("not an archive name: " + manifest.name);
    const Directory& dir = partial.dir_;
    const Directory state = root().subdir_or_create(".pgtier");
    const std::string& name = manifest.name;

    state.write_atomically(intent_file_name,
                           std::string(to_string(manifest.type)) + "/" + name + "\n");
    try {
        dir.rename(partial.name_, name);
        partial.released_ = true;
        dir.write_atomically(sidecar_name(name), sidecar_text(manifest.sha256, name));
        dir.write_atomically(manifest_name(name), manifest_to_json(manifest));
        dir.sync();
    } catch (...) {
        // Nothing may stay under the final name: an archive counts only with all three files.
        if (partial.released_) {
            dir.remove_quietly(manifest_name(name));
            dir.remove_quietly(sidecar_name(name));
            dir.remove_quietly(name);
        }
        state.remove_quietly(intent_file_name);
        throw;
    }
    state.remove_quietly(intent_file_name);
    point_latest(dir, manifest.type, name);
}

void Repository::remove_archive(BackupType type, const std::string& name) const {
    if (!looks_like_archive(name, type)) {
        throw Error("refusing to delete \"" + name + "\" in " + tier_dir(type).string() +
                    ": not an archive name of pgtier's");
    }
    const auto dir = existing_tier(type);
    if (!dir) return;
    delete_archive(LocalStore(dir_), type, name, [&](BackupType) { dir->sync(); });
    // Repoint latest_* when it named this archive (the newest is never deleted by retention,
    // but an operator's manual removal goes through here too).
    if (dir->read_link(latest_link_name(type, archive_format(name), archive_encrypted(name))) ==
        name)
        point_latest_to_newest(type);
}

void Repository::finish_interrupted_deletions() const {
    const auto done = pgtier::finish_interrupted_deletions(LocalStore(dir_), [&](BackupType type) {
        if (const auto dir = existing_tier(type)) dir->sync();
    });
    // A latest link may have named one of them.
    for (auto type : all_backup_types) {
        const std::string folder = tier_dir(type).string() + "/";
        if (std::any_of(done.begin(), done.end(),
                        [&](const std::string& path) { return path.rfind(folder, 0) == 0; }))
            point_latest_to_newest(type);
    }
}

void Repository::point_latest_to_newest(BackupType type) const {
    std::optional<Manifest> newest;
    for (const auto& m : published_manifests()) {
        if (m.type == type) newest = m;
    }
    const Directory dir = tier(type);
    if (newest) {
        point_latest(dir, type, newest->name);
    } else {
        for (auto variant : all_archive_variants)
            dir.remove(latest_link_name(type, variant.format, variant.encrypted));
    }
}

void Repository::point_latest(const Directory& dir, BackupType type,
                              const std::string& name) const {
    const std::string link = latest_link_name(type, archive_format(name), archive_encrypted(name));
    const std::string tmp = "." + link + ".tmp";
    dir.remove_quietly(tmp);
    // Relative target: the link resolves on the host through a bind mount too.
    if (dir.make_symlink(name, tmp)) {
        try {
            dir.rename(tmp, link);
        } catch (...) {
            dir.remove_quietly(tmp);
            throw;
        }
        // The link of another variant would name an older archive as the latest: a script
        // that reads latest_full.sql.bz2 must fail, not restore stale data, once the newest
        // archive is .sql.zst or .sql.bz2.age (and the other way round).
        for (auto other : all_archive_variants) {
            const std::string stale = latest_link_name(type, other.format, other.encrypted);
            if (stale == link || dir.remove_quietly(stale)) continue;
            // Not a reason to fail a published backup: whatever is there is never followed.
            const int error = errno;
            if (dir.type_of(stale) != EntryType::missing)
                spdlog::warn("cannot remove {}: {}", dir.path_of(stale).string(),
                             errno_text(error));
        }
        dir.sync();
        return;
    }
    static bool warned = false;
    if (!warned) {
        spdlog::warn(
            "{}: the file system refuses symbolic links ({}); writing latest_{}.json instead",
            dir.path().string(), errno_text(errno), to_string(type));
        warned = true;
    }
    dir.write_atomically("latest_" + std::string(to_string(type)) + ".json",
                         "{\"archive\": \"" + name + "\"}\n");
}

}  // namespace pgtier
