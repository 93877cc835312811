#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgtier {

// What the server tells about one database, gathered before a dump (see queries.hpp).
struct DatabaseState {
    std::string name;
    std::string oid;
    std::string catalog_digest;   // pg_database row, its settings and comment
    std::string stats_reset;      // pg_stat_database.stats_reset ("" when never reset)
    std::string content_digest;   // per-table write counters (statistics catalogs excluded)
    std::string sequence_digest;  // last_value/is_called of every sequence
};

struct ClusterState {
    std::string globals_digest;            // roles, memberships, role settings, tablespaces
    std::vector<DatabaseState> databases;  // in dump order
};

struct DatabaseFingerprint {
    std::string name;
    std::string fingerprint;
    bool operator==(const DatabaseFingerprint&) const = default;
};

// The state fingerprint: SHA-256 over a canonical text, per database, for globals, and
// for the whole cluster. Stored in every manifest.
struct Fingerprint {
    std::string digest;
    std::string globals;
    std::vector<DatabaseFingerprint> databases;

    std::optional<std::string> database(const std::string& name) const;
    bool operator==(const Fingerprint&) const = default;
};

// A text's hash as lowercase hex: SHA-256 for every stored fingerprint. Passed in because core
// links no crypto library; archive/fingerprint_sha256.hpp passes sha256_hex.
using HexDigest = std::string (*)(std::string_view text);

Fingerprint fingerprint_of(const ClusterState& state, HexDigest digest);

// The fingerprint of the same state without these databases (dropped while a backup ran):
// exactly what fingerprint_of gives for the state without them.
Fingerprint without_databases(const Fingerprint& fp, const std::vector<std::string>& names,
                              HexDigest digest);

}  // namespace pgtier
