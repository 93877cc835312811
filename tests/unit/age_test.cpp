#include "catch_compat.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "pgtier/archive/age.hpp"
#include "pgtier/core/errors.hpp"

using namespace pgtier;

namespace {

// A key pair age-keygen 1.1.1 wrote, and a file `age -r` 1.1.1 encrypted to it.
const std::string reference_identity =
    "AGE-SECRET-KEY-13VUL75XRCJYG7669PRWLU4KTZWPXPR30AXXR0YV35YV7RJACF96Q5X692K";
const std::string reference_recipient =
    "age1asfjftafjamcm2yt9ynkas9tpc2atp6fapkvlajnyeluy9txeywscc67k6";
const std::string reference_plaintext = "pgtier age interop vector\n";
const std::string reference_file_hex =
    "6167652d656e6372797074696f6e2e6f72672f76310a2d3e205832353531392042705652374233755743666c5141"
    "455a6877583454454832356b527943506e3864586e5a3937794c5956730a6a665a5676614a356777715a36523839"
    "636849366b61322f513234764c796e68326872326a75454a64476b0a2d2d2d2075476873786242716d2f6e796f32"
    "4558347151416d4546325a55772b2f726e57566a6e464e70376430716b0a4b02f43160c166b4efc4e2fb7e5fb532"
    "62a27a542b6297136428f322f33ad696ed6862f445976e82b960a143086ea29b22d99599bb9eae875778";

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 generator(seed);
    std::string out(size, '\0');
    for (char& c : out) c = static_cast<char>(generator() & 0xff);
    return out;
}

// An archive held in memory that records the ranges read from it.
class MemorySource final : public ArchiveSource {
  public:
    explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
    const std::string& name() const override { return name_; }
    const std::string& describe() const override { return where_; }
    std::uint64_t size() const override { return bytes_.size(); }
    void read(std::uint64_t offset, std::uint64_t length, const std::string& what,
              const ByteSink& sink) const override {
        if (offset + length > bytes_.size()) throw Error(where_ + " is truncated: " + what);
        reads.emplace_back(offset, length);
        // In uneven pieces, so that chunks straddle the sink's calls.
        for (std::uint64_t done = 0; done < length;) {
            const std::uint64_t piece = std::min<std::uint64_t>(4099, length - done);
            sink(bytes_.data() + offset + done, static_cast<std::size_t>(piece));
            done += piece;
        }
    }
    mutable std::vector<std::pair<std::uint64_t, std::uint64_t>> reads;

  private:
    std::string bytes_;
    std::string name_ = "test.age";
    std::string where_ = "/backups/full/test.age";
};

std::string encrypt(const std::string& plaintext, const std::vector<age::Recipient>& recipients,
                    std::size_t feed = 1000) {
    age::Encryptor encryptor(recipients);
    std::string out = encryptor.header();
    for (std::size_t pos = 0; pos < plaintext.size(); pos += feed)
        encryptor.update(plaintext.data() + pos, std::min(feed, plaintext.size() - pos), out);
    encryptor.finish(out);
    return out;
}

std::string read_all(const ArchiveSource& source) {
    std::string out;
    source.read(0, source.size(), "the content",
                [&](const char* data, std::size_t size) { out.append(data, size); });
    return out;
}

std::string read_range(const ArchiveSource& source, std::uint64_t offset, std::uint64_t length) {
    std::string out;
    source.read(offset, length, "the range",
                [&](const char* data, std::size_t size) { out.append(data, size); });
    return out;
}

std::shared_ptr<const ArchiveSource> decrypting(const std::string& file,
                                                const std::vector<age::Identity>& identities) {
    return age::decrypting_source(std::make_shared<MemorySource>(file), identities);
}

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

const std::string dummy_mac(43, 'A');  // 32 zero bytes: canonical, and wrong for any header
const std::string dummy_share(43, 'A');
const std::string dummy_body(43, 'A');
const std::string nonce(16, 'n');

}  // namespace

TEST_CASE("age keys: the reference key pair of age-keygen", "[age]") {
    const auto identities = age::parse_identities(
        "# created: 2026-12-05T17:07:15Z\n# public key: " + reference_recipient + "\n" +
            reference_identity + "\n",
        "key.txt");
    REQUIRE(identities.size() == 1);
    CHECK(age::identity_text(identities[0]) == reference_identity);
    CHECK(age::recipient_text(age::recipient_of(identities[0])) == reference_recipient);
    const age::Recipient parsed = age::parse_recipient(reference_recipient, "config");
    CHECK(parsed.public_key == identities[0].public_key);
    CHECK(age::recipient_text(parsed) == reference_recipient);
}

