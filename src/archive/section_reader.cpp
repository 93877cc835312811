#include "pgtier/archive/section_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

namespace {

constexpr std::size_t chunk_size = 1 << 20;

// An open archive file (RAII), read by offset.
class ArchiveFile {
  public:
    explicit ArchiveFile(const std::filesystem::path& path) : path_(path) {
        // Never through a link: archives are read from an untrusted directory.
        fd_ = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd_ < 0 && errno == ELOOP)
            throw Error(path.string() + ": refusing a symbolic link where an archive should be");
        if (fd_ < 0) throw Error(path.string() + ": cannot open: " + errno_text(errno));
    }
    ~ArchiveFile() { ::close(fd_); }
    ArchiveFile(const ArchiveFile&) = delete;
    ArchiveFile& operator=(const ArchiveFile&) = delete;

    std::uint64_t size() const {
        struct stat st = {};
        if (::fstat(fd_, &st) != 0)
            throw Error(path_.string() + ": cannot stat: " + errno_text(errno));
        return static_cast<std::uint64_t>(st.st_size);
    }

    // Calls fn(data, size) for the bytes [offset, offset + length); throws when the file ends
    // before them.
    template <typename Fn>
    void read_range(std::uint64_t offset, std::uint64_t length, const std::string& what, Fn fn) {
        ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                        POSIX_FADV_SEQUENTIAL);
        std::vector<char> buffer(chunk_size);
        std::uint64_t done = 0;
        while (done < length) {
            const std::size_t want =
                static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
            const ssize_t got =
                ::pread(fd_, buffer.data(), want, static_cast<off_t>(offset + done));
            if (got < 0) {
                if (errno == EINTR) continue;
                throw Error(path_.string() + ": read error in " + what + ": " + errno_text(errno));
            }
            if (got == 0) {
                throw Error(path_.string() + " is truncated: " + what + " should end at byte " +
                            std::to_string(offset + length) + ", the file ends at " +
                            std::to_string(offset + done));
            }
            fn(buffer.data(), static_cast<std::size_t>(got));
            done += static_cast<std::uint64_t>(got);
        }
    }

  private:
    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace

std::string sidecar_sha256(const std::filesystem::path& archive) {
    const std::string name = archive.filename().string();
    const auto sidecar = archive.parent_path() / sidecar_name(name);
    const auto text = read_file_no_follow(sidecar);
    if (!text) throw Error("no sidecar " + sidecar.string() + ": " + errno_text(errno));
    const auto space = text->find("  ");
    std::string named = space == std::string::npos ? "" : text->substr(space + 2);
    while (!named.empty() && named.back() == '\n') named.pop_back();
    if (space != 64 || named != name) {
        throw Error("sidecar " + sidecar.string() + " is not a sha256sum line for " + name);
    }
    return text->substr(0, 64);
}

void check_sidecar(const std::filesystem::path& archive) {
    const std::string expected = sidecar_sha256(archive);
    ArchiveFile file(archive);
    Sha256 hash;
    const auto size = file.size();
    file.read_range(0, size, "the archive",
                    [&](const char* data, std::size_t n) { hash.update(data, n); });
    if (hash.hex_digest() != expected) {
        throw Error(archive.string() + ": SHA-256 does not match its sidecar " +
                    sidecar_name(archive.filename().string()) + " (corrupted or changed)");
    }
}

void check_section(const std::filesystem::path& archive, const SectionEntry& section) {
    ArchiveFile file(archive);
    SectionCheck check(section, nullptr, SectionCheck::Mode::hash_only);
    file.read_range(section.offset, section.length, check.label(),
                    [&](const char* data, std::size_t n) { check.feed(data, n); });
    if (check.finish().has(SectionFault::sha256)) {
        throw Error(archive.string() + ": " + check.label() +
                    " does not match the SHA-256 in its manifest (corrupted or changed)");
    }
}

void read_section(const std::filesystem::path& archive, const SectionEntry& section,
                  const TextSink& sink) {
    ArchiveFile file(archive);
    SectionCheck check(section, sink);
    const std::string& what = check.label();
    file.read_range(section.offset, section.length, what, [&](const char* data, std::size_t n) {
        check.feed(data, n);
        // A decode error stops the restore at once, before more text reaches psql.
        if (!check.problems().empty()) {
            throw Error(archive.string() + ": " + check.problems().front().message);
        }
    });
    // Restore names one problem, in this order (verify lists them all).
    const SectionVerdict verdict = check.finish();
    if (verdict.has(SectionFault::cut_short))
        throw Error(archive.string() + ": " + what + " is truncated");
    if (verdict.has(SectionFault::sha256)) {
        throw Error(archive.string() + ": " + what + " does not match its manifest's SHA-256");
    }
    if (verdict.has(SectionFault::length) || verdict.has(SectionFault::trailer)) {
        throw Error(archive.string() + ": " + what + " is incomplete (" +
                    std::to_string(verdict.decoded) + " bytes decoded, manifest says " +
                    std::to_string(section.uncompressed_length) + ")");
    }
}

}  // namespace pgtier
