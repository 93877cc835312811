#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/storage/archive_store.hpp"

// The age v1 file format (https://age-encryption.org/v1), X25519 recipients only, on OpenSSL's
// X25519, HKDF-SHA256, HMAC-SHA256 and ChaCha20-Poly1305: only the framing (header, bech32 keys,
// unpadded base64, the chunked payload) is written here. A file pgtier writes decrypts with
// `age -d -i KEY`, and a file `age -r` wrote is read here.
namespace pgtier::age {

inline constexpr std::size_t chunk_size = 64 * 1024;  // plaintext bytes of a full payload chunk
inline constexpr std::size_t tag_size = 16;           // the Poly1305 tag sealing each chunk
inline constexpr std::size_t nonce_size = 16;         // the payload nonce after the header

using Key32 = std::array<unsigned char, 32>;

struct Recipient {
    Key32 public_key{};
};

// A secret key; its memory is cleansed when it goes.
struct Identity {
    Key32 secret_key{};
    Key32 public_key{};  // derived from secret_key
    ~Identity();
};

// "age1…" (bech32, lower case). Throws ConfigError naming `source` when it is not one.
Recipient parse_recipient(std::string_view text, const std::string& source);
std::string recipient_text(const Recipient& recipient);
// An identity file as age-keygen writes it: "AGE-SECRET-KEY-1…" lines, '#' comments and blank
// lines. Throws ConfigError naming `source` (never quoting a key) when a line is neither, or
// when it holds no identity.
std::vector<Identity> parse_identities(std::string_view text, const std::string& source);
std::string identity_text(const Identity& identity);  // "AGE-SECRET-KEY-1…", upper case
Identity generate_identity();
Recipient recipient_of(const Identity& identity);

// Payload arithmetic. n plaintext bytes make ceil(n / chunk_size) chunks (one empty chunk when
// n is 0), each chunk_size + tag_size bytes but the last.
std::uint64_t encrypted_payload_size(std::uint64_t plaintext_size);
// The plaintext size of a payload of `payload_size` bytes; nullopt when no plaintext has one
// of that size (a truncated or padded file).
std::optional<std::uint64_t> plaintext_size(std::uint64_t payload_size);

// Writes one age file: header() first, then what update() and finish() produce.
class Encryptor {
  public:
    // Draws a file key and payload nonce (getrandom / RAND_bytes) and wraps the key for each
    // recipient. Throws Error when `recipients` is empty.
    explicit Encryptor(const std::vector<Recipient>& recipients);
    ~Encryptor();
    Encryptor(const Encryptor&) = delete;
    Encryptor& operator=(const Encryptor&) = delete;

    // The file's first bytes: the header (stanzas and MAC) and the payload nonce.
    const std::string& header() const;
    // Appends to `out` the chunks `data` completes. A full chunk is sealed only when more
    // bytes follow it (the last chunk carries a flag), so up to chunk_size bytes stay buffered.
    void update(const char* data, std::size_t size, std::string& out);
    // Seals the last chunk into `out`. No update() after it.
    void finish(std::string& out);

  private:
    struct State;
    std::unique_ptr<State> state_;
};

// Reads one age file: the header parsed, its MAC checked and the file key unwrapped once.
class Decryptor {
  public:
    // The length of header and payload nonce when `file_start` holds all of them; nullopt when
    // more bytes are needed. Throws Error naming `what` when the bytes cannot begin an age v1
    // file.
    static std::optional<std::size_t> header_length(std::string_view file_start,
                                                    const std::string& what);
    // `file_start` holds at least header_length() bytes. Throws Error naming `what` when it is
    // not an age v1 header, when no identity opens it ("none of the configured age identities
    // …", also for scrypt or other recipient types), or when the header's MAC is wrong.
    Decryptor(std::string_view file_start, const std::vector<Identity>& identities,
              const std::string& what);
    ~Decryptor();
    Decryptor(const Decryptor&) = delete;
    Decryptor& operator=(const Decryptor&) = delete;

    // Where the payload starts in the file (header_length()).
    std::size_t payload_offset() const;
    // Opens payload chunk `index` (its ciphertext with tag); `last` when it must be the final
    // chunk. Appends the plaintext to `out`. Throws Error naming `what` and the chunk when it
    // does not authenticate (a flipped byte, a swapped or dropped chunk, a truncated file).
    void open_chunk(std::uint64_t index, bool last, const char* data, std::size_t size,
                    std::string& out) const;

  private:
    struct State;
    std::unique_ptr<State> state_;
    std::string what_;
};

// An ArchiveSource over the plaintext of the age file `encrypted`: its name and describe() are
// the encrypted file's, size() the plaintext's, and read(offset, length) reads only the chunks
// that hold those bytes (one ranged read of the inner source), opening each. The header is read
// and the file key unwrapped here, once. Throws Error (see Decryptor) when the header cannot be
// read or opened, or when the file's size is not that of an age payload.
std::shared_ptr<const ArchiveSource> decrypting_source(
    std::shared_ptr<const ArchiveSource> encrypted, const std::vector<Identity>& identities);

}  // namespace pgtier::age