TEST_CASE("age keys: bech32 round trip of generated keys", "[age]") {
    for (int i = 0; i < 20; ++i) {
        const age::Identity identity = age::generate_identity();
        const std::string text = age::identity_text(identity);
        CHECK_THAT(text, match::StartsWith("AGE-SECRET-KEY-1"));
        CHECK(text.size() == 74);
        const auto parsed = age::parse_identities(text, "generated");
        CHECK(parsed[0].secret_key == identity.secret_key);
        CHECK(parsed[0].public_key == identity.public_key);
        const std::string recipient = age::recipient_text(age::recipient_of(identity));
        CHECK(recipient.size() == 62);
        CHECK(age::parse_recipient(recipient, "r").public_key == identity.public_key);
    }
}

TEST_CASE("age keys: checksum and form refusals", "[age]") {
    // Every single-character change is caught by the checksum.
    for (std::size_t at = 4; at < reference_recipient.size(); ++at) {
        std::string typo = reference_recipient;
        typo[at] = typo[at] == 'q' ? 'p' : 'q';
        CHECK_THROWS_AS(age::parse_recipient(typo, "config"), ConfigError);
    }
    std::string typo = reference_recipient;
    typo[20] = typo[20] == 'q' ? 'p' : 'q';
    CHECK_THAT(error_of([&] { age::parse_recipient(typo, "config"); }),
               match::Contains("checksum"));
    std::string upper = reference_recipient;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK_THAT(error_of([&] { age::parse_recipient(upper, "config"); }),
               match::Contains("lower case"));
    std::string mixed = reference_recipient;
    mixed[10] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[10])));
    CHECK_THAT(error_of([&] { age::parse_recipient(mixed, "config"); }), match::Contains("mixed"));
    CHECK_THAT(error_of([&] { age::parse_recipient("age1", "config"); }),
               match::Contains("config"));
    // A secret key where a recipient belongs: refused, and not repeated.
    const std::string secret_error =
        error_of([&] { age::parse_recipient(reference_identity, "config"); });
    CHECK_THAT(secret_error, match::Contains("not an age X25519 recipient"));
    CHECK(secret_error.find(reference_identity) == std::string::npos);
    // A recipient's HRP with a secret key's data: the wrong type.
    CHECK_THROWS_AS(age::parse_identities(reference_recipient, "key.txt"), ConfigError);
}

TEST_CASE("age identities: file format and messages that never quote a key", "[age]") {
    const auto two = age::parse_identities("\n# one\n" + reference_identity + "\r\n\n  # two\n" +
                                               age::identity_text(age::generate_identity()) + "\n",
                                           "keys.txt");
    CHECK(two.size() == 2);

    std::string typo = reference_identity;
    typo[30] = typo[30] == 'Q' ? 'P' : 'Q';
    const std::string message = error_of([&] { age::parse_identities(typo, "/etc/pgtier/age"); });
    CHECK_THAT(message, match::Contains("/etc/pgtier/age line 1"));
    CHECK_THAT(message, match::Contains("checksum"));
    CHECK(message.find(typo.substr(16)) == std::string::npos);

    std::string lower = reference_identity;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK_THROWS_AS(age::parse_identities(lower, "k"), ConfigError);
    CHECK_THAT(error_of([] { age::parse_identities("# only a comment\n\n", "k"); }),
               match::Contains("holds no age identity"));
    CHECK_THAT(error_of([] { age::parse_identities("hunter2\n", "k"); }),
               match::Contains("k line 1: neither an age identity"));
    CHECK_THAT(error_of([] { age::parse_identities("AGE-PLUGIN-YUBIKEY-1QQQ\n", "k"); }),
               match::Contains("plugin"));
}

