#include "pgtier/storage/s3_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <utility>

#include "pgtier/sys/files.hpp"

namespace pgtier {

namespace {

constexpr std::size_t max_collected = max_small_file_size;  // a reply body kept in memory

// unique_ptr deleter calling a C library's free function.
template <auto free_function>
struct Free {
    template <typename T>
    void operator()(T* p) const {
        free_function(p);
    }
};

void init_curl_once() {
    // curl_global_init is not thread-safe; a function-local static runs it exactly once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        throw Error(std::string("cannot initialise libcurl: ") + curl_easy_strerror(rc));
}

ssize_t pread_retrying(int fd, char* buffer, std::size_t size, std::uint64_t offset) {
    ssize_t n;
    do {
        n = ::pread(fd, buffer, size, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    return n;
}

bool retryable_curl_error(CURLcode code) {
    // TLS, URL and option errors do not go away by themselves.
    static constexpr CURLcode transient[] = {
        CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
        CURLE_OPERATION_TIMEDOUT,    CURLE_SEND_ERROR,           CURLE_RECV_ERROR,
        CURLE_GOT_NOTHING,           CURLE_PARTIAL_FILE,         CURLE_HTTP2,
        CURLE_HTTP2_STREAM};
    return std::find(std::begin(transient), std::end(transient), code) != std::end(transient);
}

TransportFailure transport_failure(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return TransportFailure::resolve_host;
        case CURLE_COULDNT_CONNECT:
            return TransportFailure::connect;
        case CURLE_OPERATION_TIMEDOUT:
            return TransportFailure::timeout;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_USE_SSL_FAILED:
            return TransportFailure::tls;
        default:
            return TransportFailure::other;
    }
}

// SHA-256 of the bytes a file upload sends, part after part, in the order they go out. libcurl
// may rewind a body to send it again (a redirect or an auth round trip): the hash then returns
// to where that body began, so it covers exactly the bytes of the attempt that succeeded.
class StreamHash {
  public:
    StreamHash() : running_(EVP_MD_CTX_new()), body_start_(EVP_MD_CTX_new()) {
        if (!running_ || !body_start_ ||
            EVP_DigestInit_ex(running_.get(), EVP_sha256(), nullptr) != 1)
            throw Error("cannot compute SHA-256 (OpenSSL refused it)");
    }
    // A body begins (or begins again).
    bool mark_body_start() { return EVP_MD_CTX_copy_ex(body_start_.get(), running_.get()) == 1; }
    bool rewind_body() { return EVP_MD_CTX_copy_ex(running_.get(), body_start_.get()) == 1; }
    void update(const char* data, std::size_t size) {
        EVP_DigestUpdate(running_.get(), data, size);
    }
    std::string hex_digest() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        EVP_DigestFinal_ex(running_.get(), digest, &length);
        static constexpr char hex[] = "0123456789abcdef";
        std::string out;
        for (unsigned int i = 0; i < length; ++i) {
            out += hex[digest[i] >> 4];
            out += hex[digest[i] & 0xF];
        }
        return out;
    }

  private:
    std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>> running_;
    std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>> body_start_;
};

// What to send: a body from memory or from a file (read with pread).
struct Body {
    StreamHash* hash = nullptr;  // a file body: what is sent is hashed
    const char* data = nullptr;
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t sent = 0;
    int read_errno = 0;
    bool short_read = false;
};

struct Request {
    const char* method = "GET";
    std::string key{};  // relative to the prefix; unused with bucket_level
    bool bucket_level = false;
    std::string query{};
    std::string what{};  // "PUT full/x.sql.bz2", for messages
    std::vector<std::string> headers{};
    Body* body = nullptr;
    // Where a body of status sink_status goes (at most sink_limit bytes); others are collected.
    const std::function<void(const char*, std::size_t)>* sink = nullptr;
    long sink_status = 200;
    std::uint64_t sink_limit = UINT64_MAX;
};

struct Reply {
    long status = 0;
    std::string body;
    std::string etag;
    std::uint64_t content_length = 0;
    std::uint64_t sunk = 0;  // bytes handed to the sink
};

// State shared with libcurl's callbacks, which must not throw.
struct Transfer {
    CURL* handle;
    const Request& request;
    Reply& reply;
    std::uint64_t& downloaded;
    std::uint64_t& uploaded;
    bool status_known = false;
    bool to_sink = false;
    bool unexpected_status = false;
    bool too_long = false;
    std::exception_ptr sink_failure{};
};

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const std::size_t n = size * count;
    t.downloaded += n;
    if (!t.status_known) {
        long status = 0;
        curl_easy_getinfo(t.handle, CURLINFO_RESPONSE_CODE, &status);
        t.status_known = true;
        t.to_sink = t.request.sink != nullptr && status == t.request.sink_status;
        // Another 2xx (a 200 to a ranged GET: the whole object) must not reach the sink.
        t.unexpected_status = t.request.sink != nullptr && !t.to_sink && status < 300;
    }
    if (t.unexpected_status) return 0;
    const std::uint64_t have = t.to_sink ? t.reply.sunk : t.reply.body.size();
    t.too_long = have + n > (t.to_sink ? t.request.sink_limit : max_collected);
    if (t.too_long) return 0;
    if (!t.to_sink) {
        t.reply.body.append(data, n);
        return n;
    }
    try {
        (*t.request.sink)(data, n);
    } catch (...) {
        t.sink_failure = std::current_exception();
        return 0;
    }
    t.reply.sunk += n;
    return n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    Body& body = *t.request.body;
    std::size_t n = std::min<std::uint64_t>(size * count, body.length - body.sent);
    if (n == 0) return 0;
    if (body.fd < 0) {
        std::memcpy(buffer, body.data + body.sent, n);
    } else {
        const ssize_t got = pread_retrying(body.fd, buffer, n, body.offset + body.sent);
        if (got <= 0) {
            body.read_errno = got < 0 ? errno : 0;
            body.short_read = true;
            return CURL_READFUNC_ABORT;
        }
        n = static_cast<std::size_t>(got);
        if (body.hash != nullptr) body.hash->update(buffer, n);
    }
    body.sent += n;
    t.uploaded += n;
    return n;
}

// libcurl rewinds the body when it has to send it again (a redirect or an auth round trip).
int on_seek(void* user, curl_off_t offset, int origin) {
    Body& body = *static_cast<Transfer*>(user)->request.body;
    if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > body.length) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    // A hashed body is sent again from its start only: the hash goes back there with it.
    if (body.hash != nullptr && (offset != 0 || !body.hash->rewind_body()))
        return CURL_SEEKFUNC_CANTSEEK;
    body.sent = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
}

}  // namespace

