#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/offsite_error.hpp"

namespace pgtier {

// Where a repository lives in S3 (or an S3-compatible server).
struct S3Location {
    std::string endpoint;  // "http://127.0.0.1:7480"; empty = https://s3.REGION.amazonaws.com
    std::string region = "us-east-1";
    std::string bucket;
    std::string prefix;       // "" or "a/b" (no leading/trailing slash); keys are relative to it
    bool path_style = false;  // true: ENDPOINT/BUCKET/KEY; false: BUCKET.HOST/KEY
    std::string ca_file;      // "" = system CAs
    bool verify_tls = true;
    // "s3://BUCKET/PREFIX at ENDPOINT", for messages.
    std::string describe() const;
    std::string endpoint_or_default() const;
};

struct S3Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // "" = none
};

struct S3Object {
    std::string key;  // relative to the location's prefix
    std::uint64_t size = 0;
    std::string etag;
};

// What a file upload sent: the SHA-256 (lowercase hex) of the bytes that went out, hashed as
// they were sent, and the ETag the server gave the stored object.
struct S3Upload {
    std::string sha256;
    std::string etag;
};

// A failed S3 request. The message names the location, the operation and the key.
class S3Error : public Error {
  public:
    S3Error(const std::string& message, long http_status, std::string code, bool retryable,
            TransportFailure transport = TransportFailure::none)
        : Error(message),
          http_status_(http_status),
          code_(std::move(code)),
          retryable_(retryable),
          transport_(transport) {}
    long http_status() const { return http_status_; }  // 0: no HTTP reply (connection, TLS)
    const std::string& code() const { return code_; }  // S3's error code; "" when none
    // Worth retrying later: network errors, HTTP 5xx and 429, SlowDown.
    bool retryable() const { return retryable_; }
    // How it failed below HTTP (TransportFailure::none when a reply came).
    TransportFailure transport() const { return transport_; }
    // What it means for the offsite copies (core/offsite_error).
    OffsiteFailure failure() const { return {http_status_, code_, transport_}; }

  private:
    long http_status_;
    std::string code_;
    bool retryable_;
    TransportFailure transport_;
};

// Sizes the client works with; tests shrink them to exercise paging and multipart uploads.
struct S3Tuning {
    std::uint64_t single_put_max = 64ULL << 20;  // larger files go up in parts
    std::uint64_t min_part_size = 8ULL << 20;    // S3 wants >= 5 MiB for all but the last part
    unsigned list_page_size = 1000;              // max-keys of ListObjectsV2
};

// The parts of the client that need no server, apart for unit tests.
namespace s3detail {
// How a file of `size` bytes goes up: parts == 0 means one PUT. Parts are `part_size` bytes
// (a multiple of 1 MiB, >= min_part_size), the last one the rest, and never more than 10000.
// Throws Error above S3's 5 TiB object limit.
struct UploadPlan {
    std::uint64_t part_size = 0;
    std::uint64_t parts = 0;
};
UploadPlan plan_upload(std::uint64_t size, const S3Tuning& tuning);
// S3's URI encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) kept, everything else %XX;
// encode_key keeps the '/' between segments.
std::string uri_encode(std::string_view text);
std::string encode_key(std::string_view key);
// A query string as SigV4 wants it: keys sorted, keys and values encoded, "k=" for an empty
// value (curl 7.88 signs the query as written, and signs a bare "uploads" wrongly).
std::string make_query(std::vector<std::pair<std::string, std::string>> params);
// Content-MD5 (base64 of the MD5) of memory, or of `length` bytes of fd from `offset` (pread).
// A file is hashed in 1 MiB reads, and read again while it is sent: memory stays small.
std::string content_md5(std::string_view data);
std::string content_md5(int fd, std::uint64_t offset, std::uint64_t length);
// One ListObjectsV2 reply: the objects (full keys) and the token for the next page, if any.
struct ListPage {
    std::vector<S3Object> objects;
    std::optional<std::string> next_token;
};
ListPage parse_list_reply(const std::string& xml);  // throws Error on XML it cannot read
// Ends a listing that a server would keep going forever: a continuation token it gave before
// (the listing would loop) or more than `max_pages` pages (a bucket of pgtier's holds a few
// thousand objects; 100000 pages is a server making up tokens).
class ListPaging {
  public:
    static constexpr std::uint64_t default_max_pages = 100000;
    explicit ListPaging(std::uint64_t max_pages = default_max_pages) : max_pages_(max_pages) {}
    // Takes the next token of the page just read; returns whether to ask for another page.
    // Throws Error on a repeated token or when another page would exceed the limit.
    bool next(const std::optional<std::string>& token);
    std::uint64_t pages() const { return pages_; }

  private:
    std::uint64_t max_pages_;
    std::uint64_t pages_ = 0;
    std::set<std::string> seen_;
};
// An error reply's Code and Message; empty strings when the body is not an S3 error.
struct ErrorReply {
    std::string code;
    std::string message;
};
ErrorReply parse_error_reply(const std::string& xml);
// UploadId of a CreateMultipartUpload reply; "" when there is none.
std::string parse_upload_id(const std::string& xml);
// The CompleteMultipartUpload body for parts 1..N with these ETags.
std::string complete_upload_xml(const std::vector<std::string>& etags);
// The CreateBucket body: "" for us-east-1, else a LocationConstraint.
std::string create_bucket_xml(const std::string& region);
}  // namespace s3detail

// A small S3 client: SigV4-signed requests through one reused libcurl handle. It never
// retries; S3Error::retryable() tells the caller whether a retry makes sense. Not thread-safe.
class S3Client {
  public:
    S3Client(S3Location location, S3Credentials credentials, S3Tuning tuning = {});
    ~S3Client();
    S3Client(const S3Client&) = delete;
    S3Client& operator=(const S3Client&) = delete;

    const S3Location& location() const;

    // All objects whose key starts with key_prefix (ListObjectsV2, every page).
    std::vector<S3Object> list(const std::string& key_prefix);
    // nullopt when the object does not exist (HTTP 404).
    std::optional<S3Object> head(const std::string& key);
    // A whole small object (manifest, sidecar); a missing one is an S3Error saying so.
    std::string get(const std::string& key);
    // `length` bytes from `offset`, handed to `sink` as they arrive; anything but exactly
    // `length` bytes is an error. An exception from `sink` ends the transfer and propagates.
    void get_range(const std::string& key, std::uint64_t offset, std::uint64_t length,
                   const std::function<void(const char*, std::size_t)>& sink);
    // One PUT with Content-MD5.
    void put(const std::string& key, const std::string& body);
    // `size` bytes of `fd` from offset 0 (read with pread, so the file offset is left alone):
    // one PUT up to single_put_max, else a multipart upload (aborted on failure); every request
    // carries Content-MD5, and a HEAD afterwards checks the stored size. Returns the SHA-256
    // of the bytes sent (computed while they were sent) and the stored object's ETag.
    S3Upload put_file(const std::string& key, int fd, std::uint64_t size);
    // DELETE; a missing object is not an error.
    void remove(const std::string& key);
    // For tests and tools.
    void create_bucket();

    // While *flag is true every transfer ends at once (SIGTERM during a long upload or restore).
    void set_cancel_flag(const std::atomic<bool>* flag);

    std::uint64_t bytes_downloaded() const;  // response body bytes received so far
    std::uint64_t bytes_uploaded() const;    // request body bytes sent so far

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pgtier
