// HttpClient against a real HTTP server (cpp-httplib) started inside the test
// on 127.0.0.1 with a kernel-chosen port.
#include "client/http.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/crypto.hpp"

namespace deskaudit::client {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class LocalServer {
 public:
  LocalServer() {
    server_.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Custom-Thing", "Value 1");
      res.set_content("hello world", "text/plain");
    });
    server_.Get("/headers", [](const httplib::Request& req, httplib::Response& res) {
      // Echo what arrived so the test can see what the client sent.
      std::string out;
      for (const auto& [name, value] : req.headers) out += name + "=" + value + "\n";
      res.set_content(out, "text/plain");
    });
    server_.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1]);
      // 204 and 304 carry no body (httplib would send one anyway).
      if (res.status != 204 && res.status != 304)
        res.set_content("status body " + std::string(req.matches[1]), "text/plain");
    });
    server_.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(3u << 20, 'b'), "application/octet-stream");
    });
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 40 && !stopping_; ++i) std::this_thread::sleep_for(50ms);
      res.set_content("late", "text/plain");
    });
    server_.Delete("/thing", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    server_.Post("/echo",
                 [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "text/plain"); });
    // Hashes the body while it streams in, so a 10+ MiB upload is checked
    // byte for byte without the server holding it.
    server_.Put("/upload",
                [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                  Sha256 hash;
                  std::uint64_t bytes = 0;
                  reader([&](const char* data, size_t n) {
                    hash.update(std::string_view(data, n));
                    bytes += n;
                    return true;
                  });
                  last_upload_content_length_ = req.get_header_value("Content-Length");
                  last_upload_chunked_ = req.has_header("Transfer-Encoding");
                  last_upload_expect_ = req.has_header("Expect");
                  res.status = 201;
                  res.set_content(hash.hex() + " " + std::to_string(bytes), "text/plain");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a test server");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~LocalServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  std::string last_upload_content_length_;
  bool last_upload_chunked_ = false;
  bool last_upload_expect_ = false;

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-http-" + random_id(""));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  LocalServer server_;
  HttpClient client_;
  fs::path dir_;
};

// Deterministic, incompressible-looking bytes.
std::string pseudo_random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

HttpRequest request(std::string method, std::string url) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

HttpRequest put_file(std::string url, fs::path path, std::uint64_t offset = 0,
                     std::optional<std::uint64_t> length = std::nullopt) {
  HttpRequest r = request("PUT", std::move(url));
  r.file = FileBody{std::move(path), offset, length};
  return r;
}

HttpRequest with_body(HttpRequest r, std::string body) {
  r.body = std::move(body);
  return r;
}

TEST_F(HttpClientTest, GetReturnsBodyStatusAndLowercasedHeaders) {
  auto r = client_.send(request("GET", server_.url("/hello")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
  ASSERT_TRUE(r->headers.contains("x-custom-thing"));
  EXPECT_EQ(r->headers.at("x-custom-thing"), "Value 1");
  EXPECT_EQ(r->headers.at("content-length"), "11");
  EXPECT_FALSE(r->headers.contains("X-Custom-Thing"));
}

TEST_F(HttpClientTest, SendsRequestHeadersAndNoExpect) {
  HttpRequest req = request("GET", server_.url("/headers"));
  req.headers = {{"X-Amz-Date", "20130524T000000Z"}};
  auto r = client_.send(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(r->body.find("X-Amz-Date=20130524T000000Z\n"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("Expect"), std::string::npos) << r->body;
}

TEST_F(HttpClientTest, HeaderInjectionIsRejected) {
  HttpRequest req = request("GET", server_.url("/headers"));
  req.headers = {{"X-Evil", "a\r\nHost: other"}};
  auto r = client_.send(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(HttpClientTest, AnyStatusIsAValue) {
  for (int code : {201, 204, 301, 404, 416, 500, 503}) {
    auto r = client_.send(request("GET", server_.url("/status/" + std::to_string(code))));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, code);
  }
}

TEST_F(HttpClientTest, HeadHasHeadersButNoBody) {
  auto r = client_.send(request("HEAD", server_.url("/hello")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("content-length"), "11");
  EXPECT_TRUE(r->body.empty());
}

TEST_F(HttpClientTest, DeleteAndPost) {
  auto d = client_.send(request("DELETE", server_.url("/thing")));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->status, 204);
  auto p = client_.send(with_body(request("POST", server_.url("/echo")), "ping"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->body, "ping");
}

TEST_F(HttpClientTest, SinkReceivesSuccessBodiesInPieces) {
  std::string got;
  int calls = 0;
  auto r = client_.send(request("GET", server_.url("/big")), [&](std::span<const std::byte> data) {
    got.append(reinterpret_cast<const char*>(data.data()), data.size());
    ++calls;
    return true;
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(got, std::string(3u << 20, 'b'));
  EXPECT_GT(calls, 1);
}

TEST_F(HttpClientTest, SinkIsNotGivenErrorBodies) {
  bool called = false;
  auto r = client_.send(request("GET", server_.url("/status/404")), [&](std::span<const std::byte>) {
    called = true;
    return true;
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(called);
  EXPECT_EQ(r->body, "status body 404");
}

TEST_F(HttpClientTest, SinkCanStopTheTransfer) {
  std::size_t got = 0;
  auto r = client_.send(request("GET", server_.url("/big")), [&](std::span<const std::byte> data) {
    got += data.size();
    return false;
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("stopped by reader"), std::string::npos) << r.error().message;
  EXPECT_LT(got, 3u << 20);
}

TEST_F(HttpClientTest, PutStreamsALargeFileWithContentLength) {
  const std::string data = pseudo_random_bytes((10u << 20) + 12345, 7);
  const fs::path file = dir_ / "large.bin";
  std::ofstream(file, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));

  auto r = client_.send(put_file(server_.url("/upload"), file));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, sha256_hex(data) + " " + std::to_string(data.size()));
  EXPECT_EQ(server_.last_upload_content_length_, std::to_string(data.size()));
  EXPECT_FALSE(server_.last_upload_chunked_);
  EXPECT_FALSE(server_.last_upload_expect_);

  // The connection is reused and the file is sent again from its start.
  auto again = client_.send(put_file(server_.url("/upload"), file));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->body, r->body);
}

TEST_F(HttpClientTest, PutSendsAFileSlice) {
  const std::string data = pseudo_random_bytes(100000, 3);
  const fs::path file = dir_ / "slice.bin";
  std::ofstream(file, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  auto r = client_.send(put_file(server_.url("/upload"), file, 1000, 5000));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, sha256_hex(std::string_view(data).substr(1000, 5000)) + " 5000");

  auto tail = client_.send(put_file(server_.url("/upload"), file, 99000));
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(tail->body, sha256_hex(std::string_view(data).substr(99000)) + " 1000");
}

// From 4 MiB on, a body leaves through a 1 MiB buffer instead of 64 KiB:
// a slice at an odd offset and a body from memory arrive intact through it.
TEST_F(HttpClientTest, LargeBodiesFromAFileSliceAndFromMemoryArriveIntact) {
  const std::string data = pseudo_random_bytes((6u << 20) + 777, 11);
  const fs::path file = dir_ / "large-slice.bin";
  std::ofstream(file, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  const std::uint64_t offset = 12345, length = (5u << 20) + 1;
  auto slice = client_.send(put_file(server_.url("/upload"), file, offset, length));
  ASSERT_TRUE(slice) << slice.error().message;
  EXPECT_EQ(slice->body, sha256_hex(std::string_view(data).substr(offset, length)) + " " + std::to_string(length));

  const std::string memory = data.substr(0, 4u << 20);
  auto r = client_.send(with_body(request("PUT", server_.url("/upload")), memory));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, sha256_hex(memory) + " " + std::to_string(memory.size()));
  EXPECT_EQ(server_.last_upload_content_length_, std::to_string(memory.size()));
}

TEST_F(HttpClientTest, PutFromMemoryAndEmptyPut) {
  auto r = client_.send(with_body(request("PUT", server_.url("/upload")), "abc"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, sha256_hex("abc") + " 3");
  auto e = client_.send(request("PUT", server_.url("/upload")));
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->body, sha256_hex("") + " 0");
  EXPECT_EQ(server_.last_upload_content_length_, "0");
}

TEST_F(HttpClientTest, BadFileBodiesAreRejectedBeforeSending) {
  const fs::path file = dir_ / "small.bin";
  std::ofstream(file, std::ios::binary) << "0123456789";
  auto past = client_.send(put_file(server_.url("/upload"), file, 11));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::invalid_argument);
  auto too_long = client_.send(put_file(server_.url("/upload"), file, 5, 6));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, Errc::invalid_argument);
  auto missing = client_.send(put_file(server_.url("/upload"), dir_ / "nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

TEST_F(HttpClientTest, TimeoutIsUnavailable) {
  const auto start = std::chrono::steady_clock::now();
  auto r = client_.send([&] {
    HttpRequest req = request("GET", server_.url("/slow"));
    req.timeout_ms = 300;
    return req;
  }());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  EXPECT_LT(elapsed, 1500ms);
}

// A port nobody listens on: bind one, note it, close it.
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(HttpClientNoServer, ConnectionRefusedIsUnavailableWithCurlsMessage) {
  const int port = unused_port();
  ASSERT_GT(port, 0);
  HttpClient client;
  auto r = client.send(request("GET", "http://127.0.0.1:" + std::to_string(port) + "/x?secret=1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("onnect"), std::string::npos)
      << r.error().message;  // "Connection refused"/"Couldn't connect"
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << "the query must not appear in errors";
}

TEST(HttpClientNoServer, OnlyHttpAndHttpsAreSpoken) {
  HttpClient client;
  auto r = client.send(request("GET", "file:///etc/passwd"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

TEST(UrlEncode, KeepsUnreservedAndOptionallySlash) {
  EXPECT_EQ(url_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(url_encode("a b/c+d=e&f%"), "a%20b%2Fc%2Bd%3De%26f%25");
  EXPECT_EQ(url_encode("a b/c", true), "a%20b/c");
  EXPECT_EQ(url_encode("test$file.text"), "test%24file.text");
  EXPECT_EQ(url_encode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(url_encode(""), "");
}

}  // namespace
TEST(ApiError, ReadsTheServersErrorBody) {
  HttpResponse r;
  r.status = 422;
  r.body = R"({"error":{"code":"unprocessable","message":"recording.fps must be 2, 5, 10 or 15","field":"recording.fps"}})";
  const Error e = api_error(r);
  EXPECT_EQ(e.code, Errc::unprocessable);
  EXPECT_EQ(e.message, "recording.fps must be 2, 5, 10 or 15");
  EXPECT_EQ(e.field, "recording.fps");
  // The server's own code of the same status is kept.
  r.status = 403;
  r.body = R"({"error":{"code":"password_change_required","message":"change it"}})";
  EXPECT_EQ(api_error(r).code, Errc::password_change_required);
  // 429 is a rate limit, not an outage; both are retried (is_transient).
  r.status = 429;
  r.body = R"({"error":{"code":"too_many_requests","message":"slow down"}})";
  EXPECT_EQ(api_error(r).code, Errc::too_many_requests);
}

TEST(ApiError, AnotherBodyLeavesTheWordingToTheCaller) {
  HttpResponse r;
  r.status = 502;
  r.body = "<html>Bad Gateway</html>";
  Error e = api_error(r);
  EXPECT_EQ(e.code, Errc::unavailable);
  EXPECT_TRUE(e.message.empty());
  EXPECT_TRUE(e.field.empty());
  // A field of the wrong type is ignored, not thrown on.
  r.status = 400;
  r.body = R"({"error":{"code":"invalid_argument","message":5,"field":["x"]}})";
  e = api_error(r);
  EXPECT_EQ(e.code, Errc::invalid_argument);
  EXPECT_TRUE(e.message.empty());
  EXPECT_TRUE(e.field.empty());
}

}  // namespace deskaudit::client
