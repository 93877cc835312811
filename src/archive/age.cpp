#include "pgtier/archive/age.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>
#include <utility>

#include "pgtier/core/errors.hpp"

namespace pgtier::age {

namespace {

constexpr std::string_view intro_line = "age-encryption.org/v1\n";
constexpr std::string_view stanza_prefix = "-> ";
constexpr std::string_view footer_prefix = "---";
constexpr std::string_view x25519_label = "age-encryption.org/v1/X25519";
constexpr std::string_view recipient_hrp = "age";
constexpr std::string_view identity_hrp = "age-secret-key-";

constexpr std::size_t file_key_size = 16;
constexpr std::size_t aead_nonce_size = 12;
constexpr std::size_t sealed_chunk_size = chunk_size + tag_size;
constexpr std::size_t body_columns = 64;  // base64 columns of a full body line
constexpr std::size_t wrapped_key_size = file_key_size + tag_size;
// No age header pgtier meets holds more than a few stanzas; the bound keeps a file that is not
// one from being read whole in search of a header end.
constexpr std::size_t max_header_size = 1 << 20;

// ---- OpenSSL handles, freed by unique_ptr.

struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct CipherFree {
    void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};
struct KdfFree {
    void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
};
struct KdfCtxFree {
    void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
struct MacFree {
    void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

[[noreturn]] void openssl_failure(const char* step) {
    throw Error(std::string("OpenSSL: ") + step + " failed");
}

// Key bytes on the stack, cleansed when they go out of scope.
template <std::size_t N>
struct SecretBytes {
    std::array<unsigned char, N> bytes{};
    SecretBytes() = default;
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    ~SecretBytes() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
    unsigned char* data() { return bytes.data(); }
    const unsigned char* data() const { return bytes.data(); }
    static constexpr std::size_t size() { return N; }
};

// A string holding key material (a key's text, its 5-bit groups), cleansed when it goes.
struct SecretString {
    std::string text;
    SecretString() = default;
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;
    ~SecretString() { OPENSSL_cleanse(text.data(), text.size()); }
};

// Fetched once: the implicit fetch of EVP_chacha20_poly1305() on every init costs a provider
// lookup per 64 KiB chunk under OpenSSL 3.
const EVP_CIPHER* chacha20_poly1305() {
    static const std::unique_ptr<EVP_CIPHER, CipherFree> cipher(
        EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr));
    if (!cipher) openssl_failure("fetching ChaCha20-Poly1305");
    return cipher.get();
}

Key32 x25519_public_key(const Key32& secret) {
    const Pkey key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
    if (!key) openssl_failure("loading an X25519 secret key");
    Key32 public_key{};
    std::size_t length = public_key.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 ||
        length != public_key.size())
        openssl_failure("deriving an X25519 public key");
    return public_key;
}

// The X25519 shared secret; false when it is all zero (a low-order point, which age refuses:
// it would make the wrapping key independent of the secret key).
bool x25519_shared_secret(const Key32& secret, const Key32& peer_public, Key32& shared) {
    const Pkey own(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
    const Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                                peer_public.size()));
    if (!own || !peer) openssl_failure("loading X25519 keys");
    const PkeyCtx ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) openssl_failure("X25519 derive init");
    // OpenSSL itself refuses an all-zero result here; the check below says so either way.
    std::size_t length = shared.size();
    if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), shared.data(), &length) != 1) {
        ERR_clear_error();
        return false;
    }
    unsigned char any_bit = 0;
    for (unsigned char byte : shared) any_bit |= byte;
    return length == shared.size() && any_bit != 0;
}

// HKDF-SHA-256 (RFC 5869) of `ikm`, 32 bytes out.
void hkdf_sha256(const unsigned char* ikm, std::size_t ikm_size, const unsigned char* salt,
                 std::size_t salt_size, std::string_view info, unsigned char* out) {
    static const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) openssl_failure("fetching HKDF");
    const std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) openssl_failure("HKDF context");
    char digest[] = "SHA256";
    OSSL_PARAM params[5];
    std::size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                    const_cast<unsigned char*>(ikm), ikm_size);
    // An empty salt is left out: HKDF then uses HashLen zero bytes, the same HMAC key.
    if (salt_size > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt), salt_size);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<char*>(info.data()), info.size());
    params[n] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx.get(), out, 32, params) != 1) openssl_failure("HKDF-SHA-256");
}

Key32 hmac_sha256(const unsigned char* key, std::string_view message) {
    static const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) openssl_failure("fetching HMAC");
    const std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(mac.get()));
    if (!ctx) openssl_failure("HMAC context");
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    Key32 out{};
    std::size_t length = 0;
    if (EVP_MAC_init(ctx.get(), key, 32, params) != 1 ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &length, out.size()) != 1 || length != out.size())
        openssl_failure("HMAC-SHA-256");
    return out;
}

