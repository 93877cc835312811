#include "catch_compat.hpp"

#include <map>

#include "fixtures.hpp"
#include "pgtier/core/cluster.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/restore_plan.hpp"
#include "pgtier/core/retention.hpp"

using namespace pgtier;
using test::archive;
using test::state;

namespace {

const auto s0 = state({{"A", "a0"}});
const auto s1 = state({{"A", "a1"}});

// An archive of `cluster` (a system identifier, or a name when it starts with a letter; "" for
// a manifest that records none) started at `at`, holding A and (for a base) the globals.
Manifest of(const std::string& cluster, BackupType type, const std::string& at,
            const Fingerprint& fp = s0) {
    auto m = archive(type, at, fp, type != BackupType::incremental, {"A"});
    m.name = cluster + "-" + m.name;
    if (!cluster.empty() && cluster[0] >= '0' && cluster[0] <= '9') {
        m.system_identifier = cluster;
    } else if (!cluster.empty()) {
        m.cluster_name = cluster;
        m.system_identifier = "999";
    }
    return m;
}

std::vector<std::string> names(const std::vector<Manifest>& manifests) {
    std::vector<std::string> out;
    for (const auto& m : manifests) out.push_back(m.name);
    return out;
}

}  // namespace

TEST_CASE("cluster identity: the cluster_name wins over the system identifier") {
    CHECK(cluster_identity("", "7312") == "7312");
    CHECK(cluster_identity("prod", "7312") == "prod");
    CHECK(cluster_identity("", "").empty());
    CHECK(describe_identity("7312") == "7312 (system identifier)");
    CHECK(describe_identity("prod") == "prod (cluster_name)");
    CHECK_THAT(describe_identity(""), match::Contains("unknown"));
    CHECK(short_identity("") == "-");
    CHECK(short_identity("abcdefghijklmnopqrstuvwxyz", 10) == "abcdefg...");
}

TEST_CASE("cluster identity: configured names and recorded identifiers are checked") {
    CHECK_FALSE(cluster_name_problem("prod-1.db_a"));
    CHECK(cluster_name_problem(""));
    CHECK(cluster_name_problem("1prod"));  // could be taken for a system identifier
    CHECK(cluster_name_problem("-"));
    CHECK(cluster_name_problem("a b"));
    CHECK(cluster_name_problem("a\nb"));
    CHECK(cluster_name_problem(std::string(64, 'a')));
    CHECK_FALSE(cluster_name_problem(std::string(63, 'a')));
    CHECK(valid_system_identifier("7312345678901234567"));
    CHECK_FALSE(valid_system_identifier(""));
    CHECK_FALSE(valid_system_identifier("73x"));
    CHECK_FALSE(valid_system_identifier(std::string(21, '1')));
}

TEST_CASE("cluster identity: the manifest round-trips it, older manifests have none") {
    auto m = of("7312", BackupType::full, "2026-01-01T00:00:00Z");
    m.cluster_name = "prod";
    const auto back = manifest_from_json(manifest_to_json(m), "m");
    CHECK(back.system_identifier == "7312");
    CHECK(back.cluster_name == "prod");
    CHECK(cluster_identity(back) == "prod");
    const auto old = of("", BackupType::full, "2026-01-01T00:00:00Z");
    const auto text = manifest_to_json(old);
    CHECK(text.find("system_identifier") == std::string::npos);
    CHECK(cluster_identity(manifest_from_json(text, "m")).empty());
    auto forged = m;
    forged.cluster_name = "a\x1b[2Jb";
    CHECK_THROWS_AS(manifest_from_json(manifest_to_json(forged), "m"), Error);
    forged = m;
    forged.system_identifier = "12ab";
    CHECK_THROWS_AS(manifest_from_json(manifest_to_json(forged), "m"), Error);
}

