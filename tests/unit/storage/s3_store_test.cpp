// S3ObjectStore behaviour that a real server cannot be made to show on
// demand (retries on 5xx/429, list pagination, request shape, configuration,
// error mapping), checked against a small HTTP server started in the test;
// and error mapping and signatures against the S3 test servers (s3rver,
// Ceph RGW) when they are configured (s3_test_servers.hpp).
#include "storage/s3_store.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "client/http.hpp"
#include "common/crypto.hpp"
#include "storage/sigv4.hpp"
#include "store_test_support.hpp"

namespace deskaudit::storage {
namespace {

using namespace testing;
using namespace std::chrono_literals;

struct SeenRequest {
  std::string method;
  std::string path;
  std::string query_token;
  std::map<std::string, std::string> headers;
  std::string body;
};

// An HTTP server on 127.0.0.1 whose answers the test scripts.
class ScriptedServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int call)>;

  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    auto any = [this](const httplib::Request& req, httplib::Response& res) {
      int call = 0;
      {
        std::lock_guard lock(mutex_);
        SeenRequest seen{req.method, req.path, req.get_param_value("continuation-token"), {}, req.body};
        for (const auto& [k, v] : req.headers) seen.headers[lower(k)] = v;
        seen_.push_back(std::move(seen));
        call = static_cast<int>(seen_.size());
      }
      handler_(req, res, call);
    };
    server_.Get(".*", any);
    server_.Put(".*", any);
    server_.Delete(".*", any);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a test server");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~ScriptedServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::vector<SeenRequest> seen_;
};

S3Options options_for(const ScriptedServer& server, int max_retries = 3) {
  S3Options o;
  o.endpoint = server.endpoint();
  o.access_key_id = "AKIDTEST";
  o.secret_access_key = "very/secret+key";
  o.max_retries = max_retries;
  o.timeout_ms = 5000;
  return o;
}

void s3_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
                      "</Message></Error>",
                  "application/xml");
}

TEST(S3StoreRequests, PutIsSignedAndShapedForS3) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) { res.status = 200; });
  auto store = S3ObjectStore::open("s3://bucket/pre/fix/", options_for(server));
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->describe(), "s3://bucket/pre/fix");
  ASSERT_TRUE((*store)->put_bytes("rec-1/a.bin", as_bytes("payload")));
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  const auto& r = seen[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.path, "/bucket/pre/fix/rec-1/a.bin");
  EXPECT_EQ(r.body, "payload");
  EXPECT_EQ(r.headers.at("host"), server.host());
  EXPECT_EQ(r.headers.at("x-amz-content-sha256"), sha256_hex("payload"));
  EXPECT_EQ(r.headers.at("content-length"), "7");
  EXPECT_EQ(r.headers.at("x-amz-date").size(), 16u);
  EXPECT_FALSE(r.headers.contains("expect"));
  const std::string& auth = r.headers.at("authorization");
  EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/" + r.headers.at("x-amz-date").substr(0, 8) +
                               "/us-east-1/s3/aws4_request,SignedHeaders="))
      << auth;
  EXPECT_NE(auth.find("host;x-amz-content-sha256;x-amz-date"), std::string::npos) << auth;
  EXPECT_EQ(auth.find("very/secret"), std::string::npos);
}

TEST(S3StoreRequests, PutFileSendsTheFilesHash) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) { res.status = 200; });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server));
  ASSERT_TRUE(store) << store.error().message;
  const auto file = std::filesystem::temp_directory_path() / ("deskaudit-s3put-" + random_id(""));
  const std::string data = pseudo_random_bytes(300000, 9);
  write_file(file, data);
  auto st = (*store)->put_file("k", file);
  std::filesystem::remove(file);
  ASSERT_TRUE(st) << st.error().message;
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/bucket/k");
  EXPECT_EQ(seen[0].headers.at("x-amz-content-sha256"), sha256_hex(data));
  EXPECT_EQ(seen[0].body, data);
}

