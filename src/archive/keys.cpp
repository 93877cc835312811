#include "pgtier/archive/keys.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/sys/files.hpp"

namespace pgtier {

namespace {

constexpr std::size_t max_key_file_size = std::size_t{1} << 20;
constexpr std::string_view ed25519_prefix = "ed25519:";

struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string base64(const unsigned char* data, std::size_t size) {
    std::string text(4 * ((size + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), data,
                                  static_cast<int>(size));
    text.resize(static_cast<std::size_t>(n));
    return text;
}

// Standard padded base64 of exactly `expected` bytes; nullopt otherwise.
std::optional<std::string> unbase64(std::string_view text, std::size_t expected) {
    if (text.size() != 4 * ((expected + 2) / 3)) return std::nullopt;
    std::string bytes(text.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as zero bytes.
    const std::size_t padding = text.size() - text.find_last_not_of('=') - 1;
    if (static_cast<std::size_t>(n) - padding != expected) return std::nullopt;
    bytes.resize(expected);
    if (base64(reinterpret_cast<const unsigned char*>(bytes.data()), expected) != text)
        return std::nullopt;  // not canonical
    return bytes;
}

std::string read_key_file(const std::string& path, const std::string& origin, const char* kind) {
    auto file = read_file(path, max_key_file_size);
    if (!file.ok()) {
        throw ConfigError(origin + ": cannot read " + kind + " " + path + ": " +
                          read_failure_text(path, file.error, max_key_file_size));
    }
    return std::move(file.text);
}

}  // namespace

ManifestKey::~ManifestKey() {
    EVP_PKEY_free(key_);
}
ManifestKey::ManifestKey(ManifestKey&& other) noexcept : key_(other.key_) {
    other.key_ = nullptr;
}
ManifestKey& ManifestKey::operator=(ManifestKey&& other) noexcept {
    std::swap(key_, other.key_);
    return *this;
}

ManifestKey ManifestKey::load_private(const std::string& path, const std::string& origin) {
    const std::string pem = read_key_file(path, origin, "signing key file");
    const Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        throw ConfigError(origin + ": " + path +
                          " is not an Ed25519 private key in PEM (create one with pgtier keygen)");
    }
    return ManifestKey(key);
}

ManifestKey ManifestKey::parse_public(const std::string& text, const std::string& origin) {
    const auto fail = [&] {
        return ConfigError(origin +
                           " is not an Ed25519 public key (\"ed25519:\" and the base64 "
                           "of 32 bytes, as pgtier keygen prints it)");
    };
    if (!text.starts_with(ed25519_prefix)) throw fail();
    const auto raw = unbase64(std::string_view(text).substr(ed25519_prefix.size()), 32);
    if (!raw) throw fail();
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw->data()), 32);
    if (key == nullptr) throw fail();
    return ManifestKey(key);
}

ManifestKey ManifestKey::generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) throw Error("cannot generate an Ed25519 key (OpenSSL)");
    return ManifestKey(key);
}

std::string ManifestKey::private_pem() const {
    const Bio bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw Error("cannot write the Ed25519 key (OpenSSL)");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string ManifestKey::public_text() const {
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key_, raw, &size) != 1 || size != sizeof raw)
        throw Error("cannot read the Ed25519 public key (OpenSSL)");
    return std::string(ed25519_prefix) + base64(raw, size);
}

std::string ManifestKey::sign(const std::string& message) const {
    const MdCtx ctx(EVP_MD_CTX_new());
    unsigned char signature[64];
    std::size_t size = sizeof signature;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1 ||
        EVP_DigestSign(ctx.get(), signature, &size,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
        throw Error("cannot sign the manifest (OpenSSL; is signing_key_file a private key?)");
    }
    return std::string(ed25519_prefix) + base64(signature, size);
}

bool ManifestKey::verify(const std::string& message, const std::string& signature) const {
    if (!signature.starts_with(ed25519_prefix)) return false;
    const auto raw = unbase64(std::string_view(signature).substr(ed25519_prefix.size()), 64);
    if (!raw) return false;
    const MdCtx ctx(EVP_MD_CTX_new());
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(raw->data()),
                            raw->size(), reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
}

ArchiveKeys load_archive_keys(const Config& config) {
    const EncryptionConfig& encryption = config.encryption;
    ArchiveKeys keys;
    for (const auto& text : encryption.recipients)
        keys.recipients.push_back(
            age::parse_recipient(text, config.origin("encryption.recipients")));
    if (!encryption.recipients_file.empty()) {
        const std::string origin = config.origin("encryption.recipients_file");
        const std::string text =
            read_key_file(encryption.recipients_file, origin, "recipients file");
        std::size_t start = 0;
        int line_number = 0;
        while (start < text.size()) {
            const auto end = std::min(text.find('\n', start), text.size());
            std::string line = text.substr(start, end - start);
            start = end + 1;
            ++line_number;
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            keys.recipients.push_back(age::parse_recipient(
                line,
                origin + ": " + encryption.recipients_file + ":" + std::to_string(line_number)));
        }
        if (keys.recipients.empty())
            throw ConfigError(origin + ": " + encryption.recipients_file + " names no recipient");
    }
    if (!encryption.identity_file.empty()) {
        const std::string origin = config.origin("encryption.identity_file");
        keys.identities =
            age::parse_identities(read_key_file(encryption.identity_file, origin, "identity file"),
                                  origin + ": " + encryption.identity_file);
    }
    if (!encryption.signing_key_file.empty()) {
        keys.signing_key = std::make_shared<const ManifestKey>(ManifestKey::load_private(
            encryption.signing_key_file, config.origin("encryption.signing_key_file")));
    }
    if (!encryption.verify_key.empty()) {
        keys.verify_key = std::make_shared<const ManifestKey>(ManifestKey::parse_public(
            encryption.verify_key, config.origin("encryption.verify_key")));
    }
    return keys;
}

void sign_manifest(Manifest& manifest, const ArchiveKeys& keys) {
    manifest.signature.clear();
    if (keys.signing_key)
        manifest.signature = keys.signing_key->sign(manifest_signed_text(manifest));
}

void check_manifest_signature(const Manifest& manifest, const ArchiveKeys& keys,
                              const std::string& where) {
    if (!keys.verify_key) return;
    if (manifest.signature.empty()) {
        throw Error(where +
                    " is not signed, and encryption.verify_key requires a signature: "
                    "refusing the archive " +
                    manifest.name);
    }
    if (!keys.verify_key->verify(manifest_signed_text(manifest), manifest.signature)) {
        throw Error(where +
                    ": its signature is not encryption.verify_key's (forged, changed, or "
                    "signed by another key): refusing the archive " +
                    manifest.name);
    }
}

std::shared_ptr<const ArchiveSource> open_stream(std::shared_ptr<const ArchiveSource> file,
                                                 const ArchiveKeys& keys) {
    if (!archive_encrypted(file->name())) return file;
    if (keys.identities.empty()) {
        throw Error(file->describe() +
                    " is encrypted (age): set encryption.identity_file (or "
                    "PGTIER_ENCRYPTION_IDENTITY_FILE) to an age identity of its recipients");
    }
    return age::decrypting_source(std::move(file), keys.identities);
}

}  // namespace pgtier
