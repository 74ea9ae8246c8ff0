// The dispatcher and the HTTP types without a network: requests built in memory.
#include <gtest/gtest.h>

#include <fstream>

#include "common/crypto.hpp"
#include "server/app.hpp"
#include "server/router.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

namespace {

// A request body that records whether anyone read it.
class MemoryBody final : public BodyReader {
 public:
  explicit MemoryBody(std::string bytes, std::size_t piece = 7) : bytes_(std::move(bytes)), piece_(piece) {}
  bool read(const BodyReceiver& receiver) override {
    was_read = true;
    for (std::size_t at = 0; at < bytes_.size(); at += piece_) {
      if (!receiver(bytes_.data() + at, std::min(piece_, bytes_.size() - at))) return false;
    }
    return true;
  }
  bool was_read = false;

 private:
  std::string bytes_;
  std::size_t piece_;
};

class StringSink final : public Sink {
 public:
  bool write(const char* data, std::size_t size) override {
    out.append(data, size);
    return true;
  }
  std::string out;
};

Request make(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  EXPECT_TRUE(parse_target(r));
  return r;
}

std::string body_of(const Response& res) {
  if (!res.provider) return res.body;
  StringSink sink;
  EXPECT_TRUE(res.provider(0, res.content_length, sink));
  return sink.out;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("deskaudit-router-" + random_id(""));
    std::filesystem::create_directories(dir_ / "web" / "assets");
    std::ofstream(dir_ / "web" / "index.html") << "<!doctype html><title>console</title>";
    std::ofstream(dir_ / "web" / "assets" / "app-1234.js") << "console.log(1)";
    std::ofstream(dir_ / "secret.txt") << "outside the web root";
    ServerConfig config;
    config.data_dir = dir_ / "data";
    config.max_json_bytes = 64;
    auto app = App::create(config, std::make_shared<SystemClock>(), "test-secret-password-1");
    ASSERT_TRUE(app) << app.error().message;
    app_ = std::move(*app);
    routes_ = build_routes(app_->services());
    routes_.push_back(Route{"PUT", "/test/echo/([^/]+)", Access::open(),
                            [this](Context& ctx) -> Status {
                              ++calls_;
                              ctx.reply({{"id", ctx.param(1)}, {"q", ctx.query("q")}, {"body", ctx.raw_body()}});
                              return {};
                            },
                            false, "test"});
    routes_.push_back(Route{"GET", "/test/fail", Access::open(),
                            [](Context&) -> Status { return fail(Errc::unavailable, "catalog is down"); }, false,
                            "test"});
    routes_.push_back(Route{"GET", "/test/bad-utf8", Access::open(),
                            [](Context& ctx) -> Status {
                              ctx.reply({{"name", std::string("ab\xE2\x82")}});
                              return {};
                            },
                            false, "test"});
    routes_.push_back(Route{"POST", "/test/cookie", Access::open(),
                            [](Context& ctx) -> Status {
                              ctx.res.set_header("Set-Cookie", "deskaudit_session=abc; Path=/; HttpOnly");
                              ctx.res.headers.emplace("Set-Cookie", "deskaudit_csrf=def; Path=/");
                              ctx.reply_empty();
                              return {};
                            },
                            false, "test"});
    router_ = std::make_unique<Router>(app_->services(), routes_, dir_ / "web");
  }
  void TearDown() override {
    router_.reset();
    app_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Response handle(Request& req) {
    Response res;
    router_->handle(req, res);
    return res;
  }

  std::filesystem::path dir_;
  std::unique_ptr<App> app_;
  std::vector<Route> routes_;
  std::unique_ptr<Router> router_;
  int calls_ = 0;
};

TEST(HttpTypes, TargetIsDecodedIntoPathAndQuery) {
  auto r = make("GET", "/api/v1/computers/a%20b?q=x+y&limit=5&flag");
  EXPECT_EQ(r.path, "/api/v1/computers/a b");
  EXPECT_EQ(r.get_param_value("q"), "x y");
  EXPECT_EQ(r.get_param_value("limit"), "5");
  EXPECT_TRUE(r.has_param("flag"));
  EXPECT_FALSE(r.has_param("other"));
  Request bad;
  bad.target = "/a%2";
  EXPECT_FALSE(parse_target(bad));
  bad.target = "/a%00b";
  EXPECT_FALSE(parse_target(bad));
  bad.target = "relative";
  EXPECT_FALSE(parse_target(bad));
}

TEST(HttpTypes, HeadersAreCaseInsensitiveAndRepeat) {
  Response res;
  res.set_header("Set-Cookie", "a=1");
  res.headers.emplace("set-cookie", "b=2");
  EXPECT_EQ(res.headers.count("SET-COOKIE"), 2u);
  res.set_header("Content-Type", "x");
  res.set_header("content-type", "y");
  EXPECT_EQ(res.get_header_value("CONTENT-TYPE"), "y");
  EXPECT_EQ(res.headers.count("Content-Type"), 1u);
}

TEST(HttpTypes, RangeParser) {
  auto r = parse_range("bytes=0-99", 1000);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->length, 100u);
  r = parse_range("bytes=990-", 1000);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 990u);
  EXPECT_EQ((*r)->length, 10u);
  r = parse_range("bytes=-10", 1000);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 990u);
  EXPECT_EQ((*r)->length, 10u);
  r = parse_range("bytes=-5000", 1000);  // a suffix longer than the body is all of it
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->length, 1000u);
  r = parse_range("bytes=900-5000", 1000);  // the end is clipped
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->length, 100u);
  // Unsatisfiable: 416.
  EXPECT_FALSE(parse_range("bytes=1000-", 1000));
  EXPECT_FALSE(parse_range("bytes=-0", 1000));
  EXPECT_FALSE(parse_range("bytes=0-", 0));
  // Ignored (the whole body): other units, several ranges, garbage, overflow.
  for (const char* ignored :
       {"items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=5-2", "bytes=99999999999999999999999-", "bytes=1-2-3"}) {
    auto x = parse_range(ignored, 1000);
    ASSERT_TRUE(x) << ignored;
    EXPECT_FALSE(*x) << ignored;
  }
}