TEST(S3StoreRequests, HandedOverFileIsSentWithTheCallersHashNotReadTwice) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) { res.status = 200; });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server));
  ASSERT_TRUE(store) << store.error().message;
  const auto file = std::filesystem::temp_directory_path() / ("deskaudit-s3put-" + random_id(""));
  const std::string data = pseudo_random_bytes(300000, 10);
  write_file(file, data);
  // A hash that is not the file's shows that the store took the caller's
  // word (real S3 would then refuse the body; the scripted server does not check).
  const std::string claimed(64, 'a');
  auto st = (*store)->put_handed_over_file("k", file, claimed);
  auto malformed = (*store)->put_handed_over_file("k", file, "not-a-hash");
  std::filesystem::remove(file);
  ASSERT_TRUE(st) << st.error().message;
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u) << "the malformed hash must be refused before any request";
  EXPECT_EQ(seen[0].headers.at("x-amz-content-sha256"), claimed);
  EXPECT_EQ(seen[0].body, data);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, Errc::invalid_argument);
}

TEST(S3StoreRetries, RetriesServerErrorsThenSucceeds) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int call) {
    if (call == 1) return s3_error(res, 503, "SlowDown", "Please reduce your request rate.");
    if (call == 2) return s3_error(res, 500, "InternalError", "We encountered an internal error.");
    if (call == 3) return s3_error(res, 429, "TooManyRequests", "Slow down.");
    res.status = 200;
  });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server, 3));
  ASSERT_TRUE(store) << store.error().message;
  auto st = (*store)->put_bytes("k", as_bytes("v"));
  ASSERT_TRUE(st) << st.error().message;
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& r : seen) EXPECT_EQ(r.body, "v") << "every attempt sends the whole body";
}

TEST(S3StoreRetries, GivesUpAfterMaxRetriesNamingBucketKeyAndS3Code) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) {
    s3_error(res, 503, "SlowDown", "Please reduce your request rate.");
  });
  auto store = S3ObjectStore::open("s3://bucket/p", options_for(server, 2));
  ASSERT_TRUE(store) << store.error().message;
  auto st = (*store)->put_bytes("rec/k", as_bytes("v"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unavailable);
  EXPECT_NE(st.error().message.find("s3://bucket/p/rec/k"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("SlowDown"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("Please reduce your request rate."), std::string::npos) << st.error().message;
  EXPECT_EQ(server.seen().size(), 3u);
}

TEST(S3StoreRetries, ClientErrorsAreNotRetried) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) {
    s3_error(res, 403, "AccessDenied", "Access Denied");
  });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server, 3));
  ASSERT_TRUE(store) << store.error().message;
  auto st = (*store)->remove("k");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::permission_denied);
  EXPECT_NE(st.error().message.find("DELETE s3://bucket/k: HTTP 403 AccessDenied: Access Denied"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(server.seen().size(), 1u);
}

TEST(S3StoreRetries, TransportErrorsAreRetriedThenUnavailable) {
  // A port with no listener: every attempt is refused.
  std::string endpoint;
  {
    ScriptedServer gone([](const httplib::Request&, httplib::Response&, int) {});
    endpoint = gone.endpoint();
  }
  S3Options o;
  o.endpoint = endpoint;
  o.access_key_id = "id";
  o.secret_access_key = "secret";
  o.max_retries = 2;
  auto store = S3ObjectStore::open("s3://bucket", o);
  ASSERT_TRUE(store);
  const auto start = std::chrono::steady_clock::now();
  auto info = (*store)->head("k");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::unavailable);
  EXPECT_NE(info.error().message.find("HEAD s3://bucket/k"), std::string::npos) << info.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "backoff is capped";
}

TEST(S3StoreRetries, ReadsAreResumedOnlyBeforeTheFirstByte) {
  ScriptedServer server([](const httplib::Request& req, httplib::Response& res, int call) {
    if (call == 1) return s3_error(res, 500, "InternalError", "retry me");
    // After a failed ranged GET the store asks HEAD whether the read is
    // empty by size (it is not), then retries the GET.
    if (req.method == "GET") {
      EXPECT_EQ(req.get_header_value("Range"), "bytes=2-5");
    }
    res.set_content("0123456789", "application/octet-stream");  // httplib applies the Range
  });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server, 3));
  ASSERT_TRUE(store);
  auto got = read_all(**store, "k", ByteRange{2, 4});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "2345");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[1].method, "HEAD");
  EXPECT_EQ(seen[2].method, "GET");
}