TEST_CASE("age payload arithmetic", "[age]") {
    const std::uint64_t full = age::chunk_size + age::tag_size;
    CHECK(age::encrypted_payload_size(0) == 16);
    CHECK(age::encrypted_payload_size(1) == 17);
    CHECK(age::encrypted_payload_size(age::chunk_size - 1) == full - 1);
    CHECK(age::encrypted_payload_size(age::chunk_size) == full);
    CHECK(age::encrypted_payload_size(age::chunk_size + 1) == full + 17);
    CHECK(age::encrypted_payload_size(3 * age::chunk_size) == 3 * full);

    CHECK(age::plaintext_size(0) == std::nullopt);
    CHECK(age::plaintext_size(15) == std::nullopt);
    CHECK(age::plaintext_size(16) == 0);
    CHECK(age::plaintext_size(17) == 1);
    CHECK(age::plaintext_size(full) == age::chunk_size);
    CHECK(age::plaintext_size(full + 1) == std::nullopt);   // a byte after a full chunk
    CHECK(age::plaintext_size(full + 15) == std::nullopt);  // a tag's worth short
    CHECK(age::plaintext_size(full + 16) == std::nullopt);  // an empty chunk after a full one
    CHECK(age::plaintext_size(full + 17) == age::chunk_size + 1);
    CHECK(age::plaintext_size(2 * full) == 2 * age::chunk_size);

    for (std::uint64_t n :
         {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{65535}, std::uint64_t{65536},
          std::uint64_t{65537}, std::uint64_t{1} << 30, (std::uint64_t{1} << 40) + 12345}) {
        CHECK(age::plaintext_size(age::encrypted_payload_size(n)) == n);
    }
    // Every payload size maps back to itself or is none at all.
    for (std::uint64_t size = 0; size < 3 * full + 40; ++size) {
        const auto plain = age::plaintext_size(size);
        if (plain) CHECK(age::encrypted_payload_size(*plain) == size);
    }
}

TEST_CASE("age: a file age 1.1.1 encrypted decrypts", "[age]") {
    const auto identities = age::parse_identities(reference_identity, "key");
    const std::string file = from_hex(reference_file_hex);
    REQUIRE(age::Decryptor::header_length(file, "vec") == file.size() - 26 - age::tag_size);
    const auto source = decrypting(file, identities);
    CHECK(source->size() == reference_plaintext.size());
    CHECK(read_all(*source) == reference_plaintext);
    CHECK(read_range(*source, 7, 3) == "age");
    CHECK(source->describe() == "/backups/full/test.age");
}

TEST_CASE("age: encrypt and decrypt round trips at chunk boundaries", "[age]") {
    const age::Identity identity = age::generate_identity();
    const std::vector<age::Identity> identities = {identity};
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, age::chunk_size - 1, age::chunk_size,
                             age::chunk_size + 1, 3 * age::chunk_size, 3 * age::chunk_size + 77}) {
        for (std::size_t feed : {std::size_t{1000}, age::chunk_size, 3 * age::chunk_size + 1}) {
            const std::string plaintext = random_bytes(size, static_cast<unsigned>(size));
            const std::string file = encrypt(plaintext, {age::recipient_of(identity)}, feed);
            const auto header = age::Decryptor::header_length(file, "f");
            REQUIRE(header);
            CHECK(file.size() - *header == age::encrypted_payload_size(size));
            const auto source = decrypting(file, identities);
            CHECK(source->size() == size);
            CHECK(read_all(*source) == plaintext);
        }
    }
}

TEST_CASE("age: several recipients, each identity alone opens the file", "[age]") {
    const age::Identity a = age::generate_identity();
    const age::Identity b = age::generate_identity();
    const age::Identity c = age::generate_identity();
    const std::string plaintext = random_bytes(100000, 7);
    const std::string file = encrypt(plaintext, {age::recipient_of(a), age::recipient_of(b)});
    CHECK(read_all(*decrypting(file, {a})) == plaintext);
    CHECK(read_all(*decrypting(file, {b})) == plaintext);
    CHECK(read_all(*decrypting(file, {c, b})) == plaintext);
    const std::string message = error_of([&] { decrypting(file, {c}); });
    CHECK_THAT(message, match::Contains("/backups/full/test.age"));
    CHECK_THAT(message, match::Contains("none of the configured age identities"));
    CHECK_THAT(message, match::Contains("X25519"));
    CHECK_THROWS_AS(age::Encryptor({}), Error);
}

TEST_CASE("age: a range read opens only the chunks it spans, in one inner read", "[age]") {
    const age::Identity identity = age::generate_identity();
    const std::string plaintext = random_bytes(5 * age::chunk_size + 123, 11);
    const std::string file = encrypt(plaintext, {age::recipient_of(identity)});
    auto inner = std::make_shared<MemorySource>(file);
    const auto source = age::decrypting_source(inner, {identity});
    const std::uint64_t payload = *age::Decryptor::header_length(file, "f");
    const std::uint64_t full = age::chunk_size + age::tag_size;

    inner->reads.clear();
    const std::uint64_t offset = age::chunk_size - 10;
    const std::uint64_t length = 2 * age::chunk_size + 20;  // chunks 0 to 3
    CHECK(read_range(*source, offset, length) == plaintext.substr(offset, length));
    REQUIRE(inner->reads.size() == 1);
    CHECK(inner->reads[0].first == payload);
    CHECK(inner->reads[0].second == 4 * full);

    inner->reads.clear();
    CHECK(read_range(*source, 5 * age::chunk_size + 100, 23) ==
          plaintext.substr(5 * age::chunk_size + 100));
    REQUIRE(inner->reads.size() == 1);
    CHECK(inner->reads[0].first == payload + 5 * full);
    CHECK(inner->reads[0].second == 123 + age::tag_size);

    for (std::uint64_t at : {std::uint64_t{0}, age::chunk_size - 1, age::chunk_size,
                             2 * age::chunk_size - 1, 5 * age::chunk_size}) {
        CHECK(read_range(*source, at, 2) == plaintext.substr(at, 2));
    }
    CHECK(read_range(*source, 17, 0).empty());
    CHECK_THAT(error_of([&] { read_range(*source, plaintext.size() - 1, 2); }),
               match::Contains("is truncated"));
}

