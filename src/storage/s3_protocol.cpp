// The parts of the S3 client that need no server (see s3detail in s3_client.hpp): URI encoding
// as SigV4 wants it, the multipart plan, Content-MD5, and the XML documents read and written
// with tinyxml2.
#include <openssl/evp.h>
#include <tinyxml2.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "pgtier/storage/s3_client.hpp"

namespace pgtier {

namespace {

constexpr std::uint64_t mib = 1ULL << 20;
constexpr std::uint64_t max_parts = 10000;
constexpr std::uint64_t max_object_size = 5ULL << 40;  // S3's limit for one object
constexpr std::size_t hash_chunk = 1 << 20;
constexpr const char* s3_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

std::string text_of(const tinyxml2::XMLElement* parent, const char* name) {
    const tinyxml2::XMLElement* element = parent->FirstChildElement(name);
    const char* text = element != nullptr ? element->GetText() : nullptr;
    return text != nullptr ? text : "";
}

// The root element when `xml` parses and the root is named `name`, else nullptr.
const tinyxml2::XMLElement* root_named(tinyxml2::XMLDocument& doc, const std::string& xml,
                                       const char* name) {
    if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) return nullptr;
    const tinyxml2::XMLElement* root = doc.RootElement();
    return root != nullptr && std::strcmp(root->Name(), name) == 0 ? root : nullptr;
}

std::string printed(const tinyxml2::XMLPrinter& printer) {
    return std::string(printer.CStr(), static_cast<std::size_t>(printer.CStrSize() - 1));
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// MD5 of memory (data) or of a file's bytes (fd >= 0), as Content-MD5 wants it: base64.
std::string md5_base64(std::string_view data, int fd, std::uint64_t offset, std::uint64_t length) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) {
        throw Error("cannot compute MD5 (OpenSSL refused it)");
    }
    if (fd < 0) EVP_DigestUpdate(ctx.get(), data.data(), data.size());
    std::string buffer(fd < 0 ? 0 : std::min<std::uint64_t>(hash_chunk, length), '\0');
    for (std::uint64_t done = 0; fd >= 0 && done < length;) {
        const auto want = std::min<std::uint64_t>(buffer.size(), length - done);
        const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error("cannot read the file to upload: " + errno_text(errno));
        if (n == 0) throw Error("cannot read the file to upload: it is shorter than its size");
        EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(n));
        done += static_cast<std::uint64_t>(n);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &digest_len);
    char text[64];
    const int text_len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text), digest,
                                         static_cast<int>(digest_len));
    return std::string(text, static_cast<std::size_t>(text_len));
}

}  // namespace

namespace s3detail {

std::string content_md5(std::string_view data) {
    return md5_base64(data, -1, 0, 0);
}

std::string content_md5(int fd, std::uint64_t offset, std::uint64_t length) {
    return md5_base64({}, fd, offset, length);
}

UploadPlan plan_upload(std::uint64_t size, const S3Tuning& tuning) {
    if (size > max_object_size) {
        throw Error("cannot upload " + std::to_string(size) +
                    " bytes as one S3 object: S3 stores at most 5 TiB per object");
    }
    if (size <= tuning.single_put_max) return {};
    std::uint64_t part = std::max(tuning.min_part_size, (size + max_parts - 1) / max_parts);
    part = (part + mib - 1) / mib * mib;
    return {part, (size + part - 1) / part};
}

std::string uri_encode(std::string_view text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
        }
    }
    return out;
}

std::string encode_key(std::string_view key) {
    std::string out;
    for (std::size_t start = 0;;) {
        const std::size_t slash = key.find('/', start);
        out += uri_encode(key.substr(start, slash - start));
        if (slash == std::string_view::npos) return out;
        out += '/';
        start = slash + 1;
    }
}

std::string make_query(std::vector<std::pair<std::string, std::string>> params) {
    std::sort(params.begin(), params.end());
    std::string query;
    for (const auto& [key, value] : params) {
        if (!query.empty()) query += '&';
        query += uri_encode(key) + "=" + uri_encode(value);
    }
    return query;
}

ListPage parse_list_reply(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    const tinyxml2::XMLElement* root = root_named(doc, xml, "ListBucketResult");
    if (root == nullptr) throw Error("the reply to ListObjectsV2 is not a ListBucketResult");
    ListPage page;
    for (auto* item = root->FirstChildElement("Contents"); item != nullptr;
         item = item->NextSiblingElement("Contents")) {
        S3Object object{text_of(item, "Key"), 0, text_of(item, "ETag")};
        const std::string size = text_of(item, "Size");
        const char* end = size.data() + size.size();
        const auto parsed = std::from_chars(size.data(), end, object.size);
        if (object.key.empty() || parsed.ec != std::errc() || parsed.ptr != end) {
            throw Error("the reply to ListObjectsV2 has an entry without a key or size");
        }
        page.objects.push_back(std::move(object));
    }
    if (text_of(root, "IsTruncated") == "true") {
        page.next_token = text_of(root, "NextContinuationToken");
        if (page.next_token->empty()) {
            throw Error("the reply to ListObjectsV2 is truncated but has no continuation token");
        }
    }
    return page;
}

bool ListPaging::next(const std::optional<std::string>& token) {
    ++pages_;
    if (!token) return false;
    if (!seen_.insert(*token).second) {
        throw Error("the server gave the continuation token \"" + token->substr(0, 64) +
                    "\" again after " + std::to_string(pages_) +
                    " pages: the listing would never end");
    }
    if (pages_ >= max_pages_) {
        throw Error("the listing is still truncated after " + std::to_string(pages_) +
                    " pages: more than any bucket of pgtier's holds, stopped");
    }
    return true;
}

ErrorReply parse_error_reply(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    const tinyxml2::XMLElement* root = root_named(doc, xml, "Error");
    if (root == nullptr) return {};
    return {text_of(root, "Code"), text_of(root, "Message")};
}

std::string parse_upload_id(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    const tinyxml2::XMLElement* root = root_named(doc, xml, "InitiateMultipartUploadResult");
    return root != nullptr ? text_of(root, "UploadId") : "";
}

std::string complete_upload_xml(const std::vector<std::string>& etags) {
    tinyxml2::XMLPrinter printer(nullptr, true);
    printer.OpenElement("CompleteMultipartUpload", true);
    printer.PushAttribute("xmlns", s3_namespace);
    for (std::size_t i = 0; i < etags.size(); ++i) {
        printer.OpenElement("Part", true);
        printer.OpenElement("PartNumber", true);
        printer.PushText(static_cast<int64_t>(i + 1));
        printer.CloseElement(true);
        printer.OpenElement("ETag", true);
        printer.PushText(etags[i].c_str());
        printer.CloseElement(true);
        printer.CloseElement(true);
    }
    printer.CloseElement(true);
    return printed(printer);
}

std::string create_bucket_xml(const std::string& region) {
    // us-east-1 is S3's default and must not be named.
    if (region == "us-east-1") return "";
    tinyxml2::XMLPrinter printer(nullptr, true);
    printer.OpenElement("CreateBucketConfiguration", true);
    printer.PushAttribute("xmlns", s3_namespace);
    printer.OpenElement("LocationConstraint", true);
    printer.PushText(region.c_str());
    printer.CloseElement(true);
    printer.CloseElement(true);
    return printed(printer);
}

}  // namespace s3detail

}  // namespace pgtier
