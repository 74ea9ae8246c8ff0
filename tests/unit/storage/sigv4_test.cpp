// SigV4 against AWS's published worked examples: Amazon S3 API Reference,
// "Signature Calculations for the Authorization Header: Transferring Payload
// in a Single Chunk (AWS Signature Version 4)", section "Examples: Signature
// Calculations" (GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket
// (List Objects)); example credentials AKIAIOSFODNN7EXAMPLE /
// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z, us-east-1.
// The canonical requests, string-to-sign hashes, signatures and headers
// below are the document's values.
#include "storage/sigv4.hpp"

#include <gtest/gtest.h>

#include "common/crypto.hpp"

namespace deskaudit::storage::sigv4 {
namespace {

const Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kDate = "20130524T000000Z";
constexpr std::string_view kHost = "examplebucket.s3.amazonaws.com";

// The last line of a string to sign: the hex SHA-256 of the canonical request.
std::string last_line(const std::string& s) { return s.substr(s.rfind('\n') + 1); }

TEST(SigV4Aws, GetObjectWithRange) {
  Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", std::string(kHost)},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
               {"x-amz-date", std::string(kDate)}};
  r.payload_sha256 = std::string(kEmptyPayloadSha256);
  const auto s = sign(r, kExample, "us-east-1", "s3", kDate);
  EXPECT_EQ(s.canonical_request,
            "GET\n"
            "/test.txt\n"
            "\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Aws, PutObject) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string payload = sha256_hex(body);
  ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  Request r;
  r.method = "PUT";
  r.path = "/test$file.text";  // raw; '$' must be encoded exactly once
  r.headers = {{"Host", std::string(kHost)},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  r.payload_sha256 = payload;
  // sign_s3_request adds x-amz-date and x-amz-content-sha256 itself.
  const auto s = sign_s3_request(r, kExample, "us-east-1", kDate);
  EXPECT_EQ(s.canonical_request,
            "PUT\n"
            "/test%24file.text\n"
            "\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-storage-class:REDUCED_REDUNDANCY\n"
            "\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(last_line(s.string_to_sign), "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  // The request now carries what was signed, plus Authorization.
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers.back().first, "Authorization");
  EXPECT_EQ(r.headers.back().second, s.authorization);
}

// The two bucket examples differ only in their query.
void expect_bucket_example(std::vector<std::pair<std::string, std::string>> query,
                           std::string_view canonical_query_line, std::string_view canonical_request_sha256,
                           std::string_view signature) {
  Request r;
  r.method = "GET";
  r.path = "/";
  r.query = std::move(query);
  r.headers = {{"Host", std::string(kHost)}};
  const auto s = sign_s3_request(r, kExample, "us-east-1", kDate);
  EXPECT_EQ(s.canonical_request,
            "GET\n"
            "/\n" +
                std::string(canonical_query_line) +
                "\n"
                "host:examplebucket.s3.amazonaws.com\n"
                "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                "x-amz-date:20130524T000000Z\n"
                "\n"
                "host;x-amz-content-sha256;x-amz-date\n"
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(last_line(s.string_to_sign), canonical_request_sha256);
  EXPECT_EQ(s.signature, signature);
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" +
                std::string(signature));
}

TEST(SigV4Aws, GetBucketLifecycle) {
  // A sub-resource without a value is signed as "lifecycle=".
  expect_bucket_example({{"lifecycle", ""}},
                        "lifecycle=", "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Aws, GetBucketListObjects) {
  // Given out of order on purpose: the canonical query sorts.
  expect_bucket_example({{"prefix", "J"}, {"max-keys", "2"}}, "max-keys=2&prefix=J",
                        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, SessionTokenIsSentAndSigned) {
  Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", std::string(kHost)}};
  const Credentials temp{kExample.access_key_id, kExample.secret_access_key, "token/with+chars="};
  const auto s = sign_s3_request(r, temp, "us-east-1", kDate);
  EXPECT_NE(s.signed_headers.find("x-amz-security-token"), std::string::npos);
  bool sent = false;
  for (const auto& [name, value] : r.headers) sent |= name == "x-amz-security-token" && value == "token/with+chars=";
  EXPECT_TRUE(sent);
  EXPECT_EQ(s.authorization.find(temp.secret_access_key), std::string::npos);
}

TEST(SigV4, PathIsEncodedExactlyOnceAndKeepsSlashes) {
  EXPECT_EQ(canonical_uri("/bucket/rec-1/seg-000001.mp4"), "/bucket/rec-1/seg-000001.mp4");
  EXPECT_EQ(canonical_uri("/b/a b/c"), "/b/a%20b/c");
  // A literal '%' is data, not an escape: encoded once, never passed through.
  EXPECT_EQ(canonical_uri("/b/100%25"), "/b/100%2525");
  EXPECT_EQ(canonical_uri("/b/x+y=z~"), "/b/x%2By%3Dz~");
  // S3 does not normalise: "//" and "." stay as they are.
  EXPECT_EQ(canonical_uri("/b//./k"), "/b//./k");
  EXPECT_EQ(canonical_uri(""), "/");
}

TEST(SigV4, QueryValuesAreEncodedIncludingSlash) {
  EXPECT_EQ(canonical_query({{"prefix", "a/b c"}, {"list-type", "2"}, {"continuation-token", "1+2/3="}}),
            "continuation-token=1%2B2%2F3%3D&list-type=2&prefix=a%2Fb%20c");
  EXPECT_EQ(canonical_query({}), "");
}

TEST(SigV4, HeaderValuesAreTrimmedAndSpacesCollapsed) {
  Request a;
  a.method = "GET";
  a.headers = {{"Host", "h"}, {"X-Amz-Meta-A", "  one   two  "}};
  const auto s = sign(a, kExample, "us-east-1", "s3", kDate);
  EXPECT_NE(s.canonical_request.find("\nx-amz-meta-a:one two\n"), std::string::npos) << s.canonical_request;
}

TEST(SigV4, AmzDate) {
  EXPECT_EQ(amz_date(1369353600000), "20130524T000000Z");
  EXPECT_EQ(amz_date(1795784700123), "20261127T130500Z");
}

// RFC 4231 test case 2 (key shorter than the block) and 6 (key longer than
// the block): hmac_sha256 must take keys of any length.
TEST(SigV4, HmacSha256Rfc4231) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(to_hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

}  // namespace
}  // namespace deskaudit::storage::sigv4

namespace deskaudit::storage::sigv4 {
namespace {

// Beyond AWS's document: a ListObjectsV2 continuation with a session token,
// where query values hold '/', '=' and '+'-free base64. Expected value
// computed independently with botocore 1.43.11 (S3SigV4Auth) for
// GET http://127.0.0.1:4568/deskaudit-test?continuation-token=...&list-type=2
// &max-keys=1000&prefix=rec-1/seg_0.m4s at 20261127T141151Z, eu-central-1.
TEST(SigV4CrossCheck, ListContinuationWithSessionTokenMatchesBotocore) {
  Request r;
  r.method = "GET";
  r.path = "/deskaudit-test";
  r.query = {{"list-type", "2"},
             {"prefix", "rec-1/seg_0.m4s"},
             {"max-keys", "1000"},
             {"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="}};
  r.headers = {{"host", "127.0.0.1:4568"}};
  const Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session/token+x="};
  const auto s = sign_s3_request(r, creds, "eu-central-1", "20261127T141151Z");
  EXPECT_EQ(s.canonical_request,
            "GET\n"
            "/deskaudit-test\n"
            "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D&list-type=2&max-keys=1000&"
            "prefix=rec-1%2Fseg_0.m4s\n"
            "host:127.0.0.1:4568\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20261127T141151Z\n"
            "x-amz-security-token:session/token+x=\n"
            "\n"
            "host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.signature, "686a0f37af2cf15ae9da49a168e152f160763beec4d54daaafe35d80d004eefe");
}

}  // namespace
}  // namespace deskaudit::storage::sigv4