TEST(S3StoreRetries, ReadsAreNotRetriedAfterBytesReachedTheSink) {
  // The body is cut short after some bytes: a retry would hand the reader
  // bytes of a possibly different version, so the read fails instead.
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 200;
    res.set_header("Content-Length", "100");
    res.set_content_provider(100, "application/octet-stream", [](size_t, size_t, httplib::DataSink& sink) {
      sink.write("0123456789", 10);
      return false;  // drop the connection mid-body
    });
  });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server, 3));
  ASSERT_TRUE(store);
  auto got = read_all(**store, "k");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::unavailable) << got.error().message;
  EXPECT_EQ(server.seen().size(), 1u);
}

TEST(S3StoreRead, AServerIgnoringRangeIsDetected) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) {
    // A chunked body escapes httplib's own Range handling, like a server
    // that does not support ranges.
    res.status = 200;
    res.set_chunked_content_provider("application/octet-stream", [](size_t, httplib::DataSink& sink) {
      sink.write("0123456789", 10);
      sink.done();
      return true;
    });
  });
  auto store = S3ObjectStore::open("s3://bucket", options_for(server));
  ASSERT_TRUE(store);
  auto got = read_all(**store, "k", ByteRange{3, 4});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::corrupt);
}

TEST(S3StoreList, FollowsContinuationTokensAndStripsThePrefix) {
  ScriptedServer server([](const httplib::Request& req, httplib::Response& res, int) {
    EXPECT_EQ(req.get_param_value("list-type"), "2");
    EXPECT_EQ(req.get_param_value("prefix"), "pre/a/");
    res.status = 200;
    const std::string token = req.get_param_value("continuation-token");
    if (token.empty()) {
      res.set_content(
          "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1+&amp;=</NextContinuationToken>"
          "<Contents><Key>pre/a/2</Key><Size>2</Size></Contents>"
          "<Contents><Key>pre/a/bad key</Key><Size>9</Size></Contents></ListBucketResult>",
          "application/xml");
    } else {
      EXPECT_EQ(token, "t/1+&=");
      res.set_content(
          "<ListBucketResult><IsTruncated>false</IsTruncated>"
          "<Contents><Key>pre/a/1</Key><Size>1</Size></Contents></ListBucketResult>",
          "application/xml");
    }
  });
  auto store = S3ObjectStore::open("s3://bucket/pre", options_for(server));
  ASSERT_TRUE(store);
  auto listed = (*store)->list("a/");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key, "a/1");
  EXPECT_EQ((*listed)[0].size_bytes, 1u);
  EXPECT_EQ((*listed)[1].key, "a/2");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/bucket");
  EXPECT_EQ(seen[1].query_token, "t/1+&=");
}

TEST(S3StoreConfig, CredentialsAndRegionFromTheEnvironment) {
  ScriptedServer server([](const httplib::Request&, httplib::Response& res, int) { res.status = 204; });
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  ::setenv("AWS_SESSION_TOKEN", "envtoken", 1);
  ::setenv("AWS_REGION", "eu-west-3", 1);
  S3Options o;
  o.endpoint = server.endpoint();
  o.region = "";
  auto store = S3ObjectStore::open("s3://bucket", o);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  ::unsetenv("AWS_REGION");
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE((*store)->remove("k"));
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].headers.at("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDENV/"));
  EXPECT_NE(seen[0].headers.at("authorization").find("/eu-west-3/s3/aws4_request"), std::string::npos);
  EXPECT_NE(seen[0].headers.at("authorization").find("x-amz-security-token"), std::string::npos);
  EXPECT_EQ(seen[0].headers.at("x-amz-security-token"), "envtoken");

  auto none = S3ObjectStore::open("s3://bucket", S3Options{});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::invalid_argument);
  EXPECT_NE(none.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST(S3StoreConfig, VirtualHostAddressing) {
  S3Options o;
  o.endpoint = "https://s3.example.com";
  o.access_key_id = "id";
  o.secret_access_key = "secret";
  o.path_style = false;
  ASSERT_TRUE(S3ObjectStore::open("s3://bucket", o));
  for (std::string_view bad : {"ftp://x", "http://", "http://user:pw@host", "http://host/path", "http://host:0",
                               "http://host:99999", "http://host:x"}) {
    o.endpoint = std::string(bad);
    auto s = S3ObjectStore::open("s3://bucket", o);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, Errc::invalid_argument);
    EXPECT_EQ(s.error().message.find("secret"), std::string::npos);
  }
}