// ChaCha20-Poly1305 with a 32-byte key and 12-byte nonce, no associated data: appends the
// ciphertext and its tag to `out`.
void aead_seal(const unsigned char* key, const unsigned char* nonce, const unsigned char* plain,
               std::size_t size, std::string& out) {
    const CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex2(ctx.get(), chacha20_poly1305(), key, nonce, nullptr) != 1)
        openssl_failure("ChaCha20-Poly1305 init");
    const std::size_t start = out.size();
    out.resize(start + size + tag_size);
    auto* dest = reinterpret_cast<unsigned char*>(out.data() + start);
    int written = 0;
    int final_written = 0;
    if ((size > 0 &&
         EVP_EncryptUpdate(ctx.get(), dest, &written, plain, static_cast<int>(size)) != 1) ||
        EVP_EncryptFinal_ex(ctx.get(), dest + written, &final_written) != 1 ||
        static_cast<std::size_t>(written) + static_cast<std::size_t>(final_written) != size ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag_size),
                            dest + size) != 1)
        openssl_failure("ChaCha20-Poly1305 seal");
}

// The inverse of aead_seal: appends the plaintext of `sealed` (ciphertext and tag) to `out`;
// false, with `out` as it was, when it does not authenticate.
bool aead_open(const unsigned char* key, const unsigned char* nonce, const unsigned char* sealed,
               std::size_t size, std::string& out) {
    if (size < tag_size) return false;
    const std::size_t plain_size = size - tag_size;
    const CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_DecryptInit_ex2(ctx.get(), chacha20_poly1305(), key, nonce, nullptr) != 1)
        openssl_failure("ChaCha20-Poly1305 init");
    const std::size_t start = out.size();
    out.resize(start + plain_size);
    auto* dest = reinterpret_cast<unsigned char*>(out.data() + start);
    int written = 0;
    int final_written = 0;
    // The tag is set before the final call, which checks it; the ctrl takes a non-const buffer.
    unsigned char tag[tag_size];
    std::copy_n(sealed + plain_size, tag_size, tag);
    const bool ok = (plain_size == 0 || EVP_DecryptUpdate(ctx.get(), dest, &written, sealed,
                                                          static_cast<int>(plain_size)) == 1) &&
                    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG,
                                        static_cast<int>(tag_size), tag) == 1 &&
                    EVP_DecryptFinal_ex(ctx.get(), dest + written, &final_written) == 1;
    if (!ok) {
        ERR_clear_error();
        OPENSSL_cleanse(dest, plain_size);  // unauthenticated plaintext is never handed out
        out.resize(start);
        return false;
    }
    return true;
}

// ---- Unpadded standard base64, canonical only (age's header is not malleable).

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const unsigned char* data, std::size_t size) {
    std::string out;
    out.reserve((size * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const unsigned group = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        out += base64_alphabet[(group >> 18) & 63];
        out += base64_alphabet[(group >> 12) & 63];
        out += base64_alphabet[(group >> 6) & 63];
        out += base64_alphabet[group & 63];
    }
    if (size - i == 1) {
        const unsigned group = data[i] << 16;
        out += base64_alphabet[(group >> 18) & 63];
        out += base64_alphabet[(group >> 12) & 63];
    } else if (size - i == 2) {
        const unsigned group = (data[i] << 16) | (data[i + 1] << 8);
        out += base64_alphabet[(group >> 18) & 63];
        out += base64_alphabet[(group >> 12) & 63];
        out += base64_alphabet[(group >> 6) & 63];
    }
    return out;
}

int base64_value(char c) {
    const auto at = base64_alphabet.find(c);
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// nullopt when `text` is not canonical unpadded base64: a character outside the alphabet
// (padding included), a length no encoding has, or unused low bits that are not zero.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    unsigned bits = 0;
    int bit_count = 0;
    for (char c : text) {
        const int value = base64_value(c);
        if (value < 0) return std::nullopt;
        bits = ((bits << 6) | static_cast<unsigned>(value)) & 0xfff;
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out += static_cast<char>((bits >> bit_count) & 0xff);
        }
    }
    if ((bits & ((1U << bit_count) - 1)) != 0) return std::nullopt;
    return out;
}

// ---- Bech32 (BIP 173) with age's HRPs; no 90-character limit, as in age.

constexpr std::string_view bech32_charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t bech32_polymod(const std::string& values) {
    constexpr std::uint32_t generator[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                           0x2a1462b3};
    std::uint32_t checksum = 1;
    for (char value : values) {
        const std::uint32_t top = checksum >> 25;
        checksum = ((checksum & 0x1ffffff) << 5) ^ static_cast<unsigned char>(value);
        for (int i = 0; i < 5; ++i)
            if (((top >> i) & 1) != 0) checksum ^= generator[i];
    }
    return checksum;
}

