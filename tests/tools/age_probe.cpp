// pgtier_age_probe: drives the age module (src/archive/age.cpp) from the command line for
// tests/integration/test_age_interop.sh.
//
//   pgtier_age_probe keygen                        a new identity file, as age-keygen writes it
//                    recipients IDENTITY_FILE      the recipient of each identity, one a line
//                    encrypt RECIPIENT...          stdin to stdout (Encryptor, streamed)
//                    decrypt IDENTITY_FILE [FILE]  FILE (else stdin, a regular file) to stdout,
//                                                  read whole through decrypting_source
//                    range IDENTITY_FILE OFFSET LENGTH FILE
//                                                  plaintext bytes [OFFSET, OFFSET+LENGTH)
//
// A failure prints the message to stderr and exits 1 (2 for bad usage or a bad key).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "pgtier/archive/age.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/sys/files.hpp"

using namespace pgtier;

namespace {

void write_out(const char* data, std::size_t size) {
    if (std::fwrite(data, 1, size, stdout) != size) throw Error("cannot write to stdout");
}

std::vector<age::Identity> read_identities(const std::string& path) {
    const FileText read = read_file(path, std::size_t{1} << 20);
    if (!read.ok())
        throw ConfigError("cannot read " + path + ": " +
                          read_failure_text(path, read.error, std::size_t{1} << 20));
    return age::parse_identities(read.text, path);
}

std::shared_ptr<const ArchiveSource> open_encrypted(int argc, char** argv, int at) {
    if (at < argc) return FileSource::open_path(argv[at]);
    return std::make_shared<FileSource>(UniqueFd(::dup(STDIN_FILENO)), "stdin", "stdin");
}

std::uint64_t number(const std::string& text) {
    std::size_t used = 0;
    const unsigned long long value = std::stoull(text, &used);
    if (used != text.size()) throw ConfigError("not a number: " + text);
    return value;
}

int run(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    auto arg = [&](int i) -> std::string {
        if (i >= argc)
            throw ConfigError("usage: pgtier_age_probe " + command + ": missing argument");
        return argv[i];
    };
    if (command == "keygen") {
        const age::Identity identity = age::generate_identity();
        std::cout << "# public key: " << age::recipient_text(age::recipient_of(identity)) << "\n"
                  << age::identity_text(identity) << "\n";
    } else if (command == "recipients") {
        for (const age::Identity& identity : read_identities(arg(2)))
            std::cout << age::recipient_text(age::recipient_of(identity)) << "\n";
    } else if (command == "encrypt") {
        std::vector<age::Recipient> recipients;
        for (int i = 2; i < argc; ++i)
            recipients.push_back(age::parse_recipient(argv[i], "argument " + std::to_string(i)));
        age::Encryptor encryptor(recipients);
        write_out(encryptor.header().data(), encryptor.header().size());
        std::vector<char> buffer(1 << 20);
        std::string out;
        while (true) {
            const ssize_t got = ::read(STDIN_FILENO, buffer.data(), buffer.size());
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw Error("cannot read stdin: " + errno_text(errno));
            if (got == 0) break;
            out.clear();
            encryptor.update(buffer.data(), static_cast<std::size_t>(got), out);
            write_out(out.data(), out.size());
        }
        out.clear();
        encryptor.finish(out);
        write_out(out.data(), out.size());
    } else if (command == "decrypt") {
        const auto identities = read_identities(arg(2));
        const auto source = age::decrypting_source(open_encrypted(argc, argv, 3), identities);
        source->read(0, source->size(), "the decrypted content", write_out);
    } else if (command == "range") {
        const auto identities = read_identities(arg(2));
        const std::uint64_t offset = number(arg(3));
        const std::uint64_t length = number(arg(4));
        const auto source = age::decrypting_source(FileSource::open_path(arg(5)), identities);
        source->read(offset, length, "the requested range", write_out);
    } else {
        throw ConfigError(
            "usage: pgtier_age_probe keygen | recipients IDENTITY_FILE | encrypt RECIPIENT... | "
            "decrypt IDENTITY_FILE [FILE] | range IDENTITY_FILE OFFSET LENGTH FILE");
    }
    if (std::fflush(stdout) != 0) throw Error("cannot write to stdout");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const ConfigError& e) {
        std::cerr << "pgtier_age_probe: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "pgtier_age_probe: " << e.what() << "\n";
    }
    return 1;
}
