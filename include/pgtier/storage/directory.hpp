#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/sys/files.hpp"

namespace pgtier {

inline constexpr mode_t pgtier_file_mode = 0640;
inline constexpr mode_t pgtier_dir_mode = 0750;

enum class EntryType { missing, file, directory, symlink, other };

// A directory held open. Every operation names one entry of it (no '/', not "." or "..") and
// goes through the descriptor with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW: the backup directory's
// contents are untrusted, so a symbolic link planted where pgtier expects a file is refused
// (or, when pgtier deletes or replaces the entry, the link itself is what goes), and nothing
// outside the directory is ever opened, written, chmod-ed or deleted through one.
class Directory {
  public:
    // Opens `path` itself (the configured backup directory: trusted, may be a link).
    // nullopt when it does not exist; throws Error for any other failure.
    static std::optional<Directory> open_existing(const std::filesystem::path& path);
    // Creates `path` (one level, mode 0750 whatever the umask) when missing, then opens it.
    static Directory open_or_create(const std::filesystem::path& path);

    // A sub-directory, never through a link; nullopt when missing.
    std::optional<Directory> subdir(std::string_view name) const;
    // Creates it (0750 whatever the umask) when missing.
    Directory subdir_or_create(std::string_view name) const;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path path_of(std::string_view name) const { return path_ / name; }
    int fd() const { return fd_.get(); }

    EntryType type_of(std::string_view name) const;
    std::uint64_t size_of(std::string_view name) const;  // 0 when not a regular file
    // Names of the entries, without "." and "..".
    std::vector<std::string> entries() const;

    // A regular file's content; nullopt when missing. Throws Error when it is a link or other.
    std::optional<std::string> read(std::string_view name) const;
    // Opens a regular file for reading; throws Error (naming it) when missing or a link.
    UniqueFd open_for_reading(std::string_view name) const;
    // Creates a new file (0640) that must not exist yet.
    UniqueFd create_new(std::string_view name) const;
    // Opens a regular file of pgtier's for reading and writing, creating it (0640) if needed;
    // refuses a link, anything not a regular file, and a file with other hard links.
    UniqueFd open_own_file(std::string_view name) const;
    // Writes `content` through `.NAME.tmp`, fsync and rename over NAME (0640). A link at NAME
    // or at the temporary name is replaced (and logged), never followed.
    void write_atomically(std::string_view name, const std::string& content) const;

    void rename(std::string_view from, std::string_view to) const;
    // Removes a file or link (the link itself); false when it was not there.
    bool remove(std::string_view name) const;
    bool remove_quietly(std::string_view name) const noexcept;
    // False with errno set when the link cannot be made (some file systems refuse links).
    bool make_symlink(std::string_view target, std::string_view name) const;
    // The target of a link; nullopt when NAME is not a link.
    std::optional<std::string> read_link(std::string_view name) const;
    void sync() const;

  private:
    // openat(NAME, flags | O_NOFOLLOW): an empty fd when missing (without O_CREAT); a link or
    // anything but a regular file there is refused by name; other errors say "cannot VERB".
    UniqueFd open_entry(std::string_view name, int flags, const char* verb) const;
    Directory(std::filesystem::path path, UniqueFd fd)
        : path_(std::move(path)), fd_(std::move(fd)) {}
    std::filesystem::path path_;
    UniqueFd fd_;
};

// True for a single path component pgtier may use in a directory: not empty, no '/', no NUL,
// not "." or "..".
bool is_plain_entry_name(std::string_view name);

}  // namespace pgtier