// The HRP expanded for the checksum, followed by `groups` (5-bit values).
std::string checksum_input(std::string_view hrp, std::string_view groups) {
    std::string values;
    values.reserve(hrp.size() * 2 + 1 + groups.size() + 6);
    for (char c : hrp) values += static_cast<char>(static_cast<unsigned char>(c) >> 5);
    values += '\0';
    for (char c : hrp) values += static_cast<char>(c & 31);
    values.append(groups);
    return values;
}

// Lower-case bech32 of `data` under `hrp` (lower case).
std::string bech32_encode(std::string_view hrp, const unsigned char* data, std::size_t size) {
    SecretString groups;
    unsigned bits = 0;
    int bit_count = 0;
    for (std::size_t i = 0; i < size; ++i) {
        bits = ((bits << 8) | data[i]) & 0xfff;
        bit_count += 8;
        while (bit_count >= 5) {
            bit_count -= 5;
            groups.text += static_cast<char>((bits >> bit_count) & 31);
        }
    }
    if (bit_count > 0) groups.text += static_cast<char>((bits << (5 - bit_count)) & 31);
    SecretString values;
    values.text = checksum_input(hrp, groups.text);
    values.text.append(6, '\0');
    const std::uint32_t checksum = bech32_polymod(values.text) ^ 1;
    std::string out(hrp);
    out += '1';
    for (char group : groups.text) out += bech32_charset[static_cast<unsigned char>(group)];
    for (int i = 0; i < 6; ++i) out += bech32_charset[(checksum >> (5 * (5 - i))) & 31];
    return out;
}

struct Bech32 {
    std::string hrp;  // lower case
    SecretString data;
};