TEST_F(RouterTest, UnknownRoutesAreJson404) {
  auto req = make("GET", "/api/v1/nothing-here");
  auto res = handle(req);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(Json::parse(res.body)["error"]["code"], "not_found");
}

TEST_F(RouterTest, ProtectedRoutesNeedAToken) {
  auto req = make("GET", "/api/v1/computers");
  auto res = handle(req);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(Json::parse(res.body)["error"]["code"], "unauthenticated");
}

TEST_F(RouterTest, ABodilessPutHasAnEmptyBody) {
  auto req = make("PUT", "/test/echo/x1?q=hello");
  auto res = handle(req);
  ASSERT_EQ(res.status, 200) << res.body;
  auto j = Json::parse(res.body);
  EXPECT_EQ(j["id"], "x1");
  EXPECT_EQ(j["q"], "hello");
  EXPECT_EQ(j["body"], "");
}

TEST_F(RouterTest, TheBodyIsReadInPiecesForTheHandler) {
  auto req = make("PUT", "/test/echo/x");
  MemoryBody body(R"({"a":"some json"})");
  req.chunked = true;
  req.body = &body;
  auto res = handle(req);
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(Json::parse(res.body)["body"], R"({"a":"some json"})");
}

TEST_F(RouterTest, ABodyOverTheLimitIs413BeforeAByteIsRead) {
  auto req = make("PUT", "/test/echo/x");
  MemoryBody body(std::string(65, 'x'));
  req.content_length = 65;
  req.body = &body;
  auto res = handle(req);
  EXPECT_EQ(res.status, 413);
  EXPECT_FALSE(body.was_read);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(res.get_header_value("Connection"), "close");
}

TEST_F(RouterTest, AChunkedBodyOverTheLimitIs413) {
  auto req = make("PUT", "/test/echo/x");
  MemoryBody body(std::string(200, 'x'));
  req.chunked = true;
  req.body = &body;
  auto res = handle(req);
  EXPECT_EQ(res.status, 413);
  EXPECT_EQ(calls_, 0);
}

TEST_F(RouterTest, UnavailableIs503WithRetryAfter) {
  auto req = make("GET", "/test/fail");
  auto res = handle(req);
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.get_header_value("Retry-After"), "1");
}

