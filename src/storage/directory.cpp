#include "pgtier/storage/directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

namespace fs = std::filesystem;

namespace {

std::string refusal(const fs::path& path, const std::string& what) {
    return "refusing " + path.string() + ": " + what +
           " (pgtier never follows links or touches files it did not make in its backup "
           "directory)";
}

std::string type_text(EntryType type) {
    switch (type) {
        case EntryType::symlink:
            return "it is a symbolic link";
        case EntryType::directory:
            return "it is a directory";
        default:
            return "it is not a regular file";
    }
}

EntryType type_from_mode(mode_t mode) {
    if (S_ISREG(mode)) return EntryType::file;
    if (S_ISDIR(mode)) return EntryType::directory;
    if (S_ISLNK(mode)) return EntryType::symlink;
    return EntryType::other;
}

}  // namespace

bool is_plain_entry_name(std::string_view name) {
    return !name.empty() && name != "." && name != ".." &&
           name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

namespace {

void check_name(const fs::path& dir, std::string_view name) {
    if (!is_plain_entry_name(name)) {
        throw Error("refusing the name \"" + std::string(name) + "\" in " + dir.string() +
                    ": not a plain file name");
    }
}

}  // namespace

std::optional<Directory> Directory::open_existing(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw Error("cannot open directory " + path.string() + ": " + errno_text(errno));
    }
    return Directory(path, std::move(fd));
}

Directory Directory::open_or_create(const fs::path& path) {
    if (::mkdir(path.c_str(), pgtier_dir_mode) == 0) {
        auto dir = open_existing(path);
        if (!dir) throw Error("cannot open directory " + path.string() + ": " + errno_text(errno));
        ::fchmod(dir->fd(), pgtier_dir_mode);  // the umask does not decide the mode
        return std::move(*dir);
    }
    if (errno != EEXIST) {
        throw Error("cannot create backup directory " + path.string() + ": " + errno_text(errno));
    }
    auto dir = open_existing(path);
    if (!dir) throw Error("cannot open directory " + path.string() + ": " + errno_text(errno));
    return std::move(*dir);
}