// Why `text` is not bech32, or empty with `decoded` filled. All lower or all upper case.
std::string bech32_decode(std::string_view text, Bech32& decoded) {
    bool has_lower = false;
    bool has_upper = false;
    for (char c : text) {
        if (c < 33 || c > 126) return "a character that bech32 does not use";
        has_lower = has_lower || (c >= 'a' && c <= 'z');
        has_upper = has_upper || (c >= 'A' && c <= 'Z');
    }
    if (has_lower && has_upper) return "mixed upper and lower case";
    const auto separator = text.rfind('1');
    if (separator == std::string_view::npos || separator == 0)
        return "no human-readable part before the separator '1'";
    if (text.size() - separator - 1 < 6) return "too short for a bech32 checksum";
    std::string hrp;
    for (char c : text.substr(0, separator))
        hrp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    SecretString groups;
    for (char c : text.substr(separator + 1)) {
        const auto at =
            bech32_charset.find(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (at == std::string_view::npos) return "a character outside the bech32 alphabet";
        groups.text += static_cast<char>(at);
    }
    SecretString values;
    values.text = checksum_input(hrp, groups.text);
    if (bech32_polymod(values.text) != 1) return "the bech32 checksum is wrong (a mistyped key?)";
    groups.text.resize(groups.text.size() - 6);
    unsigned bits = 0;
    int bit_count = 0;
    for (char group : groups.text) {
        bits = ((bits << 5) | static_cast<unsigned char>(group)) & 0xfff;
        bit_count += 5;
        if (bit_count >= 8) {
            bit_count -= 8;
            decoded.data.text += static_cast<char>((bits >> bit_count) & 0xff);
        }
    }
    if (bit_count >= 5 || (bits & ((1U << bit_count) - 1)) != 0) return "invalid bech32 padding";
    decoded.hrp = std::move(hrp);
    return {};
}

// ---- The header.

struct Stanza {
    std::vector<std::string> args;  // args[0] is the type
    std::string body;
};

struct Header {
    std::vector<Stanza> stanzas;
    std::size_t mac_input_size = 0;  // the bytes the MAC covers: up to and including "---"
    Key32 mac{};
    std::size_t length = 0;  // header and payload nonce
};

bool is_vchar(char c) {
    return c >= 33 && c <= 126;
}

std::vector<std::string> split_args(std::string_view line) {
    std::vector<std::string> args;
    std::size_t start = 0;
    while (true) {
        const auto space = line.find(' ', start);
        args.emplace_back(line.substr(start, space - start));
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    return args;
}

// The header at the start of `file`, nullopt when `file` ends inside it (or inside the payload
// nonce). Throws Error naming `what` when the bytes are not an age v1 header.
std::optional<Header> parse_header(std::string_view file, const std::string& what) {
    auto refuse = [&](const std::string& why) -> Error {
        return Error(what + ": not a valid age v1 file: " + why);
    };
    if (file.substr(0, 5) == "-----")
        throw refuse(
            "it is ASCII-armored (-----BEGIN AGE ENCRYPTED FILE-----); pgtier reads "
            "binary age files, as `age` writes them without -a");
    if (file.size() < intro_line.size()) {
        if (intro_line.substr(0, file.size()) != file)
            throw refuse("it does not begin with \"age-encryption.org/v1\"");
        return std::nullopt;
    }
    if (file.substr(0, intro_line.size()) != intro_line)
        throw refuse("it does not begin with \"age-encryption.org/v1\"");

    Header header;
    std::size_t pos = intro_line.size();
    bool in_body = false;  // a stanza's body lines are being read
    for (std::size_t line_number = 2;; ++line_number) {
        if (pos > max_header_size)
            throw refuse("no header end within the first " + std::to_string(max_header_size) +
                         " bytes");
        const auto newline = file.find('\n', pos);
        const std::string_view line =
            file.substr(pos, newline == std::string_view::npos ? file.size() - pos : newline - pos);
        const std::string where = "header line " + std::to_string(line_number);
        for (char c : line)
            if (c < 32 || c > 126)
                throw refuse(where + " holds a byte that is not printable ASCII");
        if (newline == std::string_view::npos) {
            if (line.size() > max_header_size)
                throw refuse("no header end within the first " + std::to_string(max_header_size) +
                             " bytes");
            return std::nullopt;
        }
        pos = newline + 1;

        if (line.substr(0, footer_prefix.size()) == footer_prefix) {
            if (in_body) throw refuse("the last stanza's body has no final short line");
            if (line.size() < 4 || line[3] != ' ')
                throw refuse("malformed MAC line (\"--- \" and the MAC expected)");
            const auto mac = base64_decode(line.substr(4));
            if (!mac || mac->size() != header.mac.size())
                throw refuse(
                    "malformed MAC line (the MAC is not 32 bytes of canonical "
                    "unpadded base64)");
            if (header.stanzas.empty()) throw refuse("the header has no recipient stanza");
            std::copy(mac->begin(), mac->end(), header.mac.begin());
            header.mac_input_size = (newline - line.size()) + footer_prefix.size();
            if (file.size() - pos < nonce_size) return std::nullopt;
            header.length = pos + nonce_size;
            return header;
        }
        if (line.substr(0, 2) == "->") {
            if (in_body) throw refuse("a stanza's body has no final short line");
            if (line.substr(0, stanza_prefix.size()) != stanza_prefix)
                throw refuse(where + ": malformed stanza line");
            Stanza stanza;
            stanza.args = split_args(line.substr(stanza_prefix.size()));
            for (const auto& arg : stanza.args)
                if (arg.empty() || !std::all_of(arg.begin(), arg.end(), is_vchar))
                    throw refuse(where + ": malformed stanza line (an empty argument)");
            header.stanzas.push_back(std::move(stanza));
            in_body = true;
            continue;
        }
        if (!in_body) throw refuse(where + " is neither a stanza, a stanza body nor the MAC");
        if (line.size() > body_columns)
            throw refuse(where + ": a stanza body line longer than 64 columns");
        const auto bytes = base64_decode(line);
        if (!bytes) throw refuse(where + ": a stanza body line is not canonical unpadded base64");
        header.stanzas.back().body += *bytes;
        // Every body ends with a short line (an empty one when it fills whole lines).
        if (line.size() < body_columns) in_body = false;
    }
}

// The 12-byte nonce of payload chunk `index`: the counter big-endian in 11 bytes, then the
// last-chunk flag.
std::array<unsigned char, aead_nonce_size> chunk_nonce(std::uint64_t index, bool last) {
    std::array<unsigned char, aead_nonce_size> nonce{};
    for (std::size_t i = 0; i < 8; ++i)
        nonce[10 - i] = static_cast<unsigned char>((index >> (8 * i)) & 0xff);
    nonce[11] = last ? 1 : 0;
    return nonce;
}

Key32 header_mac(const unsigned char* file_key, std::string_view mac_input) {
    SecretBytes<32> mac_key;
    hkdf_sha256(file_key, file_key_size, nullptr, 0, "header", mac_key.data());
    return hmac_sha256(mac_key.data(), mac_input);
}

std::string describe_chunk(std::uint64_t index) {
    return "payload chunk " + std::to_string(index);
}

}  // namespace

// ---- Keys.

Identity::~Identity() {
    OPENSSL_cleanse(secret_key.data(), secret_key.size());
}

Recipient parse_recipient(std::string_view text, const std::string& source) {
    Bech32 decoded;
    std::string why = bech32_decode(text, decoded);
    if (why.empty() && decoded.hrp != recipient_hrp) why = "not an age X25519 recipient (age1…)";
    if (why.empty() && text.substr(0, 4) != "age1") why = "an age recipient is lower case";
    if (why.empty() && decoded.data.text.size() != Key32{}.size()) why = "the key is not 32 bytes";
    if (!why.empty()) {
        // A secret key given where a recipient belongs is not repeated in the message.
        const bool looks_secret = text.size() >= 15 && (text.substr(0, 15) == "AGE-SECRET-KEY-" ||
                                                        text.substr(0, 15) == "age-secret-key-");
        throw ConfigError(source + ": invalid age recipient" +
                          (looks_secret ? std::string(" (a secret key, not quoted)")
                                        : " \"" + std::string(text) + "\"") +
                          ": " + why);
    }
    Recipient recipient;
    std::copy(decoded.data.text.begin(), decoded.data.text.end(), recipient.public_key.begin());
    return recipient;
}

std::string recipient_text(const Recipient& recipient) {
    return bech32_encode(recipient_hrp, recipient.public_key.data(), recipient.public_key.size());
}

std::vector<Identity> parse_identities(std::string_view text, const std::string& source) {
    std::vector<Identity> identities;
    std::size_t pos = 0;
    for (std::size_t line_number = 1; pos < text.size(); ++line_number) {
        const auto newline = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, newline == std::string_view::npos ? text.size() - pos : newline - pos);
        pos = newline == std::string_view::npos ? text.size() : newline + 1;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())) != 0)
            line.remove_suffix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())) != 0)
            line.remove_prefix(1);
        if (line.empty() || line.front() == '#') continue;

        const std::string where = source + " line " + std::to_string(line_number);
        if (line.substr(0, 11) == "AGE-PLUGIN-")
            throw ConfigError(where +
                              ": an age plugin identity; pgtier reads X25519 identities "
                              "(AGE-SECRET-KEY-1…) only");
        if (line.substr(0, 16) != "AGE-SECRET-KEY-1")
            throw ConfigError(where +
                              ": neither an age identity (AGE-SECRET-KEY-1…), a "
                              "comment nor a blank line");
        Bech32 decoded;
        std::string why = bech32_decode(line, decoded);
        if (why.empty() && decoded.hrp != identity_hrp) why = "not an X25519 identity";
        if (why.empty() && decoded.data.text.size() != Key32{}.size())
            why = "the key is not 32 bytes";
        // The line itself is never quoted: it is a secret key, even when mistyped.
        if (!why.empty()) throw ConfigError(where + ": invalid age identity: " + why);
        Identity& identity = identities.emplace_back();
        std::copy(decoded.data.text.begin(), decoded.data.text.end(), identity.secret_key.begin());
        identity.public_key = x25519_public_key(identity.secret_key);
    }
    if (identities.empty())
        throw ConfigError(source + " holds no age identity (an AGE-SECRET-KEY-1… line)");
    return identities;
}

