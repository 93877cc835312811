#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "pgtier/core/time.hpp"

// What a failed request to the bucket means for the offsite copies (docs/design.md, Offsite
// copies, "Permanent and transient errors"), pure and unit-tested: an error a retry cannot mend
// (a wrong bucket, key or certificate) makes `health` fail at once; a transient one (the server
// down or slow) only delays the uploads, and health waits for offsite.max_lag.
namespace pgtier {

// How a request failed below HTTP (storage/s3_client maps libcurl's codes to these).
enum class TransportFailure {
    none,          // an HTTP reply came (or the failure was not the network's)
    resolve_host,  // the host name does not resolve
    connect,       // refused or unreachable
    timeout,
    tls,  // handshake or certificate
    other,
};

struct OffsiteFailure {
    long http_status = 0;  // 0: no HTTP reply
    std::string s3_code;   // S3's error code ("NoSuchBucket"); "" when none
    TransportFailure transport = TransportFailure::none;
};

// The settings a fix names.
struct OffsiteTarget {
    std::string endpoint;  // offsite.endpoint; "" = AWS
    std::string bucket;
    bool path_style = false;
};

enum class OffsiteErrorClass { transient, permanent };
std::string_view to_string(OffsiteErrorClass c);  // "transient" / "permanent"
// Reads what to_string wrote (the state file): anything but "permanent" is transient.
OffsiteErrorClass offsite_error_class_from(std::string_view text);

struct OffsiteErrorJudgement {
    OffsiteErrorClass kind = OffsiteErrorClass::transient;
    std::string fix;  // one line saying what to change; "" for a transient error
};

// Permanent: NoSuchBucket, AccessDenied (and HTTP 401/403), InvalidAccessKeyId,
// SignatureDoesNotMatch, a wrong region, an expired token, a skewed clock, a name that does not
// resolve, a TLS failure. Transient: timeouts, refused connections, HTTP 5xx, 429, SlowDown, and
// whatever is not known to be permanent. A name that does not resolve with virtual-hosted
// addressing on a self-hosted endpoint gets the hint to set offsite.path_style.
OffsiteErrorJudgement classify_offsite_error(const OffsiteFailure& failure,
                                             const OffsiteTarget& target);

// The health problem of the last sync's error: one when it was permanent (whatever waits, and
// however briefly: nothing will reach the bucket until the configuration changes), naming the
// error and its fix; nullopt for no error or a transient one (judge_offsite_lag's business).
std::optional<std::string> judge_offsite_error(const std::string& last_error,
                                               OffsiteErrorClass kind, const std::string& fix,
                                               std::optional<TimePoint> at);

// The text that follows a permanent error in the warnings of backup, offsite sync and the
// daemon: "; it does not go away by itself: FIX".
std::string permanent_error_note(const std::string& fix);

}  // namespace pgtier
