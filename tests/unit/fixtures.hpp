#pragma once
// Manifests and fingerprints for the pure planners' tests.
#include <string>
#include <utility>
#include <vector>

#include "pgtier/core/manifest.hpp"

namespace pgtier::test {

// A fingerprint of databases {name, per-database fingerprint}.
inline Fingerprint state(std::vector<std::pair<std::string, std::string>> dbs,
                         std::string globals = "g") {
    Fingerprint fp;
    fp.globals = std::move(globals);
    std::string digest = fp.globals;
    for (auto& [name, f] : dbs) {
        fp.databases.push_back({name, f});
        digest += name + f;
    }
    fp.digest = digest;
    return fp;
}

// A published archive started at `at` (ISO 8601) holding `dbs` (and globals).
inline Manifest archive(BackupType type, const std::string& at, const Fingerprint& fp, bool globals,
                        const std::vector<std::string>& dbs) {
    Manifest m;
    m.type = type;
    m.name = at + "_" + std::string(to_string(type)) + ".sql.bz2";
    m.started_at = *parse_utc_iso(at);
    m.fingerprint = fp;
    if (globals)
        m.sections.push_back({SectionKind::globals, std::nullopt, 0, 0, 0, "", fp.globals});
    for (const auto& db : dbs) {
        m.sections.push_back({SectionKind::database, db, 0, 0, 0, "", *fp.database(db)});
    }
    return m;
}

}  // namespace pgtier::test
