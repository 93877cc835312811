#pragma once
#include <string>
#include <vector>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/fingerprint.hpp"

// The state fingerprint as manifests store it: core's fingerprint hashed with SHA-256.
namespace pgtier {

inline Fingerprint fingerprint_of(const ClusterState& state) {
    return fingerprint_of(state, sha256_hex);
}

inline Fingerprint without_databases(const Fingerprint& fp, const std::vector<std::string>& names) {
    return without_databases(fp, names, sha256_hex);
}

}  // namespace pgtier