TEST(WriteError, ARefusalForNowIs429WithRetryAfterInWholeSeconds) {
  Response res;
  write_error(res, retry_later(1'500, "over the budget").error());
  EXPECT_EQ(res.status, 429);
  EXPECT_EQ(res.get_header_value("Retry-After"), "2");
  EXPECT_EQ(Json::parse(res.body)["error"]["message"], "over the budget; try again in 2 s");
  Response plain;
  write_error(plain, Error{Errc::too_many_requests, "no hint"});
  EXPECT_FALSE(plain.has_header("Retry-After"));
}

TEST_F(RouterTest, JsonWithInvalidUtf8IsReplacedNotThrown) {
  auto req = make("GET", "/test/bad-utf8");
  auto res = handle(req);
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(Json::accept(res.body));
}

TEST_F(RouterTest, EveryResponseCarriesSecurityHeaders) {
  for (const char* target : {"/api/v1/health", "/api/v1/nothing", "/"}) {
    auto req = make("GET", target);
    auto res = handle(req);
    SCOPED_TRACE(target);
    EXPECT_EQ(res.get_header_value("Content-Security-Policy"), kContentSecurityPolicy);
    EXPECT_EQ(res.get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(res.get_header_value("X-Frame-Options"), "DENY");
    EXPECT_FALSE(res.has_header("Strict-Transport-Security"));
  }
}

TEST_F(RouterTest, OverTlsCookiesAreSecureHostCookiesAndHstsIsSent) {
  auto plain = make("POST", "/test/cookie");
  auto res = handle(plain);
  auto [b, e] = res.headers.equal_range("Set-Cookie");
  ASSERT_EQ(std::distance(b, e), 2);
  EXPECT_EQ(b->second, "deskaudit_session=abc; Path=/; HttpOnly");

  auto tls = make("POST", "/test/cookie");
  tls.tls = true;
  res = handle(tls);
  std::vector<std::string> cookies;
  for (auto [it, end] = res.headers.equal_range("Set-Cookie"); it != end; ++it) cookies.push_back(it->second);
  EXPECT_EQ(cookies, (std::vector<std::string>{"__Host-deskaudit_session=abc; Path=/; HttpOnly; Secure",
                                               "__Host-deskaudit_csrf=def; Path=/; Secure"}));
  EXPECT_EQ(res.get_header_value("Strict-Transport-Security"), "max-age=31536000");
}

TEST_F(RouterTest, TheSessionCookieNameFollowsTheListener) {
  // A plain-HTTP cookie name sent over TLS is not a session (and vice versa).
  auto req = make("GET", "/api/v1/auth/me");
  req.tls = true;
  req.headers.emplace("Cookie", "deskaudit_session=das_whatever");
  EXPECT_EQ(cookie_value(req, session_cookie_name(true)), "");
  req.headers.emplace("Cookie", "__Host-deskaudit_session=das_x; other=1");
  EXPECT_EQ(cookie_value(req, session_cookie_name(true)), "das_x");
  EXPECT_EQ(handle(req).status, 401);
}

TEST_F(RouterTest, ConsoleFilesHaveTheirTypeAndClientRoutesGetTheIndex) {
  auto js = make("GET", "/assets/app-1234.js");
  auto res = handle(js);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.get_header_value("Content-Type"), "application/javascript; charset=utf-8");
  EXPECT_EQ(body_of(res), "console.log(1)");

  for (const char* route : {"/", "/recordings/rec-1", "/computers"}) {
    auto req = make("GET", route);
    res = handle(req);
    SCOPED_TRACE(route);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(body_of(res), "<!doctype html><title>console</title>");
  }
  auto missing = make("GET", "/missing.png");
  EXPECT_EQ(handle(missing).status, 404);
}

TEST_F(RouterTest, PathTraversalIsRefused) {
  for (const char* target : {"/../secret.txt", "/assets/..%2f..%2fsecret.txt", "/%2e%2e/secret.txt"}) {
    auto req = make("GET", target);
    auto res = handle(req);
    SCOPED_TRACE(target);
    EXPECT_GE(res.status, 400);
    EXPECT_EQ(body_of(res).find("outside"), std::string::npos);
  }
}

}  // namespace

namespace {

TEST_F(RouterTest, MetricsCountRequestsByRouteAndStatus) {
  Metrics metrics(router_->route_names());
  router_->set_metrics(&metrics);
  for (int i = 0; i < 3; ++i) {
    auto req = make("GET", "/api/v1/health");
    EXPECT_EQ(handle(req).status, 200);
  }
  auto missing = make("GET", "/api/v1/nothing");
  EXPECT_EQ(handle(missing).status, 404);
  const auto text = metrics.render(7, 2, 0, 90'000);
  EXPECT_NE(text.find("deskaudit_http_requests_total{route=\"GET /api/v1/health\",status=\"200\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("deskaudit_http_requests_total{route=\"other\",status=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("deskaudit_http_request_duration_seconds_count{route=\"GET /api/v1/health\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("deskaudit_http_open_connections 7\n"), std::string::npos);
  EXPECT_NE(text.find("deskaudit_http_queued_requests 2\n"), std::string::npos);
  router_->set_metrics(nullptr);
}

TEST(MetricsText, AgentsOnlineFollowTheWindow) {
  Metrics m({});
  m.agent_seen("cmp-1", 1'000);
  m.agent_seen("cmp-2", 100'000);
  m.add_upload_bytes(300);
  m.sweeper_run(true);
  const auto text = m.render(0, 0, 100'000, 90'000);
  EXPECT_NE(text.find("deskaudit_agents_online 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("deskaudit_upload_bytes_total 300\n"), std::string::npos);
  EXPECT_NE(text.find("deskaudit_sweeper_runs_total{result=\"ok\"} 1\n"), std::string::npos);
}

}  // namespace
