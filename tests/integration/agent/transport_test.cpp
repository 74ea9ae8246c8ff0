// The agent and the CLI over the wire, without a display: no plain http://
// beyond loopback unless --insecure-http, https to a server whose certificate
// comes from a private CA (--ca-file; a CA made with openssl at run time and
// httplib's SSLServer as the peer), and the set-aside report of the
// heartbeat as the real server stores and shows it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "agent_harness.hpp"
#include "keys/key_service.hpp"
#include "server_process.hpp"
#include "test_pki.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Runs a command line; returns its stdout and stderr together.
std::string run(const std::string& cmd, int* status) { return shell(cmd + " 2>&1", status); }

// A stand-in deskaudit server over TLS with the few routes a test needs.
class TlsPeer {
 public:
  explicit TlsPeer(const TestPki& pki) : server_(pki.server_cert.c_str(), pki.server_key.c_str()) {
    server_.Post("/api/v1/auth/login", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"token":"das_tls_test","expires_at":"2099-01-01T00:00:00Z"})", "application/json");
    });
    server_.Get("/api/v1/auth/me", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer das_tls_test") {
        res.status = 401;
        res.set_content(R"({"error":{"code":"unauthenticated","message":"sign in"}})", "application/json");
        return;
      }
      res.set_content(R"({"username":"tls-admin"})", "application/json");
    });
    server_.Post("/api/v1/agent/enroll", [this](const httplib::Request& req, httplib::Response& res) {
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (body.is_object() && body.contains("public_key") && body["public_key"].is_string()) {
        std::lock_guard lock(mu_);
        enrolled_key_ = body["public_key"].get<std::string>();
      }
      res.status = 201;
      res.set_content(R"({"computer_id":"cc-tls","agent_token":"dat_tls"})", "application/json");
    });
    // The uploader registers its key before its first upload (agents
    // enrolled before signing existed, a key that failed at enrollment).
    server_.Post("/api/v1/agent/keys", [this](const httplib::Request& req, httplib::Response& res) {
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (req.get_header_value("Authorization") != "Bearer dat_tls" || !body.is_object() ||
          !body.contains("public_key") || !body["public_key"].is_string()) {
        res.status = 400;
        res.set_content(R"({"error":{"code":"invalid_argument","message":"public_key"}})", "application/json");
        return;
      }
      auto key = keys::public_key_from_base64(body["public_key"].get<std::string>());
      if (!key) {
        res.status = 400;
        res.set_content(R"({"error":{"code":"invalid_argument","message":"not a key"}})", "application/json");
        return;
      }
      {
        std::lock_guard lock(mu_);
        registered_keys_.push_back(key->base64());
      }
      res.status = 200;
      res.set_content(nlohmann::json{{"key_id", key->key_id}, {"status", "already_current"}}.dump(),
                      "application/json");
    });
    server_.Get("/api/v1/agent/policy", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"policy":null,"source":"none","etag":"none"})", "application/json");
    });
    server_.Post("/api/v1/agent/heartbeat", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") == "Bearer dat_tls") ++heartbeats_;
      res.set_content(R"({"policy_etag":"none"})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~TlsPeer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://localhost:" + std::to_string(port_); }
  int heartbeats() const { return heartbeats_; }
  std::string enrolled_key() const {
    std::lock_guard lock(mu_);
    return enrolled_key_;
  }
  std::vector<std::string> registered_keys() const {
    std::lock_guard lock(mu_);
    return registered_keys_;
  }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> heartbeats_{0};
  mutable std::mutex mu_;
  std::string enrolled_key_;                  // guarded by mu_
  std::vector<std::string> registered_keys_;  // guarded by mu_
};

}  // namespace

class TransportIT : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("transport-it");
    pki_ = make_test_pki(dir_->path());
    ASSERT_TRUE(pki_.ok) << "openssl (Debian package openssl) must be installed";
    config_ = dir_->path() / "config";
    fs::create_directories(config_);
  }
  // The CLI with its own config directory (saved login) and no inherited settings.
  std::string cli(const std::string& args, int* status) {
    return run("env -u DESKAUDIT_SERVER -u DESKAUDIT_TOKEN -u DESKAUDIT_CA_FILE XDG_CONFIG_HOME=" +
                   quote(config_.string()) + " " + quote(DESKAUDIT_CLI_BIN) + " " + args,
               status);
  }

  std::unique_ptr<TempDir> dir_;
  TestPki pki_;
  fs::path config_;
};