TEST_CASE("choose_cluster: the newest full's identity, never a mix") {
    // Cluster 111 took a full and an incremental; then 222 (another node, same prefix) a full.
    const std::vector<Manifest> all = {
        of("111", BackupType::full, "2026-01-01T00:00:00Z"),
        of("222", BackupType::full, "2026-01-02T00:00:00Z"),
        of("111", BackupType::incremental, "2026-01-03T00:00:00Z", s1),
    };
    const auto choice = choose_cluster(all, std::nullopt);
    CHECK(choice.identity == "222");
    CHECK_FALSE(choice.requested);
    CHECK(names(choice.manifests) == std::vector<std::string>{all[1].name});
    CHECK(choice.left_out == 2);
    REQUIRE(choice.clusters.size() == 2);
    CHECK(choice.clusters[0].identity == "222");
    CHECK(choice.clusters[1].archives == 2);
    const auto plan = plan_latest_restore(choice.manifests);
    CHECK(plan.base == all[1].name);
    CHECK(plan.databases.at(0).source.archive == all[1].name);  // not 111's incremental
    const auto lines = describe_cluster_choice(choice);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "cluster: 222 (system identifier)");
    CHECK_THAT(lines[1], match::Contains("2 clusters"));
    CHECK_THAT(lines[2], match::Contains("--cluster"));

    const auto other = choose_cluster(all, std::string("111"));
    CHECK(other.identity == "111");
    CHECK(other.requested);
    CHECK(names(other.manifests) == std::vector<std::string>{all[0].name, all[2].name});
    CHECK(plan_latest_restore(other.manifests).databases.at(0).source.archive == all[2].name);
    CHECK_THROWS_AS(choose_cluster(all, std::string("333")), Error);
    CHECK_THROWS_AS(choose_cluster(all, std::string("-")), Error);  // none without identity
}

TEST_CASE("choose_cluster: a cluster_name joins a rebuilt node's archives to the old ones") {
    auto old_node = of("prod", BackupType::full, "2026-01-01T00:00:00Z");
    auto new_node = of("prod", BackupType::incremental, "2026-01-02T00:00:00Z", s1);
    new_node.system_identifier = "555";  // another initdb, same name
    const auto choice = choose_cluster({old_node, new_node}, std::nullopt);
    CHECK(choice.identity == "prod");
    CHECK(choice.manifests.size() == 2);
    CHECK(choice.clusters.size() == 1);
    CHECK(describe_cluster_choice(choice).size() == 1);
}

TEST_CASE("choose_cluster: archives without identity combine only when none has one") {
    const auto old_full = of("", BackupType::full, "2026-01-01T00:00:00Z");
    const auto old_incr = of("", BackupType::incremental, "2026-01-02T00:00:00Z", s1);
    const auto alone = choose_cluster({old_full, old_incr}, std::nullopt);
    CHECK(alone.identity.empty());
    CHECK(alone.manifests.size() == 2);
    CHECK(alone.left_out == 0);
    CHECK(describe_cluster_choice(alone).size() == 1);

    // After an upgrade: a newer full with an identity; the old ones are left out, even though an
    // unknown full would be newer than the known one.
    const auto new_full = of("111", BackupType::full, "2026-01-03T00:00:00Z");
    const auto newer_old = of("", BackupType::full, "2026-01-04T00:00:00Z");
    const auto mixed = choose_cluster({old_full, old_incr, new_full, newer_old}, std::nullopt);
    CHECK(mixed.identity == "111");
    CHECK(names(mixed.manifests) == std::vector<std::string>{new_full.name});
    CHECK(mixed.left_out == 3);
    const auto asked = choose_cluster({old_full, old_incr, new_full}, std::string("-"));
    CHECK(asked.identity.empty());
    CHECK(names(asked.manifests) == std::vector<std::string>{old_full.name, old_incr.name});
}

TEST_CASE("choose_cluster: without any full, the newest archive's identity") {
    const auto choice = choose_cluster({of("111", BackupType::incremental, "2026-01-01T00:00:00Z"),
                                        of("222", BackupType::incremental, "2026-01-02T00:00:00Z")},
                                       std::nullopt);
    CHECK(choice.identity == "222");
    CHECK(choose_cluster({}, std::nullopt).manifests.empty());
}