std::string S3Location::endpoint_or_default() const {
    return endpoint.empty() ? "https://s3." + region + ".amazonaws.com" : endpoint;
}

std::string S3Location::describe() const {
    return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix) + " at " + endpoint_or_default();
}

// Ends a transfer (CURLE_ABORTED_BY_CALLBACK) once the cancel flag is set.
static int on_progress(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

struct S3Client::Impl {
    S3Location location;
    S3Credentials credentials;
    S3Tuning tuning;
    std::unique_ptr<CURL, Free<curl_easy_cleanup>> handle;
    std::string sigv4;
    std::string base;  // scheme://host[:port][/endpoint path][/bucket]
    char error_text[CURL_ERROR_SIZE] = {};
    std::uint64_t downloaded = 0;
    std::uint64_t uploaded = 0;
    const std::atomic<bool>* cancel = nullptr;

    std::string full_key(const std::string& key) const {
        return location.prefix.empty() ? key : location.prefix + "/" + key;
    }

    [[noreturn]] void fail(const Request& request, const std::string& detail, long status = 0,
                           std::string code = "", bool retryable = false,
                           TransportFailure transport = TransportFailure::none) const {
        throw S3Error(location.describe() + ": " + request.what + ": " + detail, status,
                      std::move(code), retryable, transport);
    }

    [[noreturn]] void fail_http(const Request& request, const Reply& reply) const {
        const s3detail::ErrorReply error = s3detail::parse_error_reply(reply.body);
        std::string detail = "HTTP " + std::to_string(reply.status);
        if (!error.code.empty()) detail += " " + error.code;
        if (error.code == "NoSuchBucket") {
            detail += ": the bucket \"" + location.bucket + "\" does not exist";
        } else if (error.code == "SignatureDoesNotMatch") {
            detail += ": the secret access key is wrong for this access key id";
        } else if (error.code == "InvalidAccessKeyId") {
            detail += ": the server knows no such access key id";
        } else if (error.code == "NoSuchKey" || (reply.status == 404 && error.code.empty())) {
            detail += ": no object \"" + full_key(request.key) + "\"";
        }
        if (!error.message.empty()) detail += ": " + error.message;
        const bool retryable = reply.status >= 500 || reply.status == 429 ||
                               error.code == "SlowDown" || error.code == "RequestTimeout";
        fail(request, detail, reply.status, error.code, retryable);
    }

    void set_options(CURL* h, const Request& request, Transfer& transfer, curl_slist* headers) {
        std::string url = base + "/";
        if (!request.bucket_level) url += s3detail::encode_key(full_key(request.key));
        if (request.bucket_level && location.path_style) url.pop_back();  // ENDPOINT/BUCKET
        if (!request.query.empty()) url += "?" + request.query;
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());  // copied by libcurl
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        // A stalled transfer ends: less than 1 byte/s for a minute.
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);
        // Keys may hold "." and ".." segments: the path goes out as written.
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
        curl_easy_setopt(h, CURLOPT_USERNAME, credentials.access_key_id.c_str());
        curl_easy_setopt(h, CURLOPT_PASSWORD, credentials.secret_access_key.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
        if (cancel != nullptr) {
            curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(h, CURLOPT_XFERINFODATA, cancel);
        }
        if (!location.ca_file.empty())
            curl_easy_setopt(h, CURLOPT_CAINFO, location.ca_file.c_str());
        if (!location.verify_tls) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        const std::string_view method = request.method;
        if (method == "HEAD") {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (request.body != nullptr) {
            request.body->sent = 0;
            if (request.body->hash != nullptr && !request.body->hash->mark_body_start())
                throw Error("cannot compute SHA-256 (OpenSSL refused to copy a digest)");
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                             static_cast<curl_off_t>(request.body->length));
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &transfer);
            curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(h, CURLOPT_SEEKDATA, &transfer);
            if (method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
        } else if (method != "GET") {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
        }
    }

    // One request. Throws S3Error when no HTTP reply came (or the transfer broke); any HTTP
    // status is returned for the caller to judge.
    Reply perform(const Request& request) {
        // curl 7.88 does not send the payload hash itself, and S3 needs it in the signature.
        std::vector<std::string> lines{"x-amz-content-sha256: UNSIGNED-PAYLOAD"};
        if (!credentials.session_token.empty()) {
            lines.push_back("x-amz-security-token: " + credentials.session_token);
        }
        lines.insert(lines.end(), request.headers.begin(), request.headers.end());
        std::unique_ptr<curl_slist, Free<curl_slist_free_all>> headers;
        for (const std::string& line : lines) {
            curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
            if (grown == nullptr) throw Error("out of memory building an S3 request");
            (void)headers.release();
            headers.reset(grown);
        }

        CURL* h = handle.get();
        curl_easy_reset(h);  // keeps the connection cache: one TCP/TLS session is reused
        Reply reply;
        Transfer transfer{h, request, reply, downloaded, uploaded};
        set_options(h, request, transfer, headers.get());
        error_text[0] = '\0';
        const CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
        if (transfer.sink_failure) std::rethrow_exception(transfer.sink_failure);
        if (request.body != nullptr && request.body->short_read) {
            const int err = request.body->read_errno;
            fail(request, "cannot read the file to upload: " +
                              (err != 0 ? errno_text(err) : "it is shorter than its size"));
        }
        if (transfer.unexpected_status) {
            fail(request,
                 "HTTP " + std::to_string(reply.status) + " instead of " +
                     std::to_string(request.sink_status) + " (was Range ignored?)",
                 reply.status);
        }
        if (transfer.too_long) {
            const std::uint64_t limit = transfer.to_sink ? request.sink_limit : max_collected;
            fail(request, "the reply is longer than " + std::to_string(limit) + " bytes",
                 reply.status);
        }
        if (rc != CURLE_OK) {
            std::string detail = curl_easy_strerror(rc);
            if (error_text[0] != '\0' && detail != error_text) {
                detail += " (" + std::string(error_text) + ")";
            }
            if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION) {
                detail += "; check the endpoint's scheme (http/https) and the CA file";
            }
            // A cancelled transfer is no failure of the network.
            fail(request, detail, 0, "", retryable_curl_error(rc),
                 rc == CURLE_ABORTED_BY_CALLBACK ? TransportFailure::none : transport_failure(rc));
        }
        curl_off_t length = 0;
        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        reply.content_length = length > 0 ? static_cast<std::uint64_t>(length) : 0;
        curl_header* etag = nullptr;
        if (curl_easy_header(h, "ETag", 0, CURLH_HEADER, -1, &etag) == CURLHE_OK) {
            reply.etag = etag->value;
        }
        return reply;
    }

    // perform, and any status but `ok` is an S3Error.
    Reply expect(const Request& request, long ok = 200) {
        Reply reply = perform(request);
        if (reply.status != ok) fail_http(request, reply);
        return reply;
    }

    void upload_parts(const Request& start, const std::string& key, int fd, std::uint64_t size,
                      const s3detail::UploadPlan& plan, StreamHash& hash);
};

