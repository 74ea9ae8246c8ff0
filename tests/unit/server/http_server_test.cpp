// The transport in-process with handlers of the test's own: the worker
// pool's bound, streamed bodies, 100-continue.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "server/transport/http_server.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

namespace {

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until the text holds `until` (or the connection closes).
std::string read_until(int fd, std::string_view until) {
  std::string text;
  char buf[4096];
  while (text.find(until) == std::string::npos) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  bool open = false;
  void pass() {
    std::unique_lock lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
  }
  void wait_entered(int n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered >= n; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

class ServerFixture {
 public:
  ServerFixture(transport::Options opt, transport::HttpServer::RequestHandler handler)
      : server_(std::move(opt), std::move(handler)) {
    auto port = server_.listen();
    EXPECT_TRUE(port) << port.error().message;
    port_ = port.value_or(0);
    thread_ = std::thread([this] { server_.run(); });
  }
  ~ServerFixture() {
    server_.stop();
    thread_.join();
  }
  transport::HttpServer& server() { return server_; }
  int port() const { return port_; }

 private:
  transport::HttpServer server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpServer, AFullWorkerQueueAnswers503WithRetryAfter) {
  Gate gate;
  transport::Options opt;
  opt.workers = 1;
  opt.queue_limit = 1;
  ServerFixture fx(opt, [&gate](Request& req, Response& res) {
    if (req.path == "/block") gate.pass();
    res.set_content("done", "text/plain");
  });
  const int a = connect_to(fx.port());
  send_all(a, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  gate.wait_entered(1);  // the only worker is busy
  const int b = connect_to(fx.port());
  send_all(b, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  while (fx.server().queued_requests() < 1) std::this_thread::yield();  // the queue is full
  const int c = connect_to(fx.port());
  send_all(c, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto refused = read_until(c, "}");
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("Retry-After: 1\r\n"), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"unavailable\""), std::string::npos) << refused;
  gate.release();
  EXPECT_NE(read_until(a, "done").find("200 OK"), std::string::npos);
  EXPECT_NE(read_until(b, "done").find("200 OK"), std::string::npos);
  // The refused connection stays usable.
  send_all(c, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_until(c, "done").find("200 OK"), std::string::npos);
  for (int fd : {a, b, c}) ::close(fd);
}

TEST(HttpServer, ABodyReachesTheHandlerInPiecesAfter100Continue) {
  std::size_t total = 0, pieces = 0, largest = 0;
  ServerFixture fx(transport::Options{}, [&](Request& req, Response& res) {
    ASSERT_NE(req.body, nullptr);
    const bool whole = req.body->read([&](const char*, std::size_t n) {
      total += n;
      ++pieces;
      largest = std::max(largest, n);
      return true;
    });
    res.set_content(whole ? "whole" : "cut", "text/plain");
  });
  const std::size_t size = (4u << 20) - 1;  // below the large-body size
  const int fd = connect_to(fx.port());
  send_all(fd, "PUT /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(size) +
                   "\r\n\r\n");
  EXPECT_EQ(read_until(fd, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  const std::string chunk(size / 16, 'x');
  for (int i = 0; i < 16; ++i) send_all(fd, chunk);
  send_all(fd, std::string(size - 16 * chunk.size(), 'x'));
  EXPECT_NE(read_until(fd, "whole").find("200 OK"), std::string::npos);
  EXPECT_EQ(total, size);
  EXPECT_GT(pieces, 16u);
  EXPECT_LE(largest, 64u * 1024);  // never the whole body at once
  ::close(fd);
}

TEST(HttpServer, ALargeBodyReachesTheHandlerInMegabytePiecesIntact) {
  std::string received;
  std::size_t pieces = 0, largest = 0;
  ServerFixture fx(transport::Options{}, [&](Request& req, Response& res) {
    ASSERT_NE(req.body, nullptr);
    const bool whole = req.body->read([&](const char* data, std::size_t n) {
      received.append(data, n);
      ++pieces;
      largest = std::max(largest, n);
      return true;
    });
    res.set_content(whole ? "whole" : "cut", "text/plain");
  });
  // 8 MiB + 5 of varied bytes, sent in odd-sized writes.
  std::string body((8u << 20) + 5, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 2654435761u) >> 13);
  const int fd = connect_to(fx.port());
  send_all(fd, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  for (std::size_t at = 0; at < body.size(); at += 100003) send_all(fd, std::string_view(body).substr(at, 100003));
  EXPECT_NE(read_until(fd, "whole").find("200 OK"), std::string::npos);
  EXPECT_TRUE(received == body) << "received " << received.size() << " of " << body.size() << " bytes";
  // Fewer hand-offs than 64 KiB pieces, still never the whole body at once.
  EXPECT_EQ(largest, 1u << 20);
  EXPECT_EQ(pieces, 9u);
  ::close(fd);
}

TEST(HttpServer, AProviderBodyIsStreamedAndRangesAreServed) {
  ServerFixture fx(transport::Options{}, [](Request&, Response& res) {
    res.set_content_provider(1'000'000, "application/octet-stream",
                             [](std::size_t offset, std::size_t length, Sink& sink) {
                               std::string piece;
                               for (std::size_t i = offset; i < offset + length; ++i)
                                 piece.push_back(static_cast<char>('0' + i % 10));
                               return sink.write(piece.data(), piece.size());
                             });
  });
  const int fd = connect_to(fx.port());
  send_all(fd, "GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=10-14\r\n\r\n");
  const auto r = read_until(fd, "\r\n\r\n01234");
  EXPECT_EQ(r.rfind("HTTP/1.1 206 ", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Range: bytes 10-14/1000000\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos) << r;
  ::close(fd);
}

TEST(HttpServer, BodiesThatArriveWithTheirHeadersAndPipelinedRequestsParse) {
  std::vector<std::string> bodies;
  ServerFixture fx(transport::Options{}, [&](Request& req, Response& res) {
    std::string body;
    if (req.body) req.body->read([&](const char* data, std::size_t n) { return body.append(data, n), true; });
    bodies.push_back(req.path + ":" + body);
    res.set_content("[" + body + "]", "text/plain");
  });
  const int fd = connect_to(fx.port());
  // Three requests in one write: bodies of known length right behind their
  // headers, then a bodiless one.
  send_all(fd,
           "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto r = read_until(fd, "[]");
  EXPECT_NE(r.find("[hello]"), std::string::npos) << r;
  EXPECT_LT(r.find("[hello]"), r.find("[abc]")) << r;
  EXPECT_LT(r.find("[abc]"), r.find("[]")) << r;
  EXPECT_EQ(bodies, (std::vector<std::string>{"/a:hello", "/b:abc", "/c:"}));
  ::close(fd);
}

TEST(HttpServer, ABodyCutShortEndsTheHandlersReadWithFalse) {
  std::promise<std::pair<bool, std::size_t>> result;
  ServerFixture fx(transport::Options{}, [&](Request& req, Response& res) {
    std::size_t got = 0;
    const bool whole = req.body->read([&](const char*, std::size_t n) { return got += n, true; });
    result.set_value({whole, got});
    res.set_content("x", "text/plain");
  });
  const int fd = connect_to(fx.port());
  send_all(fd, "PUT /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(70000, 'y'));
  ::shutdown(fd, SHUT_WR);
  const auto [whole, got] = result.get_future().get();
  EXPECT_FALSE(whole);
  EXPECT_LE(got, 70000u);  // what came before the end, in whole pieces
  ::close(fd);
}

TEST(HttpServer, AnUnreadBodyBeyondTheDrainLimitClosesTheConnectionWithoutWaitingForIt) {
  transport::Options opt;
  opt.max_drain_bytes = 1024;
  opt.body_timeout = std::chrono::minutes(10);  // the close must not come from a timeout
  ServerFixture fx(opt, [](Request&, Response& res) { res.set_content("unread", "text/plain"); });
  const int fd = connect_to(fx.port());
  send_all(fd, "PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n0123456789");
  std::string text;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) text.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "no end of stream: " << std::strerror(errno);  // closed, not the 60 s receive timeout
  EXPECT_EQ(text.rfind("HTTP/1.1 200 ", 0), 0u) << text;
  EXPECT_NE(text.find("unread"), std::string::npos) << text;
  ::close(fd);
}
}  // namespace