TEST_CASE("age: tampering is refused, naming the file and the chunk", "[age]") {
    const age::Identity identity = age::generate_identity();
    const std::string plaintext = random_bytes(3 * age::chunk_size + 500, 3);
    const std::string file = encrypt(plaintext, {age::recipient_of(identity)});
    const std::size_t payload = *age::Decryptor::header_length(file, "f");
    const std::size_t full = age::chunk_size + age::tag_size;

    for (std::size_t chunk : {0, 1, 3}) {
        std::string flipped = file;
        flipped[payload + chunk * full + 5] ^= 0x01;
        const auto source = decrypting(flipped, {identity});
        CHECK_THAT(
            error_of([&] { read_all(*source); }),
            match::Contains("/backups/full/test.age: payload chunk " + std::to_string(chunk)));
    }
    // Two chunks swapped.
    std::string swapped = file;
    std::copy_n(file.begin() + payload, full, swapped.begin() + payload + full);
    std::copy_n(file.begin() + payload + full, full, swapped.begin() + payload);
    CHECK_THAT(error_of([&] { read_all(*decrypting(swapped, {identity})); }),
               match::Contains("payload chunk 0 does not authenticate"));
    // The last chunk dropped: the new last chunk is sealed as not last.
    const std::string dropped = file.substr(0, payload + 3 * full);
    CHECK_THAT(error_of([&] { read_all(*decrypting(dropped, {identity})); }),
               match::Contains("payload chunk 2 (the last) does not authenticate"));
    // A byte short: the last chunk does not authenticate.
    CHECK_THAT(
        error_of([&] { read_all(*decrypting(file.substr(0, file.size() - 1), {identity})); }),
        match::Contains("payload chunk 3 (the last) does not authenticate"));
    // 1 to 15 bytes past a full chunk: no payload has that size.
    CHECK_THAT(error_of([&] { decrypting(file.substr(0, payload + 3 * full + 7), {identity}); }),
               match::Contains("truncated"));
    // A flipped bit in the header MAC, and in a stanza.
    std::string bad_mac = file;
    bad_mac[payload - 16 - 10] = bad_mac[payload - 16 - 10] == 'A' ? 'B' : 'A';
    CHECK_THAT(error_of([&] { decrypting(bad_mac, {identity}); }), match::Contains("MAC"));
    std::string bad_stanza = file;
    bad_stanza[std::string("age-encryption.org/v1\n-> X25519 ").size() + 3] ^= 0x01;
    CHECK_THROWS_AS(decrypting(bad_stanza, {identity}), Error);

    // open_chunk itself refuses sizes no chunk has.
    age::Decryptor decryptor(file, {identity}, "f");
    std::string out;
    CHECK_THAT(error_of([&] { decryptor.open_chunk(0, false, file.data() + payload, 100, out); }),
               match::Contains("f: payload chunk 0 is short"));
    CHECK_THAT(error_of([&] { decryptor.open_chunk(4, true, file.data() + payload, 16, out); }),
               match::Contains("empty last chunk"));
    decryptor.open_chunk(0, false, file.data() + payload, full, out);
    CHECK(out == plaintext.substr(0, age::chunk_size));
}