std::string identity_text(const Identity& identity) {
    SecretString lower;
    lower.text =
        bech32_encode(identity_hrp, identity.secret_key.data(), identity.secret_key.size());
    std::string upper = lower.text;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper;
}

Identity generate_identity() {
    Identity identity;
    if (RAND_bytes(identity.secret_key.data(), static_cast<int>(identity.secret_key.size())) != 1)
        openssl_failure("RAND_bytes");
    identity.public_key = x25519_public_key(identity.secret_key);
    return identity;
}

Recipient recipient_of(const Identity& identity) {
    return Recipient{identity.public_key};
}

// ---- Payload arithmetic.

std::uint64_t encrypted_payload_size(std::uint64_t plaintext_size) {
    const std::uint64_t chunks =
        plaintext_size == 0 ? 1 : plaintext_size / chunk_size + (plaintext_size % chunk_size != 0);
    return plaintext_size + chunks * tag_size;
}

std::optional<std::uint64_t> plaintext_size(std::uint64_t payload_size) {
    if (payload_size < tag_size) return std::nullopt;
    const std::uint64_t chunks =
        payload_size / sealed_chunk_size + (payload_size % sealed_chunk_size != 0);
    const std::uint64_t last_chunk = payload_size - (chunks - 1) * sealed_chunk_size;
    if (last_chunk < tag_size) return std::nullopt;  // a few bytes past the last full chunk
    if (last_chunk == tag_size && chunks > 1) return std::nullopt;  // an empty last chunk
    return payload_size - chunks * tag_size;
}

// ---- Encryptor.

struct Encryptor::State {
    SecretBytes<32> payload_key;
    std::string header;
    std::string pending;  // plaintext not yet sealed, at most chunk_size bytes
    std::uint64_t next_chunk = 0;
    bool finished = false;

    ~State() { OPENSSL_cleanse(pending.data(), pending.size()); }

