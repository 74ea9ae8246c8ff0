// The HTTP transport of the real server process, over raw sockets and
// libcurl: keep-alive, pipelining, slow clients, framing, Range, TLS, stop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "sample_media.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{60, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// Reads one response (Content-Length framed) from a connection; `pending`
// keeps bytes of a following response. status 0: the connection closed.
RawResponse read_response(int fd, std::string& pending, bool head = false) {
  RawResponse r;
  char buf[65536];
  auto fill = [&]() {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return r;
  }
  const std::string head_text = pending.substr(0, end);
  pending.erase(0, end + 4);
  r.status = std::atoi(head_text.c_str() + 9);
  std::size_t at = head_text.find("\r\n");
  while (at != std::string::npos) {
    const auto next = head_text.find("\r\n", at + 2);
    const auto line = head_text.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(colon + 2);
    at = next;
  }
  const std::size_t length =
      head || !r.headers.contains("content-length") ? 0 : std::stoul(r.headers["content-length"]);
  while (pending.size() < length) {
    if (!fill()) break;
  }
  r.body = pending.substr(0, length);
  pending.erase(0, std::min(length, pending.size()));
  return r;
}

RawResponse roundtrip(int port, const std::string& request, bool head = false) {
  const int fd = connect_to(port);
  EXPECT_GE(fd, 0);
  send_all(fd, request);
  std::string pending;
  auto r = read_response(fd, pending, head);
  ::close(fd);
  return r;
}

std::string get_request(const std::string& path, const std::string& extra = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

class Transport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("transport");
    std::filesystem::create_directories(dir_->path() / "web");
    std::ofstream(dir_->path() / "web" / "index.html") << "<!doctype html><title>console</title>";
    std::string big;
    for (int i = 0; i < 300'000; ++i) big.push_back(static_cast<char>('a' + i % 26));
    std::ofstream(dir_->path() / "web" / "big.txt") << big;
    server_ = new ServerProcess(ServerOptions{dir_->path() / "data"});
    // A second server for the static files: --web-root is per process.
    ServerOptions web(dir_->path() / "data-web");
    web.args = {"--web-root", (dir_->path() / "web").string()};
    web_ = new ServerProcess(web);
    token_ = admin_token(server_->url());
  }
  static void TearDownTestSuite() {
    delete web_;
    delete server_;
    delete dir_;
  }
  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline ServerProcess* web_ = nullptr;
  static inline std::string token_;
};

TEST_F(Transport, KeepAliveServesManyRequestsOnOneConnection) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  std::string pending;
  for (int i = 0; i < 5; ++i) {
    send_all(fd, get_request("/api/v1/health"));
    auto r = read_response(fd, pending);
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(Json::parse(r.body)["status"], "ok");
    EXPECT_FALSE(r.headers.contains("connection"));
  }
  ::close(fd);
}

TEST_F(Transport, PipelinedRequestsAreAnsweredInOrder) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  send_all(fd, get_request("/api/v1/health") + get_request("/api/v1/nothing") +
                   get_request("/api/v1/computers", "Authorization: Bearer " + token_ + "\r\n"));
  std::string pending;
  EXPECT_EQ(read_response(fd, pending).status, 200);
  EXPECT_EQ(read_response(fd, pending).status, 404);
  auto third = read_response(fd, pending);
  EXPECT_EQ(third.status, 200);
  EXPECT_TRUE(Json::parse(third.body).contains("items"));
  ::close(fd);
}

TEST_F(Transport, SlowClientsDoNotBlockOthers) {
  // More half-sent requests than there are worker threads (32): each holds
  // only a socket, so the next client is served at once.
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    slow.push_back(fd);
  }
  for (int i = 0; i < 3; ++i) {
    client::HttpClient http;
    client::HttpRequest req;
    req.url = server_->url() + "/api/v1/health";
    req.timeout_ms = 10'000;  // the old transport held every worker for 30 s
    auto r = http.send(req);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
  }
  for (int fd : slow) ::close(fd);
}

TEST_F(Transport, ABodilessPutIsARequestWithAnEmptyBody) {
  Api admin(server_->url(), token_);
  auto pool = admin.post("/api/v1/pools", {{"name", "bodiless"}});
  ASSERT_EQ(pool.status, 201) << pool.body;
  auto agent = enroll_agent(admin, "bodiless-host");
  // As `curl -X PUT` sends it: neither Content-Length nor Transfer-Encoding.
  auto r = roundtrip(server_->port(), "PUT /api/v1/pools/" + pool.json["id"].get<std::string>() + "/computers/" +
                                          agent.computer_id + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
                                          token_ + "\r\n\r\n");
  EXPECT_EQ(r.status, 204) << r.body;
  auto computer = admin.get("/api/v1/computers/" + agent.computer_id);
  EXPECT_EQ(computer.json["pool_id"], pool.json["id"]) << computer.body;
}

