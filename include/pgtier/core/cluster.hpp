#pragma once
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/manifest.hpp"
#include "pgtier/core/time.hpp"

// Which cluster an archive came from, and which archives may be combined (docs/design.md,
// Cluster identity). Pure, unit-tested.
namespace pgtier {

// Why a configured [storage] cluster_name cannot be used ("must start with a letter", …);
// nullopt when it can: 1 to 63 characters, a letter first, then letters, digits, '.', '_', '-'.
// A name can therefore never be mistaken for a system identifier (digits only).
std::optional<std::string> cluster_name_problem(const std::string& name);
// 1 to 20 decimal digits: what pg_control_system() reports.
bool valid_system_identifier(const std::string& text);

// The identity: the cluster_name when the manifest has one, else its system identifier; ""
// (unknown) for a manifest written before pgtier recorded either.
std::string cluster_identity(const Manifest& manifest);
std::string cluster_identity(const std::string& cluster_name, const std::string& system_identifier);
// "7312… (system identifier)", "prod (cluster_name)", "unknown (…)".
std::string describe_identity(const std::string& identity);
// For a table column: the identity, "-" when unknown, cut to `width` characters.
std::string short_identity(const std::string& identity, std::size_t width = 20);

struct ClusterSummary {
    std::string identity;  // "" for the archives without one
    std::size_t archives = 0;
    std::optional<TimePoint> newest_full;
    TimePoint newest{};  // started_at of its newest archive
};

// One summary per identity found (the unknown one too), the default choice first: newest full
// first, then newest archive, then identity.
std::vector<ClusterSummary> cluster_summaries(const std::vector<Manifest>& manifests);

// The archives a plan may combine, and why.
struct ClusterChoice {
    std::string identity;    // the chosen one; "" when none is known (or "-" was asked for)
    bool requested = false;  // chosen by --cluster
    std::vector<ClusterSummary> clusters;  // every identity found (cluster_summaries)
    std::vector<Manifest> manifests;       // the chosen identity's, in the input's order
    std::size_t left_out = 0;              // archives of other identities (unknown included)
};

// Rule: archives combine only with archives of the same identity. Archives without one
// (older manifests) combine with each other, and are planned from only when no archive has an
// identity (or `requested` is "-"). Without `requested`, the identity of the newest full
// (by started_at; without any full, of the newest archive) is taken. Throws Error when
// `requested` names an identity none of the archives has.
ClusterChoice choose_cluster(const std::vector<Manifest>& manifests,
                             const std::optional<std::string>& requested);

// The lines a plan prints about the choice: "cluster: …", and, when the archives hold several
// identities, which ones and how to take another.
std::vector<std::string> describe_cluster_choice(const ClusterChoice& choice);

// Only the archives of `identity` ("" : those without one).
std::vector<Manifest> manifests_of_cluster(const std::vector<Manifest>& manifests,
                                           const std::string& identity);

// How recent another cluster's newest archive must be for `offsite sync` to call it live.
inline constexpr std::chrono::hours live_cluster_window{24 * 8};

// The other identities in `remote` (not `own`, not unknown) whose newest archive started within
// `window` before `now` (or after it): another node is uploading under the same prefix.
std::vector<ClusterSummary> live_other_clusters(const std::string& own,
                                                const std::vector<Manifest>& remote, TimePoint now,
                                                std::chrono::seconds window = live_cluster_window);

}  // namespace pgtier
