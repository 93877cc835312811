#include "catch_compat.hpp"

#include "pgtier/archive/fingerprint_sha256.hpp"

using namespace pgtier;

namespace {
ClusterState sample() {
    ClusterState s;
    s.globals_digest = "g1";
    s.databases = {{"template1", "1", "c1", "", "t1", "s1"},
                   {"shop", "16384", "c2", "", "t2", "s2"}};
    return s;
}
}  // namespace

TEST_CASE("fingerprint is deterministic and per database") {
    const auto a = fingerprint_of(sample());
    const auto b = fingerprint_of(sample());
    CHECK(a == b);
    CHECK(a.digest.size() == 64);
    REQUIRE(a.databases.size() == 2);
    CHECK(a.database("shop").has_value());
    CHECK_FALSE(a.database("nope").has_value());
}

TEST_CASE("each input field changes only its own database's fingerprint") {
    const auto base = fingerprint_of(sample());
    for (int field = 0; field < 5; ++field) {
        auto s = sample();
        auto& db = s.databases[1];
        std::string* target[] = {&db.oid, &db.catalog_digest, &db.stats_reset, &db.content_digest,
                                 &db.sequence_digest};
        *target[field] += "x";
        const auto changed = fingerprint_of(s);
        CAPTURE(field);
        CHECK(changed.database("shop") != base.database("shop"));
        CHECK(changed.database("template1") == base.database("template1"));
        CHECK(changed.globals == base.globals);
        CHECK(changed.digest != base.digest);
    }
}

TEST_CASE("globals, added and dropped databases change the cluster digest") {
    const auto base = fingerprint_of(sample());
    auto roles = sample();
    roles.globals_digest = "g2";
    CHECK(fingerprint_of(roles).globals != base.globals);
    CHECK(fingerprint_of(roles).database("shop") == base.database("shop"));

    auto dropped = sample();
    dropped.databases.pop_back();
    CHECK(fingerprint_of(dropped).digest != base.digest);

    auto added = sample();
    added.databases.push_back({"new", "5", "c", "", "t", "s"});
    CHECK(fingerprint_of(added).digest != base.digest);
}

TEST_CASE("field boundaries cannot be shifted to forge an equal fingerprint") {
    ClusterState a, b;
    a.databases = {{"ab", "1", "c", "", "t", "s"}};
    b.databases = {{"a", "b1", "c", "", "t", "s"}};
    CHECK(fingerprint_of(a).databases[0].fingerprint != fingerprint_of(b).databases[0].fingerprint);
}

TEST_CASE("without_databases equals the fingerprint of the state without them") {
    auto without_shop = sample();
    without_shop.databases.pop_back();
    const auto expected = fingerprint_of(without_shop);
    const auto got = without_databases(fingerprint_of(sample()), {"shop"});
    CHECK(got == expected);
    CHECK(without_databases(fingerprint_of(sample()), {}) == fingerprint_of(sample()));
}
