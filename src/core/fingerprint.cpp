#include "pgtier/core/fingerprint.hpp"

#include <algorithm>

namespace pgtier {

namespace {

// Names can hold any character but a NUL, so each field is length-prefixed to keep the
// canonical text unambiguous.
std::string field(const std::string& value) {
    return std::to_string(value.size()) + ":" + value;
}

std::string cluster_digest(const Fingerprint& fp, HexDigest sha256_hex) {
    auto sorted = fp.databases;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    std::string cluster = "globals\t" + fp.globals + "\n";
    for (const auto& db : sorted)
        cluster += "database\t" + field(db.name) + "\t" + db.fingerprint + "\n";
    return sha256_hex(cluster);
}

}  // namespace

std::optional<std::string> Fingerprint::database(const std::string& name) const {
    for (const auto& db : databases) {
        if (db.name == name) return db.fingerprint;
    }
    return std::nullopt;
}

Fingerprint fingerprint_of(const ClusterState& state, HexDigest sha256_hex) {
    // Canonical text: one tab-separated line per item.
    Fingerprint fp;
    fp.globals = sha256_hex("globals\t" + field(state.globals_digest));
    for (const auto& db : state.databases) {
        const std::string canonical = "database\t" + field(db.name) + "\t" + field(db.oid) + "\t" +
                                      field(db.catalog_digest) + "\t" + field(db.stats_reset) +
                                      "\t" + field(db.content_digest) + "\t" +
                                      field(db.sequence_digest);
        fp.databases.push_back({db.name, sha256_hex(canonical)});
    }

    fp.digest = cluster_digest(fp, sha256_hex);
    return fp;
}

Fingerprint without_databases(const Fingerprint& fp, const std::vector<std::string>& names,
                              HexDigest sha256_hex) {
    Fingerprint out = fp;
    std::erase_if(out.databases, [&](const DatabaseFingerprint& db) {
        return std::find(names.begin(), names.end(), db.name) != names.end();
    });
    out.digest = cluster_digest(out, sha256_hex);
    return out;
}

}  // namespace pgtier