TEST_F(TransportIT, CliRefusesPlainHttpBeyondLoopbackUnlessInsecureHttp) {
  int st = 0;
  auto out = cli("--server http://audit.example.invalid:8080 whoami", &st);
  EXPECT_EQ(st, 2) << out;
  EXPECT_NE(out.find("--insecure-http"), std::string::npos) << out;
  EXPECT_NE(out.find("audit.example.invalid"), std::string::npos) << out;

  // Allowed: it then tries (and cannot resolve the name).
  out = cli("--insecure-http --server http://audit.example.invalid:8080 whoami", &st);
  EXPECT_NE(st, 0);
  EXPECT_EQ(out.find("--insecure-http"), std::string::npos) << out;
  EXPECT_NE(out.find("cannot reach"), std::string::npos) << out;

  out = run("env DESKAUDIT_SERVER=http://10.1.2.3 XDG_CONFIG_HOME=" + quote(config_.string()) + " " +
                quote(DESKAUDIT_CLI_BIN) + " whoami",
            &st);
  EXPECT_EQ(st, 2) << out;
  EXPECT_NE(out.find("--insecure-http"), std::string::npos) << out;
}

TEST_F(TransportIT, CliOverHttpsWithAPrivateCaAndTheSettingPersists) {
  TlsPeer peer(pki_);
  int st = 0;
  // Without the CA: verification fails, and the message says what to do.
  auto out = cli("--server " + peer.url() + " login -u admin -p x", &st);
  EXPECT_NE(st, 0) << out;
  EXPECT_NE(out.find("TLS certificate could not be verified"), std::string::npos) << out;
  EXPECT_NE(out.find("--ca-file"), std::string::npos) << out;

  out = cli("--server " + peer.url() + " --ca-file " + quote(pki_.ca_cert.string()) + " login -u admin -p x", &st);
  ASSERT_EQ(st, 0) << out;
  // Later commands use the saved server, token and CA.
  out = cli("whoami", &st);
  EXPECT_EQ(st, 0) << out;
  EXPECT_NE(out.find("tls-admin"), std::string::npos) << out;
  // A CA from the environment works as the flag does.
  out = run("env XDG_CONFIG_HOME=" + quote((dir_->path() / "elsewhere").string()) + " DESKAUDIT_TOKEN=das_tls_test " +
                "DESKAUDIT_CA_FILE=" + quote(pki_.ca_cert.string()) + " " + quote(DESKAUDIT_CLI_BIN) + " --server " +
                peer.url() + " whoami",
            &st);
  EXPECT_EQ(st, 0) << out;
}

TEST_F(TransportIT, AgentRefusesPlainHttpBeyondLoopbackUnlessInsecureHttp) {
  int st = 0;
  const std::string state = quote((dir_->path() / "state").string());
  auto out = run(quote(DESKAUDIT_AGENT_BIN) +
                     " run --server http://audit.example.invalid --enroll-token det_x "
                     "--state-dir " +
                     state,
                 &st);
  EXPECT_EQ(st, 1) << out;
  EXPECT_NE(out.find("--insecure-http"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_->path() / "state" / "credential.json"));
}