S3Client::S3Client(S3Location location, S3Credentials credentials, S3Tuning tuning)
    : impl_(std::make_unique<Impl>()) {
    init_curl_once();
    Impl& d = *impl_;
    d.location = std::move(location);
    d.credentials = std::move(credentials);
    d.tuning = tuning;
    d.sigv4 = "aws:amz:" + d.location.region + ":s3";
    d.handle.reset(curl_easy_init());
    if (!d.handle) throw Error("cannot create a libcurl handle");

    // The endpoint's parts, by libcurl's URL parser.
    const std::string endpoint = d.location.endpoint_or_default();
    std::unique_ptr<CURLU, Free<curl_url_cleanup>> url(curl_url());
    if (!url || curl_url_set(url.get(), CURLUPART_URL, endpoint.c_str(), 0) != CURLUE_OK) {
        throw Error("S3 endpoint \"" + endpoint + "\" is not a valid URL");
    }
    auto part = [&](CURLUPart which) {
        char* text = nullptr;
        curl_url_get(url.get(), which, &text, 0);
        const std::unique_ptr<char, Free<curl_free>> owned(text);
        return std::string(owned ? owned.get() : "");
    };
    const std::string scheme = part(CURLUPART_SCHEME);
    if (scheme != "http" && scheme != "https") {
        throw Error("S3 endpoint \"" + endpoint + "\" must start with http:// or https://");
    }
    std::string path = part(CURLUPART_PATH);
    while (!path.empty() && path.back() == '/') path.pop_back();
    const std::string port = part(CURLUPART_PORT);
    const std::string host = part(CURLUPART_HOST);
    const std::string bucket = s3detail::uri_encode(d.location.bucket);
    d.base = scheme + "://" + (d.location.path_style ? host : bucket + "." + host) +
             (port.empty() ? "" : ":" + port) + path + (d.location.path_style ? "/" + bucket : "");
}

