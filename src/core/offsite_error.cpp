#include "pgtier/core/offsite_error.hpp"

#include <array>
#include <utility>

namespace pgtier {

namespace {

constexpr std::string_view then_sync = "; then run pgtier offsite sync";

OffsiteErrorJudgement permanent(std::string fix) {
    return {OffsiteErrorClass::permanent, std::move(fix) + std::string(then_sync)};
}

// S3 error codes a retry cannot mend, with their fix; "" = the fix depends on the target.
struct KnownCode {
    std::string_view code;
    std::string_view fix;
};
constexpr std::array<KnownCode, 14> permanent_codes{{
    {"NoSuchBucket", ""},
    {"InvalidBucketName", "correct the bucket name in offsite.url"},
    {"AccessDenied",
     "grant the access key list, read, write and delete on the bucket and prefix "
     "(s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject)"},
    {"AllAccessDisabled", "the bucket's owner has disabled all access to it: use another bucket"},
    {"AccountProblem", "the account that owns the bucket is blocked: see the provider"},
    {"InvalidAccessKeyId",
     "correct the access key id (offsite.access_key_id_file or AWS_ACCESS_KEY_ID)"},
    {"SignatureDoesNotMatch",
     "correct the secret access key (offsite.secret_access_key_file or AWS_SECRET_ACCESS_KEY)"},
    {"AuthorizationHeaderMalformed", "set offsite.region to the bucket's region"},
    {"PermanentRedirect", "set offsite.region (or offsite.endpoint) to the bucket's region"},
    {"IllegalLocationConstraintException", "set offsite.region to the bucket's region"},
    {"ExpiredToken", "renew the session token (AWS_SESSION_TOKEN)"},
    {"InvalidToken", "renew the session token (AWS_SESSION_TOKEN)"},
    {"TokenRefreshRequired", "renew the session token (AWS_SESSION_TOKEN)"},
    {"RequestTimeTooSkewed",
     "correct this machine's clock (NTP): S3 refuses signatures "
     "more than 15 minutes off"},
}};

}  // namespace

std::string_view to_string(OffsiteErrorClass c) {
    return c == OffsiteErrorClass::permanent ? "permanent" : "transient";
}

OffsiteErrorClass offsite_error_class_from(std::string_view text) {
    return text == "permanent" ? OffsiteErrorClass::permanent : OffsiteErrorClass::transient;
}

OffsiteErrorJudgement classify_offsite_error(const OffsiteFailure& failure,
                                             const OffsiteTarget& target) {
    switch (failure.transport) {
        case TransportFailure::resolve_host:
            if (!target.endpoint.empty() && !target.path_style) {
                return permanent(
                    "set offsite.path_style = true: with virtual-hosted addressing the bucket is "
                    "asked for at the host name \"" +
                    target.bucket +
                    ".<endpoint host>\", which a self-hosted server's DNS rarely has");
            }
            return permanent(target.endpoint.empty()
                                 ? "check the bucket name in offsite.url and this machine's DNS"
                                 : "correct the host name in offsite.endpoint (or this "
                                   "machine's DNS)");
        case TransportFailure::tls:
            return permanent(
                "check the endpoint's scheme (http or https) and its certificate "
                "(offsite.ca_file, offsite.verify_tls)");
        case TransportFailure::connect:
        case TransportFailure::timeout:
        case TransportFailure::other:
            return {};
        case TransportFailure::none:
            break;
    }
    for (const auto& known : permanent_codes) {
        if (failure.s3_code != known.code) continue;
        if (!known.fix.empty()) return permanent(std::string(known.fix));
        return permanent("create the bucket \"" + target.bucket +
                         "\", or correct the bucket name in offsite.url");
    }
    if (failure.http_status == 401 || failure.http_status == 403) {
        return permanent(
            "check the access key's credentials and its permissions on the bucket and prefix");
    }
    if (failure.http_status == 301 && failure.s3_code.empty())
        return permanent("set offsite.region (or offsite.endpoint) to the bucket's region");
    // 5xx, 429, SlowDown, RequestTimeout, and what is not known to be permanent (a NoSuchKey
    // from a concurrent deletion, a reply cut short): the next sync may well succeed.
    return {};
}

std::optional<std::string> judge_offsite_error(const std::string& last_error,
                                               OffsiteErrorClass kind, const std::string& fix,
                                               std::optional<TimePoint> at) {
    if (last_error.empty() || kind != OffsiteErrorClass::permanent) return std::nullopt;
    return "offsite: the last sync" + (at ? " (" + format_utc_seconds(*at) + ")" : std::string()) +
           " failed with an error a retry cannot mend: " + last_error + permanent_error_note(fix);
}

std::string permanent_error_note(const std::string& fix) {
    return "; it does not go away by itself: " +
           (fix.empty() ? std::string("correct the [offsite] settings") : fix);
}

}  // namespace pgtier