TEST_CASE("retention: min_full counts the fulls of each cluster apart") {
    const TimePoint now = *parse_utc_iso("2026-03-01T00:00:00Z");
    RetentionConfig policy;  // min_full 2, 42 days
    // Cluster 111: three old fulls; cluster 222: two recent ones. Together the two newest fulls
    // are 222's; per cluster, 111 keeps its own two newest.
    const std::vector<Manifest> all = {
        of("111", BackupType::full, "2025-10-01T00:00:00Z"),
        of("111", BackupType::full, "2025-10-08T00:00:00Z"),
        of("111", BackupType::full, "2025-10-15T00:00:00Z"),
        of("222", BackupType::full, "2026-02-20T00:00:00Z"),
        of("222", BackupType::full, "2026-02-27T00:00:00Z"),
    };
    std::map<std::string, bool> keep;
    for (const auto& d : plan_retention(all, policy, now)) keep[d.name] = d.keep;
    CHECK_FALSE(keep.at(all[0].name));
    CHECK(keep.at(all[1].name));
    CHECK(keep.at(all[2].name));
    CHECK(keep.at(all[3].name));
    CHECK(keep.at(all[4].name));
    const auto decisions = plan_retention(all, policy, now);
    CHECK(decisions.front().name == all[4].name);  // newest first over both clusters
    CHECK_THAT(decisions.front().reason, match::Contains("[cluster 222]"));
    // One cluster: the reasons are as before.
    for (const auto& d : plan_retention({all[3], all[4]}, policy, now))
        CHECK(d.reason.find("[cluster") == std::string::npos);
}

TEST_CASE("live_other_clusters: another identity that uploaded recently") {
    const TimePoint now = *parse_utc_iso("2026-01-10T00:00:00Z");
    const std::vector<Manifest> remote = {
        of("111", BackupType::full, "2026-01-09T00:00:00Z"),
        of("222", BackupType::full, "2026-01-08T00:00:00Z"),
        of("333", BackupType::full, "2025-11-01T00:00:00Z"),  // long gone
        of("", BackupType::full, "2026-01-09T00:00:00Z"),     // older pgtier: unknown
    };
    const auto live = live_other_clusters("111", remote, now);
    REQUIRE(live.size() == 1);
    CHECK(live[0].identity == "222");
    CHECK(live_other_clusters("222", {remote[1]}, now).empty());
}

TEST_CASE("plan_reads: where each archive comes from and what is downloaded") {
    auto full = of("111", BackupType::full, "2026-01-01T00:00:00Z");
    full.compressed_size = 1000;
    full.sections[0].length = 100;  // globals
    full.sections[1].length = 800;  // A
    auto incr = of("111", BackupType::incremental, "2026-01-02T00:00:00Z", s1);
    incr.compressed_size = 300;
    incr.sections[0].length = 250;  // A
    const std::vector<Manifest> all{incr, full};
    const auto plan = plan_latest_restore(all);
    const auto local_only =
        plan_reads(plan, all, [](BackupType, const std::string&) { return false; });
    REQUIRE(local_only.archives.size() == 2);
    CHECK(local_only.archives[0].archive == full.name);
    CHECK(local_only.bucket_bytes == 0);
    CHECK(local_only.archives[0].read_bytes == 1000 + 100);  // whole, then the globals replayed
    CHECK(local_only.archives[1].read_bytes == 2 * 250);     // checked, then replayed
    const auto remote_incr = plan_reads(
        plan, all, [&](BackupType, const std::string& name) { return name == incr.name; });
    CHECK(remote_incr.bucket_bytes == 500);
    const auto lines = describe_reads(remote_incr, "/backups", "s3://b/p");
    REQUIRE(lines.size() == 4);
    CHECK(lines[1].rfind("  full/" + full.name + ": local /backups", 0) == 0);
    CHECK(lines[2].rfind("  incremental/" + incr.name + ": bucket s3://b/p", 0) == 0);
    CHECK_THAT(lines[3], match::Contains("500 bytes"));
    CHECK_THAT(describe_reads(local_only, "/backups", "s3://b/p").back(),
               match::Contains("nothing"));
}