    void seal(const char* data, std::size_t size, bool last, std::string& out) {
        const auto nonce = chunk_nonce(next_chunk, last);
        aead_seal(payload_key.data(), nonce.data(), reinterpret_cast<const unsigned char*>(data),
                  size, out);
        ++next_chunk;
    }
};

Encryptor::Encryptor(const std::vector<Recipient>& recipients) : state_(std::make_unique<State>()) {
    if (recipients.empty()) throw Error("age encryption needs at least one recipient");
    SecretBytes<file_key_size> file_key;
    std::array<unsigned char, nonce_size> payload_nonce{};
    if (RAND_bytes(file_key.data(), static_cast<int>(file_key.size())) != 1 ||
        RAND_bytes(payload_nonce.data(), static_cast<int>(payload_nonce.size())) != 1)
        openssl_failure("RAND_bytes");

    std::string& header = state_->header;
    header = intro_line;
    for (const Recipient& recipient : recipients) {
        SecretBytes<32> ephemeral_secret;
        if (RAND_bytes(ephemeral_secret.data(), static_cast<int>(ephemeral_secret.size())) != 1)
            openssl_failure("RAND_bytes");
        const Key32 ephemeral_share = x25519_public_key(ephemeral_secret.bytes);
        SecretBytes<32> shared;
        if (!x25519_shared_secret(ephemeral_secret.bytes, recipient.public_key, shared.bytes))
            throw Error("the age recipient " + recipient_text(recipient) +
                        " is not a usable X25519 public key (a low-order point)");
        std::array<unsigned char, 64> salt{};
        std::copy(ephemeral_share.begin(), ephemeral_share.end(), salt.begin());
        std::copy(recipient.public_key.begin(), recipient.public_key.end(), salt.begin() + 32);
        SecretBytes<32> wrapping_key;
        hkdf_sha256(shared.data(), shared.size(), salt.data(), salt.size(), x25519_label,
                    wrapping_key.data());
        const std::array<unsigned char, aead_nonce_size> zero_nonce{};
        std::string wrapped;
        aead_seal(wrapping_key.data(), zero_nonce.data(), file_key.data(), file_key.size(),
                  wrapped);
        header += "-> X25519 ";
        header += base64_encode(ephemeral_share.data(), ephemeral_share.size());
        header += '\n';
        // 32 bytes are 43 columns: one short body line.
        header +=
            base64_encode(reinterpret_cast<const unsigned char*>(wrapped.data()), wrapped.size());
        header += '\n';
    }
    header += footer_prefix;
    const Key32 mac = header_mac(file_key.data(), header);
    header += ' ';
    header += base64_encode(mac.data(), mac.size());
    header += '\n';
    header.append(reinterpret_cast<const char*>(payload_nonce.data()), payload_nonce.size());
    hkdf_sha256(file_key.data(), file_key.size(), payload_nonce.data(), payload_nonce.size(),
                "payload", state_->payload_key.data());
}

Encryptor::~Encryptor() = default;

const std::string& Encryptor::header() const {
    return state_->header;
}

void Encryptor::update(const char* data, std::size_t size, std::string& out) {
    if (state_->finished) throw Error("age: update() after finish()");
    std::string& pending = state_->pending;
    // Top up the pending chunk; it is sealed only once a byte after it is known to exist.
    const std::size_t top_up = std::min(size, chunk_size - pending.size());
    pending.append(data, top_up);
    data += top_up;
    size -= top_up;
    if (size == 0) return;
    state_->seal(pending.data(), pending.size(), false, out);
    pending.clear();
    // Whole chunks straight from `data`, keeping the final one (full or not) pending.
    while (size > chunk_size) {
        state_->seal(data, chunk_size, false, out);
        data += chunk_size;
        size -= chunk_size;
    }
    pending.assign(data, size);
}

void Encryptor::finish(std::string& out) {
    if (state_->finished) throw Error("age: finish() called twice");
    state_->seal(state_->pending.data(), state_->pending.size(), true, out);
    OPENSSL_cleanse(state_->pending.data(), state_->pending.size());
    state_->pending.clear();
    state_->finished = true;
}

// ---- Decryptor.

struct Decryptor::State {
    SecretBytes<32> payload_key;
    std::size_t payload_offset = 0;
};

std::optional<std::size_t> Decryptor::header_length(std::string_view file_start,
                                                    const std::string& what) {
    const auto header = parse_header(file_start, what);
    if (!header) return std::nullopt;
    return header->length;
}