TEST_F(Transport, AChunkedBodyIsRead) {
  const std::string json = R"({"username":"admin","password":")" + std::string(kAdminPassword) + R"("})";
  std::string chunked;
  for (std::size_t at = 0; at < json.size(); at += 10) {
    const auto piece = json.substr(at, 10);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    chunked += size + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  auto r = roundtrip(server_->port(),
                     "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n" +
                         chunked);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Json::parse(r.body).contains("token"));
}

TEST_F(Transport, AnOversizedBodyIs413WithoutBeingSent) {
  // Only the headers go out: the answer must come without waiting for 100 MB.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  send_all(fd,
           "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: 100000000\r\n\r\n{\"username\":");
  std::string pending;
  auto r = read_response(fd, pending);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "too_large");
  EXPECT_EQ(r.headers["connection"], "close");
  ::close(fd);
}

TEST_F(Transport, AnUnreadBodyIsSkippedSoTheNextRequestParses) {
  // Refused before its body is read (no credentials), then a second request
  // on the same connection.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  const std::string body(5000, 'x');
  send_all(fd, "PUT /api/v1/agent/recordings/r/segments/0 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n" +
                   body + get_request("/api/v1/health"));
  std::string pending;
  EXPECT_EQ(read_response(fd, pending).status, 401);
  EXPECT_EQ(read_response(fd, pending).status, 200);
  ::close(fd);
}

