// Transport rules shared by the agent and the CLI: no plain http:// beyond
// loopback unless asked for, and https to a server whose certificate comes
// from a private CA (generated with openssl at run time) given as ca_file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "client/http.hpp"
#include "test_pki.hpp"

namespace deskaudit::client {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(CheckTransport, PlainHttpOnlyToLoopbackUnlessAllowed) {
  for (const char* url : {"http://127.0.0.1:8080", "http://127.1.2.3/", "http://localhost:8080/api", "http://LOCALHOST",
                          "http://[::1]:8080", "http://user@127.0.0.1:9/x"}) {
    EXPECT_TRUE(check_transport(url, false, "--insecure-http")) << url;
  }
  for (const char* url : {"https://audit.example.com", "https://10.0.0.5:8443/", "HTTPS://audit.example.com"}) {
    EXPECT_TRUE(check_transport(url, false, "--insecure-http")) << url;
  }
  for (const char* url : {"http://audit.example.com", "http://10.0.0.5:8080", "http://127.0.0.1.example.com/",
                          "http://localhost.example.com", "http://[::2]:80", "http://[::ffff:10.0.0.1]/",
                          "http://127.0.0.1@evil.example/", "HTTP://audit.example.com"}) {
    auto st = check_transport(url, false, "--insecure-http");
    ASSERT_FALSE(st) << url;
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_NE(st.error().message.find("--insecure-http"), std::string::npos) << st.error().message;
    EXPECT_TRUE(check_transport(url, true, "--insecure-http")) << url;
  }
  EXPECT_FALSE(check_transport("ftp://127.0.0.1/", true, "--insecure-http"));
  EXPECT_FALSE(check_transport("127.0.0.1:8080", true, "--insecure-http"));
}

TEST(UrlHost, TakesTheHostAlone) {
  EXPECT_EQ(url_host("https://a.example:8443/x?y"), "a.example");
  EXPECT_EQ(url_host("http://[::1]:80/"), "::1");
  EXPECT_EQ(url_host("http://u:p@h.example/"), "h.example");
  EXPECT_EQ(url_host("nothing"), "");
}

TEST(DnsNameMatches, ExactNamesAndOneLeftmostWildcardLabel) {
  struct Case {
    const char* pattern;
    const char* host;
    bool matches;
  };
  const Case cases[] = {
      {"audit.example.com", "audit.example.com", true},
      {"Audit.Example.COM", "audit.example.com", true},
      {"audit.example.com.", "audit.example.com", true},
      {"audit.example.com", "audit.example.com.", true},
      {"*.example.com", "audit.example.com", true},
      {"*.example.com", "AUDIT.example.com", true},
      {"audit.example.com", "example.com", false},
      {"audit.example.com", "audit.example.com.evil.test", false},
      {"*.example.com", "example.com", false},
      {"*.example.com", "a.b.example.com", false},
      {"*.example.com", ".example.com", false},
      {"*.com", "example.com", false},
      {"*.*.example.com", "a.b.example.com", false},
      {"f*.example.com", "foo.example.com", false},
      {"*", "localhost", false},
      {"", "localhost", false},
      {"localhost", "", false},
  };
  for (const auto& c : cases) EXPECT_EQ(dns_name_matches(c.pattern, c.host), c.matches) << c.pattern << " / " << c.host;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    pki_ = testing::make_test_pki(dir_);
    ASSERT_TRUE(pki_.ok) << "openssl (Debian package openssl) must be installed";
    server_ = std::make_unique<httplib::SSLServer>(pki_.server_cert.c_str(), pki_.server_key.c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/hello",
                 [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(1ms);
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    fs::remove_all(dir_);
  }
  HttpRequest hello(const std::string& host = "localhost") {
    HttpRequest r;
    r.url = "https://" + host + ":" + std::to_string(port_) + "/hello";
    return r;
  }

  fs::path dir_;
  testing::TestPki pki_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(TlsTest, HttpsWithThePrivateCaWorks) {
  HttpClient client(HttpClientOptions{pki_.ca_cert});
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto r = client.send(hello(host));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hi");
  }
}

TEST_F(TlsTest, HttpsWithoutTheCaFailsVerificationWithAClearError) {
  HttpClient client;
  auto r = client.send(hello());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, kTlsVerifyField);
  EXPECT_NE(r.error().message.find("TLS certificate could not be verified"), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, ACaFileThatDidNotSignTheServerFails) {
  const fs::path other = dir_ / "other";
  fs::create_directories(other);
  auto pki = testing::make_test_pki(other);
  ASSERT_TRUE(pki.ok);
  HttpClient client(HttpClientOptions{pki.ca_cert});
  auto r = client.send(hello());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, kTlsVerifyField) << r.error().message;
}

TEST_F(TlsTest, AMissingCaFileIsNamed) {
  HttpClient client(HttpClientOptions{dir_ / "no-such-ca.pem"});
  auto r = client.send(hello());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no-such-ca.pem"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace deskaudit::client