Decryptor::Decryptor(std::string_view file_start, const std::vector<Identity>& identities,
                     const std::string& what)
    : state_(std::make_unique<State>()), what_(what) {
    const auto header = parse_header(file_start, what);
    if (!header) throw Error(what + ": the age header is truncated");

    std::vector<std::string> types;
    for (const Stanza& stanza : header->stanzas)
        if (std::find(types.begin(), types.end(), stanza.args[0]) == types.end())
            types.push_back(stanza.args[0]);
    const bool has_scrypt = std::find(types.begin(), types.end(), "scrypt") != types.end();
    if (has_scrypt && header->stanzas.size() > 1)
        throw Error(what + ": not a valid age v1 file: an scrypt stanza must be the only one");

    std::optional<SecretBytes<file_key_size>> file_key;
    for (const Stanza& stanza : header->stanzas) {
        if (stanza.args[0] != "X25519") continue;  // another recipient type (or grease)
        if (stanza.args.size() != 2)
            throw Error(what + ": not a valid age v1 file: an X25519 stanza has " +
                        std::to_string(stanza.args.size() - 1) + " arguments, not 1");
        const auto share = base64_decode(stanza.args[1]);
        if (!share || share->size() != Key32{}.size())
            throw Error(what +
                        ": not a valid age v1 file: an X25519 stanza's ephemeral share "
                        "is not 32 bytes of canonical base64");
        if (stanza.body.size() != wrapped_key_size)
            throw Error(what + ": not a valid age v1 file: an X25519 stanza's body is " +
                        std::to_string(stanza.body.size()) + " bytes, not " +
                        std::to_string(wrapped_key_size));
        Key32 ephemeral_share{};
        std::copy(share->begin(), share->end(), ephemeral_share.begin());
        for (const Identity& identity : identities) {
            SecretBytes<32> shared;
            if (!x25519_shared_secret(identity.secret_key, ephemeral_share, shared.bytes))
                throw Error(what +
                            ": an X25519 stanza's ephemeral share is a low-order point "
                            "(an all-zero shared secret); refusing the file");
            std::array<unsigned char, 64> salt{};
            std::copy(ephemeral_share.begin(), ephemeral_share.end(), salt.begin());
            std::copy(identity.public_key.begin(), identity.public_key.end(), salt.begin() + 32);
            SecretBytes<32> wrapping_key;
            hkdf_sha256(shared.data(), shared.size(), salt.data(), salt.size(), x25519_label,
                        wrapping_key.data());
            const std::array<unsigned char, aead_nonce_size> zero_nonce{};
            SecretString unwrapped;
            if (!aead_open(wrapping_key.data(), zero_nonce.data(),
                           reinterpret_cast<const unsigned char*>(stanza.body.data()),
                           stanza.body.size(), unwrapped.text))
                continue;  // wrapped for someone else
            file_key.emplace();
            std::copy(unwrapped.text.begin(), unwrapped.text.end(), file_key->data());
            break;
        }
        if (file_key) break;
    }
    if (!file_key) {
        std::string listed;
        for (const auto& type : types) listed += (listed.empty() ? "" : ", ") + type;
        std::string message = what + ": none of the configured age identities opens it";
        if (has_scrypt)
            message +=
                " (it is passphrase-encrypted, an scrypt stanza; pgtier opens X25519 "
                "recipients only)";
        else
            message += " (recipient stanzas in its header: " + listed + ")";
        throw Error(message);
    }

    const Key32 expected =
        header_mac(file_key->data(), file_start.substr(0, header->mac_input_size));
    if (CRYPTO_memcmp(expected.data(), header->mac.data(), expected.size()) != 0)
        throw Error(what +
                    ": the age header's MAC is wrong (the header was altered or is "
                    "corrupt)");
    const auto* nonce =
        reinterpret_cast<const unsigned char*>(file_start.data() + header->length - nonce_size);
    hkdf_sha256(file_key->data(), file_key->size(), nonce, nonce_size, "payload",
                state_->payload_key.data());
    state_->payload_offset = header->length;
}

Decryptor::~Decryptor() = default;

std::size_t Decryptor::payload_offset() const {
    return state_->payload_offset;
}

void Decryptor::open_chunk(std::uint64_t index, bool last, const char* data, std::size_t size,
                           std::string& out) const {
    const std::string chunk = what_ + ": " + describe_chunk(index);
    if (size < tag_size || size > sealed_chunk_size)
        throw Error(chunk + " is " + std::to_string(size) + " bytes, outside " +
                    std::to_string(tag_size) + ".." + std::to_string(sealed_chunk_size) +
                    " (a truncated or corrupt file)");
    if (!last && size != sealed_chunk_size)
        throw Error(chunk + " is short (" + std::to_string(size) +
                    " bytes) but not the last (a truncated or corrupt file)");
    if (last && size == tag_size && index > 0)
        throw Error(chunk + " is an empty last chunk after others, which age forbids");
    const auto nonce = chunk_nonce(index, last);
    if (!aead_open(state_->payload_key.data(), nonce.data(),
                   reinterpret_cast<const unsigned char*>(data), size, out))
        throw Error(chunk + (last ? " (the last)" : "") +
                    " does not authenticate: the file was altered, truncated or its chunks "
                    "reordered");
}