TEST(S3StoreErrors, APayloadThatDiffersFromItsHashIsUnavailableNotInvalid) {
  // S3 refuses a body whose SHA-256 differs from the signed one (RGW:
  // XAmzContentSHA256Mismatch, AWS: BadDigest) with 400. For put_file that
  // means the file changed after it was hashed: another attempt, which hashes
  // again, can succeed, so it is not the caller's invalid argument.
  for (const std::string code : {"XAmzContentSHA256Mismatch", "BadDigest"}) {
    ScriptedServer server([&](const httplib::Request&, httplib::Response& res, int) { s3_error(res, 400, code, ""); });
    auto store = S3ObjectStore::open("s3://bucket", options_for(server, 3));
    ASSERT_TRUE(store);
    auto st = (*store)->put_bytes("rec/k", as_bytes("v"));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::unavailable) << st.error().message;
    EXPECT_NE(st.error().message.find("PUT s3://bucket/rec/k: HTTP 400 " + code), std::string::npos)
        << st.error().message;
    EXPECT_EQ(server.seen().size(), 1u) << "the same bytes would not match better on a second try";
  }
}

TEST(S3StoreErrors, RemoveFromAMissingBucketIsNotFound) {
  // A missing key is not an error for remove(); a missing bucket is.
  ScriptedServer server([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.path.starts_with("/gone/"))
      return s3_error(res, 404, "NoSuchBucket", "The specified bucket does not exist");
    s3_error(res, 404, "NoSuchKey", "The specified key does not exist.");
  });
  S3Options o = options_for(server);
  auto present = S3ObjectStore::open("s3://bucket", o);
  auto gone = S3ObjectStore::open("s3://gone", o);
  ASSERT_TRUE(present && gone);
  auto st = (*present)->remove("k");
  EXPECT_TRUE(st) << st.error().message;
  st = (*gone)->remove("k");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_NE(st.error().message.find("DELETE s3://gone/k: HTTP 404 NoSuchBucket"), std::string::npos)
      << st.error().message;
}

// Against each S3 test server (s3_test_servers.hpp) that is configured.
class S3StoreAgainstServer : public ::testing::TestWithParam<S3Server> {};

