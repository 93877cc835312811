#pragma once
#include <memory>
#include <string>
#include <vector>

#include "pgtier/archive/age.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/storage/archive_store.hpp"
#include "pgtier/sys/config.hpp"

struct evp_pkey_st;

namespace pgtier {

// An Ed25519 key (OpenSSL) that signs manifests, or only checks their signatures.
class ManifestKey {
  public:
    // A private key file in PEM (PKCS#8, as `openssl genpkey -algorithm ed25519` and
    // `pgtier keygen` write it). Throws ConfigError naming `origin`.
    static ManifestKey load_private(const std::string& path, const std::string& origin);
    // A public key as verify_key gives it: "ed25519:" and the base64 of its 32 bytes.
    static ManifestKey parse_public(const std::string& text, const std::string& origin);
    // A new private key, and its texts.
    static ManifestKey generate();
    std::string private_pem() const;
    std::string public_text() const;

    ~ManifestKey();
    ManifestKey(ManifestKey&& other) noexcept;
    ManifestKey& operator=(ManifestKey&& other) noexcept;
    ManifestKey(const ManifestKey&) = delete;
    ManifestKey& operator=(const ManifestKey&) = delete;

    // "ed25519:" and the base64 of the signature of `message`.
    std::string sign(const std::string& message) const;
    bool verify(const std::string& message, const std::string& signature) const;

  private:
    explicit ManifestKey(evp_pkey_st* key) : key_(key) {}
    evp_pkey_st* key_ = nullptr;
};

// The keys of [encryption], read from the files the configuration names. Loaded by every
// command that writes or reads archives; each key is only needed where it is used.
struct ArchiveKeys {
    std::vector<age::Recipient> recipients;  // a backup encrypts to these; none: plain archives
    std::vector<age::Identity> identities;   // reading an encrypted archive needs one of these
    std::shared_ptr<const ManifestKey> signing_key;  // signs each new manifest
    std::shared_ptr<const ManifestKey> verify_key;   // every manifest read must carry its signature
};

// Throws ConfigError naming the key and file when one is set but cannot be read or is not a key.
ArchiveKeys load_archive_keys(const Config& config);

// Signs the manifest (sets its signature) when a signing key is configured.
void sign_manifest(Manifest& manifest, const ArchiveKeys& keys);
// With a verify key: throws Error naming `where` when the manifest's signature is missing or
// is not the verify key's signature of it. Without one: nothing.
void check_manifest_signature(const Manifest& manifest, const ArchiveKeys& keys,
                              const std::string& where);

// The compressed stream of an archive file: the file itself, or for an age file (by its name)
// its decrypted payload. Throws Error when it is encrypted and no identity is configured or
// none opens it.
std::shared_ptr<const ArchiveSource> open_stream(std::shared_ptr<const ArchiveSource> file,
                                                 const ArchiveKeys& keys);

}  // namespace pgtier