S3Client::~S3Client() = default;

const S3Location& S3Client::location() const {
    return impl_->location;
}
std::uint64_t S3Client::bytes_downloaded() const {
    return impl_->downloaded;
}
std::uint64_t S3Client::bytes_uploaded() const {
    return impl_->uploaded;
}

std::vector<S3Object> S3Client::list(const std::string& key_prefix) {
    Impl& d = *impl_;
    const std::size_t strip = d.location.prefix.empty() ? 0 : d.location.prefix.size() + 1;
    std::vector<S3Object> objects;
    std::optional<std::string> token;
    s3detail::ListPaging paging;
    do {
        std::vector<std::pair<std::string, std::string>> params{
            {"list-type", "2"},
            {"max-keys", std::to_string(d.tuning.list_page_size)},
            {"prefix", d.full_key(key_prefix)}};
        if (token) params.emplace_back("continuation-token", *token);
        const Request request{.bucket_level = true,
                              .query = s3detail::make_query(std::move(params)),
                              .what = "LIST \"" + key_prefix + "\""};
        const Reply reply = d.expect(request);
        s3detail::ListPage page;
        try {
            page = s3detail::parse_list_reply(reply.body);
        } catch (const Error& e) {
            d.fail(request, e.what(), reply.status);
        }
        for (S3Object& object : page.objects) {
            object.key.erase(0, strip);
            objects.push_back(std::move(object));
        }
        try {
            if (!paging.next(page.next_token)) break;
        } catch (const Error& e) {
            d.fail(request, e.what(), reply.status);
        }
        token = std::move(page.next_token);
    } while (token);
    return objects;
}

std::optional<S3Object> S3Client::head(const std::string& key) {
    const Request request{.method = "HEAD", .key = key, .what = "HEAD " + key};
    const Reply reply = impl_->perform(request);
    // A HEAD reply has no body: a missing bucket looks like a missing object here.
    if (reply.status == 404) return std::nullopt;
    if (reply.status != 200) impl_->fail_http(request, reply);
    return S3Object{key, reply.content_length, reply.etag};
}

std::string S3Client::get(const std::string& key) {
    return impl_->expect({.key = key, .what = "GET " + key}).body;
}

void S3Client::get_range(const std::string& key, std::uint64_t offset, std::uint64_t length,
                         const std::function<void(const char*, std::size_t)>& sink) {
    if (length == 0) return;
    const std::string range = std::to_string(offset) + "-" + std::to_string(offset + length - 1);
    const Request request{.key = key,
                          .what = "GET " + key + " bytes " + range,
                          .headers = {"Range: bytes=" + range},
                          .sink = &sink,
                          .sink_status = 206,
                          .sink_limit = length};
    const Reply reply = impl_->expect(request, 206);
    if (reply.sunk != length) {
        impl_->fail(
            request,
            "got " + std::to_string(reply.sunk) + " of " + std::to_string(length) + " bytes",
            reply.status, "", true);
    }
}