// ---- decrypting_source.

namespace {

class DecryptingSource final : public ArchiveSource {
  public:
    DecryptingSource(std::shared_ptr<const ArchiveSource> encrypted,
                     const std::vector<Identity>& identities)
        : encrypted_(std::move(encrypted)) {
        const std::string& where = encrypted_->describe();
        const std::uint64_t file_size = encrypted_->size();
        // Most headers fit in the first read; a longer one is read again, twice as far.
        std::string start;
        for (std::uint64_t want = 4096;; want *= 2) {
            const std::uint64_t length = std::min<std::uint64_t>(want, file_size);
            start.clear();
            encrypted_->read(0, length, "the age header",
                             [&](const char* data, std::size_t size) { start.append(data, size); });
            if (Decryptor::header_length(start, where)) break;
            if (length == file_size)
                throw Error(where + ": the age header is truncated (the file is " +
                            std::to_string(file_size) + " bytes)");
        }
        decryptor_ = std::make_unique<Decryptor>(start, identities, where);
        payload_size_ = file_size - decryptor_->payload_offset();
        const auto plain = plaintext_size(payload_size_);
        if (!plain)
            throw Error(where + ": the age payload's size (" + std::to_string(payload_size_) +
                        " bytes) is not that of any age payload: the file is truncated or has "
                        "bytes appended");
        plaintext_size_ = *plain;
        chunk_count_ = payload_size_ / sealed_chunk_size + (payload_size_ % sealed_chunk_size != 0);
    }

    const std::string& name() const override { return encrypted_->name(); }
    const std::string& describe() const override { return encrypted_->describe(); }
    std::uint64_t size() const override { return plaintext_size_; }

    void read(std::uint64_t offset, std::uint64_t length, const std::string& what,
              const ByteSink& sink) const override {
        if (offset > plaintext_size_ || length > plaintext_size_ - offset)
            throw Error(describe() + " is truncated: " + what + " should end at byte " +
                        std::to_string(offset + length) + " of the decrypted content, which has " +
                        std::to_string(plaintext_size_) + " bytes");
        if (length == 0) return;
        const std::uint64_t first = offset / chunk_size;
        const std::uint64_t last = (offset + length - 1) / chunk_size;
        const std::uint64_t begin = first * sealed_chunk_size;
        const std::uint64_t end = std::min(payload_size_, (last + 1) * sealed_chunk_size);

        std::string sealed;
        sealed.reserve(sealed_chunk_size);
        std::string plain;
        plain.reserve(chunk_size);
        std::uint64_t index = first;
        auto open_pending = [&] {
            plain.clear();
            decryptor_->open_chunk(index, index + 1 == chunk_count_, sealed.data(), sealed.size(),
                                   plain);
            sealed.clear();
            // The part of this chunk inside [offset, offset + length).
            const std::uint64_t chunk_start = index * chunk_size;
            const std::uint64_t from = std::max(offset, chunk_start) - chunk_start;
            const std::uint64_t to =
                std::min(offset + length, chunk_start + plain.size()) - chunk_start;
            sink(plain.data() + from, static_cast<std::size_t>(to - from));
            ++index;
        };
        encrypted_->read(
            decryptor_->payload_offset() + begin, end - begin, what,
            [&](const char* data, std::size_t size) {
                while (size > 0) {
                    if (index > last)
                        throw Error(describe() + ": " + what + ": more bytes than were asked for");
                    const std::size_t take = std::min(
                        size, static_cast<std::size_t>(sealed_size(index) - sealed.size()));
                    sealed.append(data, take);
                    data += take;
                    size -= take;
                    if (sealed.size() == sealed_size(index)) open_pending();
                }
            });
        if (index != last + 1)
            throw Error(describe() + ": " + what + ": the encrypted range ended inside " +
                        describe_chunk(index));
    }

  private:
    // The bytes of sealed chunk `index` (the last one may be short).
    std::uint64_t sealed_size(std::uint64_t index) const {
        return index + 1 < chunk_count_ ? sealed_chunk_size
                                        : payload_size_ - index * sealed_chunk_size;
    }

    std::shared_ptr<const ArchiveSource> encrypted_;
    std::unique_ptr<Decryptor> decryptor_;
    std::uint64_t payload_size_ = 0;
    std::uint64_t plaintext_size_ = 0;
    std::uint64_t chunk_count_ = 0;
};

}  // namespace

std::shared_ptr<const ArchiveSource> decrypting_source(
    std::shared_ptr<const ArchiveSource> encrypted, const std::vector<Identity>& identities) {
    return std::make_shared<DecryptingSource>(std::move(encrypted), identities);
}

}  // namespace pgtier::age