TEST_P(S3StoreAgainstServer, WrongAccessKeyIsUnauthenticated) {
  DESKAUDIT_REQUIRE_S3_TARGET(target, GetParam());
  S3Options o = s3_options(*target);
  o.access_key_id = "NOSUCHKEY";
  o.max_retries = 0;
  auto store = S3ObjectStore::open("s3://" + target->bucket, o);
  ASSERT_TRUE(store);
  auto st = (*store)->put_bytes("x", as_bytes("x"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unauthenticated) << st.error().message;
  EXPECT_NE(st.error().message.find("InvalidAccessKeyId"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("s3://" + target->bucket + "/x"), std::string::npos) << st.error().message;
}

TEST_P(S3StoreAgainstServer, MissingBucketIsNotFoundNamingIt) {
  DESKAUDIT_REQUIRE_S3_TARGET(target, GetParam());
  auto store = S3ObjectStore::open("s3://deskaudit-no-such-bucket", s3_options(*target));
  ASSERT_TRUE(store);
  auto st = (*store)->put_bytes("x", as_bytes("x"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::not_found) << st.error().message;
  EXPECT_NE(st.error().message.find("NoSuchBucket"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("deskaudit-no-such-bucket"), std::string::npos) << st.error().message;
  auto listed = (*store)->list("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Errc::not_found);
  auto removed = (*store)->remove("x");
  ASSERT_FALSE(removed) << "remove() from a bucket that does not exist";
  EXPECT_EQ(removed.error().code, Errc::not_found) << removed.error().message;
  EXPECT_NE(removed.error().message.find("NoSuchBucket"), std::string::npos) << removed.error().message;
}

TEST_P(S3StoreAgainstServer, VirtualHostStyleRoundTrip) {
  DESKAUDIT_REQUIRE_S3_TARGET(target, GetParam());
  // Both test servers serve <bucket>.s3.localhost (s3rver with
  // --service-endpoint localhost, RGW with rgw_dns_name = s3.localhost), and
  // curl resolves *.localhost to the loopback address itself.
  const std::string prefix = "http://127.0.0.1:";
  if (!target->endpoint.starts_with(prefix)) GTEST_SKIP() << "virtual-host check needs a 127.0.0.1 endpoint";
  S3Options o = s3_options(*target);
  o.endpoint = "http://s3.localhost:" + target->endpoint.substr(prefix.size());
  o.path_style = false;
  auto store = S3ObjectStore::open("s3://" + target->bucket + "/vhost-" + random_id(""), o);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->put_bytes("a/b", as_bytes("vhost"))) << "virtual-host PUT";
  EXPECT_EQ(read_all(**store, "a/b").value(), "vhost");
  EXPECT_EQ((*store)->list("a/").value().size(), 1u);
  ASSERT_TRUE((*store)->remove("a/b"));
}

INSTANTIATE_TEST_SUITE_P(Servers, S3StoreAgainstServer, ::testing::Values(S3Server::s3rver, S3Server::rgw),
                         [](const auto& info) { return deskaudit::testing::s3_server_name(info.param); });

// What only a server that verifies signatures can show (Ceph RGW; s3rver
// accepts any signature).
class S3StoreAgainstRgw : public ::testing::Test {
 protected:
  void SetUp() override {
    DESKAUDIT_REQUIRE_S3_TARGET(target, S3Server::rgw);
    target_ = *target;
  }
  S3TestTarget target_;
};

TEST_F(S3StoreAgainstRgw, AWrongSecretKeyIsUnauthenticatedAndStoresNothing) {
  const std::string prefix = "s3://" + target_.bucket + "/wrong-secret-" + random_id("");
  S3Options o = s3_options(target_);
  o.secret_access_key = target_.secret_key + "x";
  o.max_retries = 0;
  auto wrong = S3ObjectStore::open(prefix, o);
  auto right = S3ObjectStore::open(prefix, s3_options(target_));
  ASSERT_TRUE(wrong && right);
  auto st = (*wrong)->put_bytes("k", as_bytes("x"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unauthenticated) << st.error().message;
  EXPECT_NE(st.error().message.find("SignatureDoesNotMatch"), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find(o.secret_access_key), std::string::npos) << st.error().message;
  auto listed = (*wrong)->list("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Errc::unauthenticated) << listed.error().message;
  ASSERT_TRUE((*right)->put_bytes("k", as_bytes("stored")));
  // HEAD answers carry no error code: a refusal, never taken for "absent".
  auto info = (*wrong)->head("k");
  EXPECT_FALSE(info) << "HEAD with a bad signature was taken for an answer";
  auto got = read_all(**wrong, "k");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::unauthenticated) << got.error().message;
  auto removed = (*wrong)->remove("k");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::unauthenticated) << removed.error().message;
  EXPECT_EQ(read_all(**right, "k").value(), "stored") << "a request with a bad signature deleted the object";
  ASSERT_TRUE((*right)->remove("k"));
}

TEST_F(S3StoreAgainstRgw, ABodyThatDiffersFromItsSignedHashIsRefused) {
  // put_file() relies on this: it hashes the file, then streams it; a file
  // that changed in between must be refused, not stored.
  const std::string key = "tampered-" + random_id("");
  sigv4::Request r;
  r.method = "PUT";
  r.path = "/" + target_.bucket + "/" + key;
  r.headers = {{"host", target_.endpoint.substr(target_.endpoint.find("://") + 3)}};
  r.payload_sha256 = sha256_hex("what was hashed");
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  sigv4::sign_s3_request(r, {target_.access_key, target_.secret_key, ""}, "us-east-1", sigv4::amz_date(now_ms));
  client::HttpRequest req;
  req.method = "PUT";
  req.url = target_.endpoint + sigv4::canonical_uri(r.path);
  req.headers = r.headers;
  req.body = "what was sent";
  client::HttpClient http;
  auto res = http.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("<Code>XAmzContentSHA256Mismatch</Code>"), std::string::npos) << res->body;
  auto store = S3ObjectStore::open("s3://" + target_.bucket, s3_options(target_));
  ASSERT_TRUE(store);
  auto info = (*store)->head(key);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(info->has_value());

  // The same request with the right hash is stored: the refusal was the hash's.
  r.headers = {{"host", req.headers.front().second}};
  r.payload_sha256 = sha256_hex(req.body);
  sigv4::sign_s3_request(r, {target_.access_key, target_.secret_key, ""}, "us-east-1", sigv4::amz_date(now_ms));
  req.headers = r.headers;
  res = http.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(read_all(**store, key).value(), "what was sent");
  ASSERT_TRUE((*store)->remove(key));
}

}  // namespace
}  // namespace deskaudit::storage
