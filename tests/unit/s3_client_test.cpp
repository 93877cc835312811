#include <unistd.h>

#include "catch_compat.hpp"

#include <cstdio>
#include <string>

#include "pgtier/storage/s3_client.hpp"

using namespace pgtier;
using namespace pgtier::s3detail;

namespace {
constexpr std::uint64_t mib = 1ULL << 20;
}

TEST_CASE("small files go up in one PUT, large ones in parts of 8 MiB or more") {
    const S3Tuning tuning;
    CHECK(plan_upload(0, tuning).parts == 0);
    CHECK(plan_upload(64 * mib, tuning).parts == 0);
    const UploadPlan just_over = plan_upload(64 * mib + 1, tuning);
    CHECK(just_over.part_size == 8 * mib);
    CHECK(just_over.parts == 9);
    const UploadPlan gib = plan_upload(1ULL << 30, tuning);
    CHECK(gib.part_size == 8 * mib);
    CHECK(gib.parts == 128);
}

TEST_CASE("the part size grows so that no upload needs more than 10000 parts") {
    const S3Tuning tuning;
    const std::uint64_t sizes[] = {80000 * mib, 80000 * mib + 1,  1ULL << 40,
                                   5ULL << 40,  (5ULL << 40) - 1, 3ULL << 38};
    for (const std::uint64_t size : sizes) {
        const UploadPlan plan = plan_upload(size, tuning);
        INFO("size " << size << " part " << plan.part_size << " parts " << plan.parts);
        CHECK(plan.parts <= 10000);
        CHECK(plan.part_size >= 8 * mib);
        CHECK(plan.part_size % mib == 0);
        CHECK(plan.part_size * plan.parts >= size);
        CHECK(plan.part_size * (plan.parts - 1) < size);  // the last part is not empty
        CHECK(plan.part_size <= (5ULL << 30));            // S3's largest part
    }
    CHECK(plan_upload(5ULL << 40, tuning).parts == 9987);
    CHECK(plan_upload(5ULL << 40, tuning).part_size == 525 * mib);
    CHECK_THROWS_WITH(plan_upload((5ULL << 40) + 1, tuning), match::Contains("5 TiB"));
}

TEST_CASE("tests can shrink the thresholds") {
    S3Tuning tuning;
    tuning.single_put_max = 8 * mib;
    tuning.min_part_size = 5 * mib;
    const UploadPlan plan = plan_upload(20 * mib + 123, tuning);
    CHECK(plan.part_size == 5 * mib);
    CHECK(plan.parts == 5);
}

TEST_CASE("keys are URI-encoded per segment as S3 signs them") {
    CHECK(uri_encode("AZaz09-._~") == "AZaz09-._~");
    CHECK(uri_encode("a b+c/d") == "a%20b%2Bc%2Fd");
    CHECK(uri_encode("%&=?#") == "%25%26%3D%3F%23");
    CHECK(uri_encode("\xc3\xa9") == "%C3%A9");  // UTF-8 bytes, upper-case hex
    CHECK(encode_key("full/20261123_030405_full.sql.bz2") == "full/20261123_030405_full.sql.bz2");
    CHECK(encode_key("dir with space/a+b/x y") == "dir%20with%20space/a%2Bb/x%20y");
    CHECK(encode_key("a//b/") == "a//b/");
    CHECK(encode_key("../x/./y") == "../x/./y");
}

TEST_CASE("query strings are sorted and encoded, empty values keep their '='") {
    CHECK(make_query({{"uploads", ""}}) == "uploads=");
    CHECK(make_query({{"uploadId", "a+b/c="}, {"partNumber", "3"}}) ==
          "partNumber=3&uploadId=a%2Bb%2Fc%3D");
    CHECK(make_query({{"prefix", "dir with space/a+b/"},
                      {"list-type", "2"},
                      {"max-keys", "1000"},
                      {"continuation-token", "1/x=="}}) ==
          "continuation-token=1%2Fx%3D%3D&list-type=2&max-keys=1000&"
          "prefix=dir%20with%20space%2Fa%2Bb%2F");
}