void S3Client::put(const std::string& key, const std::string& body) {
    Body source{.data = body.data(), .length = body.size()};
    impl_->expect({.method = "PUT",
                   .key = key,
                   .what = "PUT " + key,
                   .headers = {"Content-MD5: " + s3detail::content_md5(body)},
                   .body = &source});
}

S3Upload S3Client::put_file(const std::string& key, int fd, std::uint64_t size) {
    Impl& d = *impl_;
    const s3detail::UploadPlan plan = s3detail::plan_upload(size, d.tuning);
    StreamHash hash;
    Body source{.hash = &hash, .fd = fd, .length = size};
    Request request{.method = "PUT", .key = key, .what = "PUT " + key, .body = &source};
    if (plan.parts == 0) {
        request.headers = {"Content-MD5: " + s3detail::content_md5(fd, 0, size)};
        d.expect(request);
    } else {
        d.upload_parts(request, key, fd, size, plan, hash);
    }
    const std::optional<S3Object> stored = head(key);
    if (!stored || stored->size != size) {
        d.fail(request, "after the upload the object has " +
                            (stored ? std::to_string(stored->size) + " bytes" : "disappeared") +
                            ", not " + std::to_string(size) + " bytes");
    }
    return {hash.hex_digest(), stored->etag};
}

void S3Client::Impl::upload_parts(const Request& put, const std::string& key, int fd,
                                  std::uint64_t size, const s3detail::UploadPlan& plan,
                                  StreamHash& hash) {
    Body empty;
    const Request start{.method = "POST",
                        .key = key,
                        .query = "uploads=",
                        .what = put.what + " (start a multipart upload)",
                        .body = &empty};
    const Reply created = expect(start);
    const std::string upload_id = s3detail::parse_upload_id(created.body);
    if (upload_id.empty()) fail(start, "the reply has no UploadId", created.status);

    const std::string id_query = s3detail::make_query({{"uploadId", upload_id}});
    try {
        std::vector<std::string> etags;
        for (std::uint64_t part = 1; part <= plan.parts; ++part) {
            const std::uint64_t offset = (part - 1) * plan.part_size;
            Body source{.hash = &hash, .fd = fd, .offset = offset};
            source.length = std::min(plan.part_size, size - offset);
            Request request{.method = "PUT", .key = key, .body = &source};
            request.query = s3detail::make_query(
                {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}});
            request.what = put.what + " (part " + std::to_string(part) + " of " +
                           std::to_string(plan.parts) + ")";
            request.headers = {"Content-MD5: " + s3detail::content_md5(fd, offset, source.length)};
            etags.push_back(expect(request).etag);
            if (etags.back().empty()) fail(request, "the reply has no ETag");
        }
        const std::string xml = s3detail::complete_upload_xml(etags);
        Body source{.data = xml.data(), .length = xml.size()};
        const Request finish{.method = "POST",
                             .key = key,
                             .query = id_query,
                             .what = put.what + " (complete the multipart upload)",
                             .headers = {"Content-Type: application/xml"},
                             .body = &source};
        const Reply done = expect(finish);
        // S3 may report a failed completion inside a 200 reply.
        if (!s3detail::parse_error_reply(done.body).code.empty()) fail_http(finish, done);
    } catch (...) {
        try {
            perform({.method = "DELETE", .key = key, .query = id_query, .what = "abort"});
        } catch (...) {  // the first failure is the one to report
        }
        throw;
    }
}

void S3Client::remove(const std::string& key) {
    const Request request{.method = "DELETE", .key = key, .what = "DELETE " + key};
    const Reply reply = impl_->perform(request);
    if (reply.status == 200 || reply.status == 204) return;
    // A missing object is fine, a missing bucket is not.
    if (reply.status == 404 && s3detail::parse_error_reply(reply.body).code != "NoSuchBucket") {
        return;
    }
    impl_->fail_http(request, reply);
}

void S3Client::create_bucket() {
    const std::string xml = s3detail::create_bucket_xml(impl_->location.region);
    Body source{.data = xml.data(), .length = xml.size()};
    impl_->expect(
        {.method = "PUT", .bucket_level = true, .what = "create the bucket", .body = &source});
}

void S3Client::set_cancel_flag(const std::atomic<bool>* flag) {
    impl_->cancel = flag;
}

}  // namespace pgtier
