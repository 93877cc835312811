#include "pgtier/core/cluster.hpp"

#include <algorithm>
#include <map>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The default choice first: a newer full wins, then a newer archive, then the identity.
bool chosen_before(const ClusterSummary& a, const ClusterSummary& b) {
    if (a.newest_full != b.newest_full) {
        if (!a.newest_full || !b.newest_full) return a.newest_full.has_value();
        return *a.newest_full > *b.newest_full;
    }
    if (a.newest != b.newest) return a.newest > b.newest;
    return a.identity < b.identity;
}

std::string summary_text(const ClusterSummary& s) {
    return short_identity(s.identity, 64) + " (" + std::to_string(s.archives) +
           (s.archives == 1 ? " archive" : " archives") + ", newest full " +
           (s.newest_full ? format_utc_seconds(*s.newest_full) : std::string("none")) +
           ", newest archive " + format_utc_seconds(s.newest) + ")";
}

}  // namespace

std::optional<std::string> cluster_name_problem(const std::string& name) {
    if (name.empty()) return "is empty";
    if (name.size() > 63) return "is longer than 63 characters";
    if (!is_letter(name[0])) return "must start with a letter (a-z, A-Z)";
    for (const char c : name) {
        if (!is_letter(c) && !is_digit(c) && c != '.' && c != '_' && c != '-')
            return "may hold only letters, digits, '.', '_' and '-'";
    }
    return std::nullopt;
}

bool valid_system_identifier(const std::string& text) {
    return !text.empty() && text.size() <= 20 && std::all_of(text.begin(), text.end(), is_digit);
}

std::string cluster_identity(const std::string& cluster_name,
                             const std::string& system_identifier) {
    return cluster_name.empty() ? system_identifier : cluster_name;
}

std::string cluster_identity(const Manifest& manifest) {
    return cluster_identity(manifest.cluster_name, manifest.system_identifier);
}

std::string describe_identity(const std::string& identity) {
    if (identity.empty()) return "unknown (archives whose manifests record no cluster identity)";
    if (valid_system_identifier(identity)) return identity + " (system identifier)";
    return printable(identity) + " (cluster_name)";
}

std::string short_identity(const std::string& identity, std::size_t width) {
    if (identity.empty()) return "-";
    std::string shown = printable(identity);
    if (shown.size() > width && width > 3) shown = shown.substr(0, width - 3) + "...";
    return shown;
}

std::vector<ClusterSummary> cluster_summaries(const std::vector<Manifest>& manifests) {
    std::map<std::string, ClusterSummary> by_identity;
    for (const auto& m : manifests) {
        const std::string identity = cluster_identity(m);
        auto [it, added] = by_identity.try_emplace(identity);
        ClusterSummary& s = it->second;
        s.identity = identity;
        if (added || m.started_at > s.newest) s.newest = m.started_at;
        ++s.archives;
        if (m.type == BackupType::full && (!s.newest_full || m.started_at > *s.newest_full))
            s.newest_full = m.started_at;
    }
    std::vector<ClusterSummary> out;
    for (auto& [identity, s] : by_identity) out.push_back(std::move(s));
    std::sort(out.begin(), out.end(), chosen_before);
    return out;
}

std::vector<Manifest> manifests_of_cluster(const std::vector<Manifest>& manifests,
                                           const std::string& identity) {
    std::vector<Manifest> out;
    for (const auto& m : manifests) {
        if (cluster_identity(m) == identity) out.push_back(m);
    }
    return out;
}

ClusterChoice choose_cluster(const std::vector<Manifest>& manifests,
                             const std::optional<std::string>& requested) {
    ClusterChoice choice;
    choice.clusters = cluster_summaries(manifests);
    const bool any_known = std::any_of(choice.clusters.begin(), choice.clusters.end(),
                                       [](const ClusterSummary& s) { return !s.identity.empty(); });
    if (requested) {
        choice.requested = true;
        choice.identity = *requested == "-" ? std::string() : *requested;
        const bool found =
            std::any_of(choice.clusters.begin(), choice.clusters.end(),
                        [&](const ClusterSummary& s) { return s.identity == choice.identity; });
        if (!found) {
            std::vector<std::string> known;
            for (const auto& s : choice.clusters) known.push_back(short_identity(s.identity, 64));
            throw Error("no archive of cluster " +
                        (choice.identity.empty() ? std::string("\"-\" (without identity)")
                                                 : "\"" + printable(choice.identity) + "\"") +
                        (known.empty() ? std::string(" (there are no archives)")
                                       : "; the archives come from: " + join_quoted(known)));
        }
    } else if (any_known) {
        for (const auto& s : choice.clusters) {
            if (s.identity.empty()) continue;
            choice.identity = s.identity;  // the first known one in choice order
            break;
        }
    }
    if (!any_known && !requested) {
        choice.manifests = manifests;
        return choice;
    }
    choice.manifests = manifests_of_cluster(manifests, choice.identity);
    choice.left_out = manifests.size() - choice.manifests.size();
    return choice;
}

std::vector<std::string> describe_cluster_choice(const ClusterChoice& choice) {
    std::vector<std::string> lines;
    lines.push_back("cluster: " + describe_identity(choice.identity));
    if (choice.clusters.size() > 1) {
        std::vector<std::string> all;
        for (const auto& s : choice.clusters) all.push_back(summary_text(s));
        std::string line = "note: the archives come from " +
                           std::to_string(choice.clusters.size()) + " clusters: ";
        for (std::size_t i = 0; i < all.size(); ++i) line += (i ? "; " : "") + all[i];
        lines.push_back(line);
        lines.push_back(
            std::string("note: planning from cluster ") + short_identity(choice.identity, 64) +
            (choice.requested ? " (--cluster)"
                              : (choice.identity.empty() ? "" : " (the newest full's)")) +
            " only, " + std::to_string(choice.left_out) +
            " archive(s) of other clusters left out; choose another with --cluster ID" +
            " (--cluster - for archives without identity)");
    }
    return lines;
}

std::vector<ClusterSummary> live_other_clusters(const std::string& own,
                                                const std::vector<Manifest>& remote, TimePoint now,
                                                std::chrono::seconds window) {
    std::vector<ClusterSummary> out;
    for (auto& s : cluster_summaries(remote)) {
        if (s.identity.empty() || s.identity == own) continue;
        if (s.newest + window >= now) out.push_back(std::move(s));
    }
    return out;
}

}  // namespace pgtier