TEST_CASE("ListObjectsV2 replies are read with their continuation token") {
    const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>p/a &amp; b.sql.bz2</Key><LastModified>2026-11-23T03:04:05.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12345678901</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/ leading space</Key><ETag>"x-2"</ETag><Size>0</Size></Contents>
</ListBucketResult>)";
    const ListPage page = parse_list_reply(xml);
    REQUIRE(page.objects.size() == 2);
    CHECK(page.objects[0].key == "p/a & b.sql.bz2");
    CHECK(page.objects[0].size == 12345678901ULL);
    CHECK(page.objects[0].etag == "\"9b2cf535f27731c974343645a3985328\"");
    CHECK(page.objects[1].key == "p/ leading space");
    CHECK(page.objects[1].size == 0);
    REQUIRE(page.next_token);
    CHECK(*page.next_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

    const ListPage last =
        parse_list_reply("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
    CHECK(last.objects.empty());
    CHECK_FALSE(last.next_token);
}

TEST_CASE("odd ListObjectsV2 replies are refused") {
    CHECK_THROWS_WITH(parse_list_reply("<ListAllMyBucketsResult/>"),
                      match::Contains("not a ListBucketResult"));
    CHECK_THROWS(parse_list_reply("not xml"));
    CHECK_THROWS(
        parse_list_reply("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                         "</Contents></ListBucketResult>"));
    CHECK_THROWS(
        parse_list_reply("<ListBucketResult><Contents><Size>1</Size></Contents>"
                         "</ListBucketResult>"));
    CHECK_THROWS_WITH(
        parse_list_reply("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
        match::Contains("no continuation token"));
}

TEST_CASE("a listing ends with an error when the server repeats a token or never stops") {
    ListPaging paging;
    CHECK(paging.next(std::string("t1")));
    CHECK(paging.next(std::string("t2")));
    CHECK_FALSE(paging.next(std::nullopt));  // the last page
    CHECK(paging.pages() == 3);

    // IsTruncated with the token of the page just read: the same request again, forever.
    ListPaging same;
    CHECK(same.next(std::string("loop")));
    CHECK_THROWS_WITH(same.next(std::string("loop")), match::Contains("\"loop\" again after 2"));
    // Or an older one: a cycle.
    ListPaging cycle;
    CHECK(cycle.next(std::string("a")));
    CHECK(cycle.next(std::string("b")));
    CHECK_THROWS_WITH(cycle.next(std::string("a")), match::Contains("again"));

    // Fresh tokens without end: stopped at the page limit.
    ListPaging fresh(5);
    for (int i = 0; i < 4; ++i) CHECK(fresh.next("token" + std::to_string(i)));
    CHECK_THROWS_WITH(fresh.next(std::string("token4")), match::Contains("after 5 pages"));
    // The limit is generous for a real bucket: 1000 keys a page, a hundred million keys.
    CHECK(ListPaging::default_max_pages >= 100000);
}

TEST_CASE("error replies give their code and message") {
    const ErrorReply error = parse_error_reply(
        R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>)"
        R"(<Message>The request signature we calculated does not match</Message>)"
        R"(<RequestId>tx1</RequestId></Error>)");
    CHECK(error.code == "SignatureDoesNotMatch");
    CHECK(error.message == "The request signature we calculated does not match");
    const ErrorReply bucket = parse_error_reply(
        "<Error><Code>NoSuchBucket</Code><Message></Message><BucketName>b</BucketName></Error>");
    CHECK(bucket.code == "NoSuchBucket");
    CHECK(bucket.message.empty());
    CHECK(parse_error_reply("").code.empty());
    CHECK(parse_error_reply("<html>502 Bad Gateway</html>").code.empty());
    CHECK(parse_error_reply("<ListBucketResult/>").code.empty());
}

TEST_CASE("multipart documents") {
    CHECK(parse_upload_id("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                          "<UploadId>2~abc</UploadId></InitiateMultipartUploadResult>") == "2~abc");
    CHECK(parse_upload_id("<Error><Code>AccessDenied</Code></Error>").empty());
    const std::string xml = complete_upload_xml({"\"e1\"", "\"e2\""});
    CHECK(xml.find("<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
                   "<Part><PartNumber>2</PartNumber>") != std::string::npos);
    CHECK(xml.rfind("<CompleteMultipartUpload xmlns=", 0) == 0);
    CHECK(create_bucket_xml("us-east-1").empty());
    CHECK(create_bucket_xml("eu-west-1").find("<LocationConstraint>eu-west-1<") !=
          std::string::npos);
}

TEST_CASE("Content-MD5 of memory and of a file range") {
    CHECK(content_md5("") == "1B2M2Y8AsgTpgAmY7PhCfg==");
    CHECK(content_md5("hello\n") == "sZRqySSS0jR8YjW00mERhA==");
    char path[] = "/tmp/pgtier-s3-md5-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string text = "xxhello\nyy";
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    CHECK(content_md5(fd, 2, 6) == "sZRqySSS0jR8YjW00mERhA==");
    CHECK_THROWS_WITH(content_md5(fd, 2, 100), match::Contains("shorter"));
    ::close(fd);
    ::unlink(path);
}

TEST_CASE("locations describe themselves for messages") {
    S3Location location;
    location.bucket = "bkt";
    CHECK(location.describe() == "s3://bkt at https://s3.us-east-1.amazonaws.com");
    location.endpoint = "http://127.0.0.1:7480";
    location.prefix = "a/b";
    CHECK(location.describe() == "s3://bkt/a/b at http://127.0.0.1:7480");
}

TEST_CASE("a bad endpoint is refused when the client is made") {
    S3Location location;
    location.bucket = "bkt";
    location.endpoint = "ftp://example.com";
    CHECK_THROWS_WITH(S3Client(location, {}), match::Contains("http:// or https://"));
}