TEST_F(TransportIT, AgentEnrollsAndReportsOverHttpsWithACaFile) {
  TlsPeer peer(pki_);
  const fs::path state = dir_->path() / "state";
  {
    // Without the CA: enrollment stops at once with a clear error.
    int st = 0;
    auto out = run("timeout 60 " + quote(DESKAUDIT_AGENT_BIN) + " run --server " + peer.url() +
                       " --enroll-token det_x --display :250 --state-dir " + quote(state.string()),
                   &st);
    EXPECT_EQ(st, 1) << out;
    EXPECT_NE(out.find("TLS certificate could not be verified"), std::string::npos) << out;
    EXPECT_NE(out.find("--ca-file"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(state / "credential.json"));
  }
  Child agent({DESKAUDIT_AGENT_BIN, "run", "--server", peer.url(), "--ca-file", pki_.ca_cert.string(), "--enroll-token",
               "det_x", "--display", ":250", "--heartbeat-seconds", "0.2", "--state-dir", state.string()},
              dir_->path() / "agent.log");
  EXPECT_TRUE(wait_until([&] { return peer.heartbeats() >= 2; }, 60s)) << tail_of(dir_->path() / "agent.log");
  EXPECT_TRUE(fs::exists(state / "credential.json"));
  // The key pair made at enrollment: its public key went with the
  // enrollment and is registered by the uploader; the private key is 0600.
  EXPECT_TRUE(wait_until([&] { return !peer.registered_keys().empty(); }, 60s)) << tail_of(dir_->path() / "agent.log");
  const auto key = keys::KeyService::open({state / "signing.key", state / "signing-keys", ""});
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(peer.enrolled_key(), (*key)->current().base64());
  ASSERT_FALSE(peer.registered_keys().empty());
  EXPECT_EQ(peer.registered_keys().front(), (*key)->current().base64());
  EXPECT_EQ(fs::status(state / "signing.key").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  const auto status = agent.stop(SIGTERM, 30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << tail_of(dir_->path() / "agent.log");
}

// The heartbeat's set-aside report, as the real server stores it and shows it
// in GET /api/v1/computers/{id}/recording-status.
TEST(SetAsideReportIT, RecordingStatusShowsWhatTheAgentSetAside) {
  TempDir data("set-aside-it");
  ServerOptions so(data.path());
  so.env["DESKAUDIT_ADMIN_PASSWORD"] = kAdminPassword;
  ServerProcess server(so);
  Api admin(server.url(), admin_token(server.url()));
  const auto enrolled = enroll_agent(admin, "aside-host");
  Api agent(server.url(), enrolled.agent_token);
  const std::string status_path = "/api/v1/computers/" + enrolled.computer_id + "/recording-status";
  const auto check = [&](const Reply& r) -> Json {
    for (const auto& c : r.json["checks"]) {
      if (c["id"] == "set_aside") return c;
    }
    return nullptr;
  };

  Json hb = {{"agent_version", "0.1.0"}, {"spool_bytes", 0}};
  ASSERT_EQ(agent.post("/api/v1/agent/heartbeat", hb).status, 200);
  auto r = admin.get(status_path);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(check(r).is_null()) << r.body;
  EXPECT_TRUE(check(r)["ok"].get<bool>());

  Json items = Json::array();
  for (int i = 0; i < 30; ++i) {
    items.push_back({{"local_id", "r00000000000000" + std::to_string(i) + "-x"},
                     {"recording_id", "rec-" + std::to_string(i)},
                     {"username", "alice"},
                     {"http_status", 404},
                     {"error", std::string(3000, 'e') + "\xc3\xbc"},
                     {"set_aside_at", "2026-11-30T10:00:00Z"},
                     {"unknown", std::string(1000, 'u')}});
  }
  items[0]["error"] = "PUT segment 0: HTTP 404: no recording rec-0 on this computer";
  hb["set_aside_count"] = 30;
  hb["set_aside"] = items;
  ASSERT_EQ(agent.post("/api/v1/agent/heartbeat", hb).status, 200);
  r = admin.get(status_path);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json c = check(r);
  EXPECT_FALSE(c["ok"].get<bool>());
  EXPECT_FALSE(r.json["ok"].get<bool>());
  const std::string detail = c["detail"];
  EXPECT_NE(detail.find("30 recording(s)"), std::string::npos) << detail;
  EXPECT_NE(detail.find("rec-0) HTTP 404: PUT segment 0: HTTP 404: no recording rec-0"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("rec-25"), std::string::npos) << "at most 20 items are kept";
  EXPECT_EQ(detail.find("uuu"), std::string::npos) << "unknown fields are dropped";
  EXPECT_LT(detail.size(), 20u * 700);

  // Cleared on the agent: the next heartbeat clears it on the server.
  ASSERT_EQ(agent
                .post("/api/v1/agent/heartbeat",
                      {{"agent_version", "0.1.0"}, {"set_aside_count", 0}, {"set_aside", Json::array()}})
                .status,
            200);
  r = admin.get(status_path);
  EXPECT_TRUE(check(r)["ok"].get<bool>()) << r.body;

  EXPECT_EQ(agent.post("/api/v1/agent/heartbeat", {{"agent_version", "0.1.0"}, {"set_aside", "many"}}).status, 422);
}
