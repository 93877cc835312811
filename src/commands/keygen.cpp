// pgtier keygen DIR: a new age identity and Ed25519 signing key, and the configuration that
// uses them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "pgtier/archive/age.hpp"
#include "pgtier/archive/keys.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/core/time.hpp"
#include "pgtier/sys/clock.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier::commands {

namespace {

// A new file only the owner reads; never replaces one (a lost identity is lost backups).
void write_secret(const std::filesystem::path& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw Error("cannot create " + path.string() + ": " + errno_text(errno) +
                    (errno == EEXIST ? " (keygen never replaces a key)" : ""));
    }
    const UniqueFd file(fd);
    write_all(fd, text.data(), text.size(), path.string());
    if (::fsync(fd) != 0) throw Error("cannot write " + path.string() + ": " + errno_text(errno));
}

}  // namespace

ExitCode keygen(const std::filesystem::path& dir) {
    const age::Identity identity = age::generate_identity();
    const std::string recipient = age::recipient_text(age::recipient_of(identity));
    const ManifestKey signing = ManifestKey::generate();
    const auto identity_path = dir / "age_identity.txt";
    const auto signing_path = dir / "signing_key.pem";
    write_secret(identity_path, "# created: " + format_utc_iso(now_utc()) + "\n# public key: " +
                                    recipient + "\n" + age::identity_text(identity) + "\n");
    write_secret(signing_path, signing.private_pem());
    std::printf(
        "# wrote %s (the age identity: restores need it; keep a copy away from the backups,\n"
        "# losing it loses every archive encrypted to it) and %s (signs manifests; only on the\n"
        "# backup node).\n"
        "[encryption]\n"
        "recipients = [\"%s\"]\n"
        "identity_file = \"%s\"\n"
        "signing_key_file = \"%s\"\n"
        "verify_key = \"%s\"\n",
        identity_path.c_str(), signing_path.c_str(), recipient.c_str(), identity_path.c_str(),
        signing_path.c_str(), signing.public_text().c_str());
    return ExitCode::ok;
}

}  // namespace pgtier::commands