TEST_F(Transport, RangesOfFilesAre206Or416) {
  const int port = web_->port();
  auto whole = roundtrip(port, get_request("/big.txt"));
  ASSERT_EQ(whole.status, 200);
  ASSERT_EQ(whole.body.size(), 300'000u);
  EXPECT_EQ(whole.headers["accept-ranges"], "bytes");

  auto part = roundtrip(port, get_request("/big.txt", "Range: bytes=100-199\r\n"));
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.headers["content-range"], "bytes 100-199/300000");
  EXPECT_EQ(part.body, whole.body.substr(100, 100));

  auto tail = roundtrip(port, get_request("/big.txt", "Range: bytes=299990-\r\n"));
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, whole.body.substr(299'990));

  auto suffix = roundtrip(port, get_request("/big.txt", "Range: bytes=-7\r\n"));
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, whole.body.substr(300'000 - 7));

  auto beyond = roundtrip(port, get_request("/big.txt", "Range: bytes=300000-\r\n"));
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.headers["content-range"], "bytes */300000");

  auto head = roundtrip(port, "HEAD /big.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], "300000");
  EXPECT_TRUE(head.body.empty());

  auto index = roundtrip(port, get_request("/recordings/rec-1"));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(index.headers["content-security-policy"].find("script-src 'self'"), std::string::npos);
  EXPECT_GE(roundtrip(port, get_request("/../data-web/catalog.db")).status, 400);
}

TEST(TransportStop, ARequestInFlightFinishesAfterSigterm) {
  TempDir dir("transport-stop");
  ServerProcess server(ServerOptions{dir.path() / "data"});
  Api admin(server.url(), admin_token(server.url()));
  auto agent = enroll_agent(admin, "stop-host");
  Api agent_api(server.url(), agent.agent_token);
  auto rec =
      agent_api.post("/api/v1/agent/recordings", {{"username", "alice"}, {"start_time", "2026-11-27T09:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto segment = make_segments(1, 3).front();

  // Half of a segment upload, then SIGTERM, then the other half. The
  // request is in flight once the server has answered "100 Continue" (its
  // handler started reading the body); before that, SIGTERM may close the
  // connection as idle, which the client sees as a retryable reset.
  const int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  send_all(fd, "PUT /api/v1/agent/recordings/" + rec.json["id"].get<std::string>() +
                   "/segments/0 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + agent.agent_token +
                   "\r\nContent-Type: video/mp4\r\nX-Content-SHA256: " + sha256_of(segment) +
                   "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(segment.size()) + "\r\n\r\n");
  std::string pending;
  auto go_on = read_response(fd, pending, true);
  ASSERT_EQ(go_on.status, 100);
  send_all(fd, std::string_view(segment).substr(0, segment.size() / 2));
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  // The listener closes first: wait until new connections are refused.
  for (;;) {
    const int probe = connect_to(server.port());
    if (probe < 0) break;
    ::close(probe);
    ::usleep(20'000);
  }
  send_all(fd, std::string_view(segment).substr(segment.size() / 2));
  auto r = read_response(fd, pending);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers["connection"], "close");
  ::close(fd);
  const int status = server.stop();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---- TLS ----

int run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

struct CurlReply {
  long status = 0;
  std::string body;
  std::vector<std::string> headers;  // raw lines
  std::string error;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* out) {
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty()) static_cast<std::vector<std::string>*>(out)->push_back(line);
  return size * n;
}

CurlReply https(const std::string& url, const std::string& ca, const std::string& method = "GET",
                const std::string& body = {}, const std::vector<std::string>& headers = {}) {
  CurlReply r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  const auto rc = curl_easy_perform(c);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

std::string header_line(const CurlReply& r, const std::string& prefix) {
  for (const auto& h : r.headers) {
    if (h.size() >= prefix.size() && strncasecmp(h.c_str(), prefix.c_str(), prefix.size()) == 0) return h;
  }
  return {};
}

TEST(TransportTls, ServesHttpsWithHstsAndSecureHostCookies) {
  TempDir dir("transport-tls");
  const auto d = dir.path().string();
  // A private CA and a server certificate for 127.0.0.1, made now.
  ASSERT_EQ(run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=deskaudit-test-ca -keyout " + d +
                "/ca.key -out " + d + "/ca.pem"),
            0);
  ASSERT_EQ(run("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " + d + "/server.key -out " + d +
                "/server.csr"),
            0);
  std::ofstream(dir.path() / "ext.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  ASSERT_EQ(run("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
                "/ca.key -CAcreateserial -days 2 -extfile " + d + "/ext.cnf -out " + d + "/server.pem"),
            0);

  ServerOptions opt(dir.path() / "data");
  opt.args = {"--tls-cert", d + "/server.pem", "--tls-key", d + "/server.key"};
  ServerProcess server(opt);
  ASSERT_EQ(server.url().rfind("https://", 0), 0u) << server.url();
  const std::string ca = d + "/ca.pem";

  auto health = https(server.url() + "/api/v1/health", ca);
  ASSERT_EQ(health.status, 200) << health.error;
  EXPECT_NE(header_line(health, "strict-transport-security: max-age="), "");

  auto login =
      https(server.url() + "/api/v1/auth/login", ca, "POST",
            Json{{"username", "admin"}, {"password", kAdminPassword}, {"session", "cookie"}}.dump(), {"Content-Type: application/json"});
  ASSERT_EQ(login.status, 200) << login.error << login.body;
  std::string session, csrf;
  for (const auto& h : login.headers) {
    if (strncasecmp(h.c_str(), "set-cookie: ", 12) != 0) continue;
    const auto cookie = h.substr(12);
    EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
    EXPECT_EQ(cookie.rfind("__Host-deskaudit_", 0), 0u) << cookie;
    const auto pair = cookie.substr(0, cookie.find(';'));
    if (pair.rfind("__Host-deskaudit_session=", 0) == 0) session = pair;
    if (pair.rfind("__Host-deskaudit_csrf=", 0) == 0) csrf = pair.substr(pair.find('=') + 1);
  }
  ASSERT_FALSE(session.empty());
  ASSERT_FALSE(csrf.empty());
  // The console's way: the cookie plus the CSRF header.
  auto me = https(server.url() + "/api/v1/auth/me", ca, "GET", {}, {"Cookie: " + session});
  EXPECT_EQ(me.status, 200) << me.body;
  auto refused = https(server.url() + "/api/v1/auth/logout", ca, "POST", "", {"Cookie: " + session});
  EXPECT_EQ(refused.status, 403);
  auto out =
      https(server.url() + "/api/v1/auth/logout", ca, "POST", "", {"Cookie: " + session, "X-CSRF-Token: " + csrf});
  EXPECT_EQ(out.status, 204) << out.body;

  // Without the CA the certificate is not trusted; plain HTTP gets no answer.
  CurlReply untrusted = https(server.url() + "/api/v1/health", "/dev/null");
  EXPECT_NE(untrusted.error, "");
  auto plain = roundtrip(server.port(), get_request("/api/v1/health"));
  EXPECT_NE(plain.status, 200);
}

}  // namespace

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(TransportMetrics, PrometheusTextOnItsOwnAddress) {
  TempDir dir("transport-metrics");
  const int mport = free_port();
  ServerOptions opt(dir.path() / "data");
  opt.args = {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)};
  ServerProcess server(opt);
  Api admin(server.url(), admin_token(server.url()));
  ASSERT_EQ(admin.get("/api/v1/computers").status, 200);
  auto agent = enroll_agent(admin, "metrics-host");
  Api agent_api(server.url(), agent.agent_token);
  auto rec =
      agent_api.post("/api/v1/agent/recordings", {{"username", "alice"}, {"start_time", "2026-11-27T09:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto segment = make_segments(1, 2).front();
  auto up = agent_api.raw("PUT", "/api/v1/agent/recordings/" + rec.json["id"].get<std::string>() + "/segments/0",
                          segment, {{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha256_of(segment)}});
  ASSERT_EQ(up.status, 201) << up.body;

  auto m = roundtrip(mport, get_request("/metrics"));
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body.find("deskaudit_http_requests_total{route=\"GET /api/v1/computers\",status=\"200\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("deskaudit_upload_bytes_total " + std::to_string(segment.size()) + "\n"), std::string::npos);
  EXPECT_NE(m.body.find("deskaudit_agents_online 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("deskaudit_http_open_connections "), std::string::npos);
  // Not on the API address.
  EXPECT_EQ(roundtrip(server.port(), get_request("/metrics")).body.find("deskaudit_http"), std::string::npos);
}

}  // namespace
