#include "catch_compat.hpp"

#include <string>
#include <utility>
#include <vector>

#include "pgtier/core/offsite_error.hpp"

using namespace pgtier;

namespace {

const OffsiteTarget self_hosted{"http://127.0.0.1:7480", "backups", false};
const OffsiteTarget self_hosted_path_style{"http://127.0.0.1:7480", "backups", true};
const OffsiteTarget aws{"", "backups", false};

OffsiteErrorJudgement http(long status, const std::string& code,
                           const OffsiteTarget& target = self_hosted_path_style) {
    return classify_offsite_error({status, code, TransportFailure::none}, target);
}

OffsiteErrorJudgement network(TransportFailure transport,
                              const OffsiteTarget& target = self_hosted_path_style) {
    return classify_offsite_error({0, "", transport}, target);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("offsite errors a retry cannot mend are permanent, with a fix") {
    const auto bucket = http(404, "NoSuchBucket");
    CHECK(bucket.kind == OffsiteErrorClass::permanent);
    CHECK(contains(bucket.fix, "create the bucket \"backups\""));
    CHECK(contains(bucket.fix, "offsite.url"));
    CHECK(contains(bucket.fix, "pgtier offsite sync"));
    CHECK(http(403, "AccessDenied").kind == OffsiteErrorClass::permanent);
    CHECK(contains(http(403, "AccessDenied").fix, "s3:PutObject"));
    CHECK(contains(http(403, "InvalidAccessKeyId").fix, "access key id"));
    CHECK(contains(http(403, "SignatureDoesNotMatch").fix, "secret access key"));
    CHECK(contains(http(400, "AuthorizationHeaderMalformed").fix, "offsite.region"));
    CHECK(contains(http(403, "RequestTimeTooSkewed").fix, "clock"));
    CHECK(http(400, "ExpiredToken").kind == OffsiteErrorClass::permanent);
    // A 403 with no code (a proxy's page) is still a refusal.
    CHECK(http(403, "").kind == OffsiteErrorClass::permanent);
    CHECK(http(401, "").kind == OffsiteErrorClass::permanent);
    CHECK(http(301, "").kind == OffsiteErrorClass::permanent);
}

TEST_CASE("offsite errors that may go away are transient, without a fix") {
    const std::vector<std::pair<long, std::string>> replies = {{500, "InternalError"},
                                                               {503, "SlowDown"},
                                                               {503, ""},
                                                               {429, ""},
                                                               {400, "RequestTimeout"},
                                                               {404, "NoSuchKey"},
                                                               {409, "OperationAborted"}};
    for (const auto& [status, code] : replies) {
        INFO(status << " " << code);
        const auto j = http(status, code);
        CHECK(j.kind == OffsiteErrorClass::transient);
        CHECK(j.fix.empty());
    }
    CHECK(network(TransportFailure::connect).kind == OffsiteErrorClass::transient);
    CHECK(network(TransportFailure::timeout).kind == OffsiteErrorClass::transient);
    CHECK(network(TransportFailure::other).kind == OffsiteErrorClass::transient);
    // No reply and no network failure: a local error (a corrupt archive, a cut reply).
    CHECK(http(0, "").kind == OffsiteErrorClass::transient);
}

TEST_CASE("TLS and name resolution failures are permanent") {
    const auto tls = network(TransportFailure::tls);
    CHECK(tls.kind == OffsiteErrorClass::permanent);
    CHECK(contains(tls.fix, "offsite.ca_file"));
    const auto dns = network(TransportFailure::resolve_host);
    CHECK(dns.kind == OffsiteErrorClass::permanent);
    CHECK(contains(dns.fix, "offsite.endpoint"));
    CHECK_FALSE(contains(dns.fix, "path_style"));
    CHECK(contains(network(TransportFailure::resolve_host, aws).fix, "bucket name"));
}

TEST_CASE("an unresolvable BUCKET.HOST on a self-hosted endpoint hints at path_style") {
    const auto j = network(TransportFailure::resolve_host, self_hosted);
    CHECK(j.kind == OffsiteErrorClass::permanent);
    CHECK(contains(j.fix, "set offsite.path_style = true"));
    CHECK(contains(j.fix, "backups.<endpoint host>"));
}

TEST_CASE("the error class round-trips through its text") {
    CHECK(to_string(OffsiteErrorClass::permanent) == "permanent");
    CHECK(offsite_error_class_from("permanent") == OffsiteErrorClass::permanent);
    CHECK(offsite_error_class_from("transient") == OffsiteErrorClass::transient);
    CHECK(offsite_error_class_from("") == OffsiteErrorClass::transient);
}

TEST_CASE("health: a permanent error is a problem at once, a transient one is not") {
    const auto at = parse_utc_iso("2026-12-05T07:15:02.5Z");
    const auto problem = judge_offsite_error("HTTP 404 NoSuchBucket", OffsiteErrorClass::permanent,
                                             "create the bucket \"b\"", at);
    REQUIRE(problem);
    CHECK(*problem ==
          "offsite: the last sync (2026-12-05T07:15:02Z) failed with an error a retry cannot "
          "mend: HTTP 404 NoSuchBucket; it does not go away by itself: create the bucket \"b\"");
    CHECK_FALSE(judge_offsite_error("connection refused", OffsiteErrorClass::transient, "", at));
    CHECK_FALSE(judge_offsite_error("", OffsiteErrorClass::permanent, "x", at));
    // A state file from before the classification: no fix recorded.
    const auto bare = judge_offsite_error("AccessDenied", OffsiteErrorClass::permanent, "", {});
    REQUIRE(bare);
    CHECK(bare->find("correct the [offsite] settings") != std::string::npos);
}