TEST_CASE("age header: canonical base64 and line rules", "[age]") {
    const std::string intro = "age-encryption.org/v1\n";
    const std::string stanza = "-> X25519 " + dummy_share + "\n" + dummy_body + "\n";
    auto length = [](const std::string& text) {
        return age::Decryptor::header_length(text, "hdr");
    };
    const std::string good = intro + stanza + "--- " + dummy_mac + "\n" + nonce;
    CHECK(length(good) == good.size());
    CHECK(length(good + "payload") == good.size());
    // More bytes needed: inside the intro, a line, or the nonce.
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, intro.size() + 3, good.size() - 1})
        CHECK(length(good.substr(0, cut)) == std::nullopt);

    auto refused = [&](const std::string& text, const std::string& why) {
        CHECK_THAT(error_of([&] { length(text); }), match::Contains(why));
    };
    refused("PK\x03\x04 not age", "does not begin with \"age-encryption.org/v1\"");
    refused("age-encryption.org/v2\n", "does not begin with");
    // The MAC: unused low bits set, padding, or the wrong length.
    std::string mac = dummy_mac;
    mac.back() = 'B';
    refused(intro + stanza + "--- " + mac + "\n" + nonce, "canonical");
    refused(intro + stanza + "--- " + dummy_mac + "=\n" + nonce, "canonical");
    refused(intro + stanza + "--- " + dummy_mac.substr(4) + "\n" + nonce, "32 bytes");
    refused(intro + stanza + "---" + dummy_mac + "\n" + nonce, "malformed MAC line");
    // Body lines: longer than 64 columns, not canonical, or no final short line.
    refused(intro + "-> t\n" + std::string(68, 'A') + "\n--- " + dummy_mac + "\n",
            "longer than 64 columns");
    refused(intro + "-> t\n" + std::string(42, 'A') + "B\n--- " + dummy_mac + "\n",
            "not canonical");
    refused(intro + "-> t\n" + std::string(64, 'A') + "\n--- " + dummy_mac + "\n",
            "no final short line");
    refused(intro + "-> t\n--- " + dummy_mac + "\n", "no final short line");
    refused(intro + "-> t\n" + std::string(64, 'A') + "\n" + stanza, "no final short line");
    // A body of whole lines ends with an empty one; an unknown stanza is skipped.
    const std::string whole_lines = intro + "-> grease x\n" + std::string(64, 'A') + "\n\n";
    CHECK(length(whole_lines + "--- " + dummy_mac + "\n" + nonce).has_value());
    // Stanza lines.
    refused(intro + "->  X25519\n\n--- " + dummy_mac + "\n", "malformed stanza line");
    refused(intro + "->X25519\n\n--- " + dummy_mac + "\n", "malformed stanza line");
    refused(intro + "--- " + dummy_mac + "\n" + nonce, "no recipient stanza");
    refused(intro + "garbage\n", "neither a stanza");
    refused(intro + "-> X25519 " + dummy_share + "\r\n", "not printable ASCII");
}

TEST_CASE("age header: stanzas pgtier cannot open", "[age]") {
    const age::Identity identity = age::generate_identity();
    const std::string intro = "age-encryption.org/v1\n";
    const std::string footer = "--- " + dummy_mac + "\n" + nonce;
    auto open = [&](const std::string& header) {
        return error_of([&] { age::Decryptor(header, {identity}, "/b/x.age"); });
    };
    // A passphrase-encrypted file (age -p): one scrypt stanza.
    const std::string scrypt =
        intro + "-> scrypt " + std::string(22, 'A') + " 18\n" + dummy_body + "\n" + footer;
    CHECK_THAT(open(scrypt), match::Contains("/b/x.age: none of the configured age identities"));
    CHECK_THAT(open(scrypt), match::Contains("passphrase-encrypted"));
    CHECK_THAT(open(intro + "-> scrypt " + std::string(22, 'A') + " 18\n" + dummy_body + "\n" +
                    "-> X25519 " + dummy_share + "\n" + dummy_body + "\n" + footer),
               match::Contains("scrypt stanza must be the only one"));
    // X25519 stanzas of the wrong shape.
    CHECK_THAT(open(intro + "-> X25519\n" + dummy_body + "\n" + footer),
               match::Contains("0 arguments"));
    CHECK_THAT(open(intro + "-> X25519 " + dummy_share + "\n" + dummy_body + "AAAA\n" + footer),
               match::Contains("not 32"));
    std::string share = dummy_share;
    share.back() = 'B';
    CHECK_THAT(open(intro + "-> X25519 " + share + "\n" + dummy_body + "\n" + footer),
               match::Contains("ephemeral share"));
    // A low-order ephemeral share (the zero point): an all-zero shared secret.
    CHECK_THAT(open(intro + "-> X25519 " + dummy_share + "\n" + dummy_body + "\n" + footer),
               match::Contains("low-order point"));
    // And no encryption to a low-order recipient.
    CHECK_THROWS_AS(age::Encryptor({age::Recipient{}}), Error);
    // A wrapped key that does not open: someone else's.
    const age::Identity other = age::generate_identity();
    const std::string file = encrypt("x", {age::recipient_of(other)});
    CHECK_THAT(open(file), match::Contains("none of the configured age identities opens it"));
    CHECK_THAT(open(file.substr(0, 40)), match::Contains("truncated"));
}