std::optional<Directory> Directory::subdir(std::string_view name) const {
    check_name(path_, name);
    const fs::path path = path_of(name);
    UniqueFd fd(::openat(fd_.get(), std::string(name).c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        if (err == ENOENT) return std::nullopt;
        const EntryType type = type_of(name);
        if (type != EntryType::directory && type != EntryType::missing)
            throw Error(refusal(path, type_text(type)));
        throw Error("cannot open directory " + path.string() + ": " + errno_text(err));
    }
    return Directory(path, std::move(fd));
}

Directory Directory::subdir_or_create(std::string_view name) const {
    check_name(path_, name);
    if (::mkdirat(fd_.get(), std::string(name).c_str(), pgtier_dir_mode) == 0) {
        auto dir = subdir(name);
        if (!dir) throw Error("cannot open directory " + path_of(name).string());
        ::fchmod(dir->fd(), pgtier_dir_mode);
        return std::move(*dir);
    }
    if (errno != EEXIST) {
        throw Error("cannot create directory " + path_of(name).string() + ": " + errno_text(errno));
    }
    auto dir = subdir(name);
    if (!dir) throw Error("cannot open directory " + path_of(name).string());
    return std::move(*dir);
}

EntryType Directory::type_of(std::string_view name) const {
    check_name(path_, name);
    struct stat st = {};
    if (::fstatat(fd_.get(), std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return EntryType::missing;
    return type_from_mode(st.st_mode);
}

std::uint64_t Directory::size_of(std::string_view name) const {
    check_name(path_, name);
    struct stat st = {};
    if (::fstatat(fd_.get(), std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
        return 0;
    return static_cast<std::uint64_t>(st.st_size);
}

std::vector<std::string> Directory::entries() const {
    std::vector<std::string> names;
    // fdopendir takes over the descriptor it is given: hand it a duplicate.
    const int copy = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw Error("cannot read directory " + path_.string() + ": " + errno_text(errno));
    DIR* dir = ::fdopendir(copy);
    if (dir == nullptr) {
        ::close(copy);
        throw Error("cannot read directory " + path_.string() + ": " + errno_text(errno));
    }
    ::rewinddir(dir);
    while (const dirent* entry = ::readdir(dir)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    return names;
}

namespace {

// The regular file behind `fd`, else a refusal naming `path`.
struct stat require_regular(const UniqueFd& fd, const fs::path& path) {
    struct stat st = {};
    if (::fstat(fd.get(), &st) != 0)
        throw Error("cannot stat " + path.string() + ": " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) throw Error(refusal(path, type_text(type_from_mode(st.st_mode))));
    return st;
}

// O_NONBLOCK only kept a planted FIFO from hanging the open: back to blocking I/O.
void clear_nonblock(const UniqueFd& fd) {
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
}

}  // namespace

UniqueFd Directory::open_entry(std::string_view name, int flags, const char* verb) const {
    check_name(path_, name);
    UniqueFd fd(::openat(fd_.get(), std::string(name).c_str(), flags | O_NOFOLLOW | O_CLOEXEC,
                         pgtier_file_mode));
    if (!fd) {
        const int err = errno;
        if (err == ENOENT && (flags & O_CREAT) == 0) return fd;
        // A link (ELOOP, or EEXIST with O_EXCL) or anything else that is not a file is refused.
        const EntryType type = type_of(name);
        if (type != EntryType::file && type != EntryType::missing)
            throw Error(refusal(path_of(name), type_text(type)));
        throw Error(std::string("cannot ") + verb + " " + path_of(name).string() + ": " +
                    errno_text(err));
    }
    return fd;
}

std::optional<std::string> Directory::read(std::string_view name) const {
    const UniqueFd fd = open_entry(name, O_RDONLY | O_NONBLOCK, "read");
    if (!fd) return std::nullopt;
    const auto st = require_regular(fd, path_of(name));
    // Nothing pgtier keeps here is that large: a planted (maybe sparse) giant is not read.
    auto read = static_cast<std::uint64_t>(st.st_size) > max_small_file_size
                    ? FileText{"", EFBIG}
                    : read_all_fd(fd.get(), max_small_file_size);
    if (!read.ok())
        throw Error("cannot read " + path_of(name).string() + ": " +
                    read_failure_text(path_of(name), read.error, max_small_file_size));
    return std::move(read.text);
}

UniqueFd Directory::open_for_reading(std::string_view name) const {
    UniqueFd fd = open_entry(name, O_RDONLY | O_NONBLOCK, "open");
    if (!fd) throw Error("cannot open " + path_of(name).string() + ": " + errno_text(ENOENT));
    require_regular(fd, path_of(name));
    clear_nonblock(fd);
    return fd;
}

UniqueFd Directory::create_new(std::string_view name) const {
    UniqueFd fd = open_entry(name, O_WRONLY | O_CREAT | O_EXCL, "create");
    ::fchmod(fd.get(), pgtier_file_mode);  // the umask does not decide the mode
    return fd;
}

UniqueFd Directory::open_own_file(std::string_view name) const {
    UniqueFd fd = open_entry(name, O_RDWR | O_CREAT | O_NONBLOCK, "open");
    // A hard link to a file elsewhere would be written through.
    if (require_regular(fd, path_of(name)).st_nlink > 1)
        throw Error(refusal(path_of(name), "it has other hard links"));
    clear_nonblock(fd);
    ::fchmod(fd.get(), pgtier_file_mode);
    return fd;
}

void Directory::write_atomically(std::string_view name, const std::string& content) const {
    check_name(path_, name);
    std::string tmp = ".";  // by appends: see LocalStore::put_file (GCC 12 -Wrestrict)
    tmp.append(name).append(".tmp");
    // The temporary name is pgtier's own: whatever is there (a crashed run's file, or a planted
    // link) is removed itself, never followed, so that nobody can block the write with it.
    if (const EntryType type = type_of(tmp); type != EntryType::missing) {
        if (type != EntryType::file) {
            spdlog::warn("removing {} ({}; not followed)", path_of(tmp).string(), type_text(type));
        }
        remove(tmp);
    }
    UniqueFd fd = create_new(tmp);
    try {
        write_all(fd.get(), content.data(), content.size(), path_of(tmp).string());
        if (::fsync(fd.get()) != 0)
            throw Error("cannot fsync " + path_of(tmp).string() + ": " + errno_text(errno));
        if (::close(fd.release()) != 0)
            throw Error("cannot write " + path_of(tmp).string() + ": " + errno_text(errno));
        rename(tmp, name);
    } catch (...) {
        remove_quietly(tmp);
        throw;
    }
}

void Directory::rename(std::string_view from, std::string_view to) const {
    check_name(path_, from);
    check_name(path_, to);
    if (::renameat(fd_.get(), std::string(from).c_str(), fd_.get(), std::string(to).c_str()) != 0) {
        throw Error("cannot rename " + path_of(from).string() + " to " + path_of(to).string() +
                    ": " + errno_text(errno));
    }
}

bool Directory::remove(std::string_view name) const {
    check_name(path_, name);
    if (::unlinkat(fd_.get(), std::string(name).c_str(), 0) == 0) return true;
    if (errno == ENOENT) return false;
    throw Error("cannot delete " + path_of(name).string() + ": " + errno_text(errno));
}

bool Directory::remove_quietly(std::string_view name) const noexcept {
    if (!is_plain_entry_name(name)) return false;
    return ::unlinkat(fd_.get(), std::string(name).c_str(), 0) == 0;
}

bool Directory::make_symlink(std::string_view target, std::string_view name) const {
    check_name(path_, name);
    return ::symlinkat(std::string(target).c_str(), fd_.get(), std::string(name).c_str()) == 0;
}

std::optional<std::string> Directory::read_link(std::string_view name) const {
    check_name(path_, name);
    char buffer[4096];
    const ssize_t n = ::readlinkat(fd_.get(), std::string(name).c_str(), buffer, sizeof buffer);
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof buffer) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
}

void Directory::sync() const {
    if (::fsync(fd_.get()) != 0)
        throw Error("cannot fsync directory " + path_.string() + ": " + errno_text(errno));
}

}  // namespace pgtier
