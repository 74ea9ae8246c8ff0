// Sign-in against the real server: parallel guesses all count, user names
// are capped before the audit log, an address that keeps failing is
// throttled, password changes and resets sign other sessions out, the
// generated first password lives in a 0600 file and must be changed, and a
// cookie sign-in keeps the bearer token from page scripts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "server_process.hpp"

using namespace deskaudit::testing;

namespace {

constexpr const char* kEvePassword = "wonderland-pass-9";

Reply login(const std::string& url, const std::string& user, const std::string& password, const Json& extra = {}) {
  Json body = {{"username", user}, {"password", password}};
  if (extra.is_object()) body.update(extra);
  return Api(url).post("/api/v1/auth/login", body);
}

std::string user_id(Api& admin, const std::string& name) {
  const auto users = admin.get("/api/v1/users");
  for (const auto& u : users.json["items"]) {
    if (u["username"] == name) return u["id"].get<std::string>();
  }
  return {};
}

class SignIn : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("signin");
    start({});
  }
  void start(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    server_.reset();
    ServerOptions o(dir_->path() / "data");
    o.args = std::move(args);
    o.env = std::move(env);
    server_ = std::make_unique<ServerProcess>(o);
  }
  // A server whose config file holds `toml`.
  void start_with_config(const std::string& toml) {
    const auto path = dir_->path() / "server.toml";
    std::ofstream(path) << toml;
    start({"--config", path.string()});
  }
  Api admin() { return Api(server_->url(), admin_token(server_->url())); }
  void add_eve() {
    auto a = admin();
    ASSERT_EQ(
        a.post("/api/v1/users", {{"username", "eve"}, {"password", kEvePassword}, {"roles", Json::array()}}).status,
        201);
  }
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(SignIn, ThirtyTwoParallelWrongGuessesLockTheAccount) {
  add_eve();
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      // 401, or 429 once the guesses before it have locked the account.
      const auto status = login(server_->url(), "eve", "wrong-guess-" + std::to_string(i)).status;
      if (status == 401 || status == 429) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), 32);
  // Every guess counted: the account is locked, even for the right password.
  auto r = login(server_->url(), "eve", kEvePassword);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json["error"]["code"], "too_many_requests");
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("account"), std::string::npos) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
  // Each wrong password that was checked counted once: the audit log's
  // highest count equals the number of such entries.
  auto a = admin();
  auto audit = a.get("/api/v1/audit-log?action=auth.login_failed&limit=100");
  ASSERT_EQ(audit.status, 200);
  std::int64_t most = 0, checked = 0;
  for (const auto& e : audit.json["items"]) {
    if (e["details"]["reason"] != "wrong password") continue;
    ++checked;
    most = std::max<std::int64_t>(most, e["details"]["failures"].get<std::int64_t>());
  }
  EXPECT_GE(checked, 5);
  EXPECT_EQ(most, checked);
}

TEST_F(SignIn, LongUserNamesAreCutBeforeTheAuditLog) {
  const std::string huge(5000, 'x');
  auto r = login(server_->url(), huge, "whatever-password");
  EXPECT_EQ(r.status, 401) << r.body;
  // A split character at the limit is cut before it, never stored broken.
  const std::string accented = std::string(127, 'a') + "\xC3\xA9" + "tail";
  EXPECT_EQ(login(server_->url(), accented, "whatever-password").status, 401);
  auto a = admin();
  auto audit = a.get("/api/v1/audit-log?action=auth.login_failed");
  ASSERT_EQ(audit.status, 200) << audit.body;
  ASSERT_EQ(audit.json["items"].size(), 2u);
  for (const auto& e : audit.json["items"]) {
    EXPECT_LE(e["actor"].get<std::string>().size(), 128u);
    EXPECT_LE(e["target"].get<std::string>().size(), 128u);
  }
  EXPECT_EQ(audit.json["items"][0]["actor"], std::string(127, 'a'));
}

TEST_F(SignIn, AnAddressThatKeepsFailingIsThrottled) {
  start_with_config("login_failures_per_address = 3\n");
  for (const char* user : {"nobody-1", "nobody-2", "nobody-3"}) {
    EXPECT_EQ(login(server_->url(), user, "guess-password-1").status, 401);
  }
  // Spread over user names, so no account locks: the address does.
  auto r = login(server_->url(), "admin", kAdminPassword);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json["error"]["code"], "too_many_requests");
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST_F(SignIn, ChangingOnesPasswordSignsOutTheOtherSessions) {
  add_eve();
  const auto first = login(server_->url(), "eve", kEvePassword).json["token"].get<std::string>();
  const auto second = login(server_->url(), "eve", kEvePassword).json["token"].get<std::string>();
  Api eve(server_->url(), first);
  auto api_token = eve.post("/api/v1/api-tokens", {{"name", "eve automation"}});
  ASSERT_EQ(api_token.status, 201) << api_token.body;
  auto r =
      eve.post("/api/v1/auth/password", {{"current_password", kEvePassword}, {"new_password", "looking-glass-pw-2"}});
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(eve.get("/api/v1/auth/me").status, 200);                          // the caller's own session
  EXPECT_EQ(Api(server_->url(), second).get("/api/v1/auth/me").status, 401);  // the other one
  EXPECT_EQ(Api(server_->url(), api_token.json["token"].get<std::string>()).get("/api/v1/auth/me").status, 200);
}

TEST_F(SignIn, AnAdministratorsResetRevokesEverySessionAndApiToken) {
  add_eve();
  const auto session = login(server_->url(), "eve", kEvePassword).json["token"].get<std::string>();
  Api eve(server_->url(), session);
  const auto api_token = eve.post("/api/v1/api-tokens", {{"name", "eve automation"}}).json["token"].get<std::string>();
  auto a = admin();
  ASSERT_EQ(a.patch("/api/v1/users/" + user_id(a, "eve"), {{"password", "queen-of-hearts-3"}}).status, 200);
  EXPECT_EQ(eve.get("/api/v1/auth/me").status, 401);
  EXPECT_EQ(Api(server_->url(), api_token).get("/api/v1/auth/me").status, 401);
  EXPECT_EQ(a.get("/api/v1/auth/me").status, 200);
  EXPECT_EQ(login(server_->url(), "eve", "queen-of-hearts-3").json["must_change_password"], false);
}

TEST_F(SignIn, GeneratedFirstPasswordIsInAPrivateFileAndMustBeChanged) {
  dir_ = std::make_unique<TempDir>("signin-first");
  start({}, {{"DESKAUDIT_ADMIN_PASSWORD", ""}});
  const auto file = dir_->path() / "data" / "first-admin-password";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string password;
  std::ifstream(file) >> password;
  ASSERT_GE(password.size(), 20u);
  // Printed: where it is, never what it is.
  EXPECT_NE(server_->output().find(file.string()), std::string::npos) << server_->output();
  EXPECT_EQ(server_->output().find(password), std::string::npos);

  auto r = login(server_->url(), "admin", password);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["must_change_password"], true);
  Api a(server_->url(), r.json["token"].get<std::string>());
  auto refused = a.get("/api/v1/computers");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.json["error"]["code"], "password_change_required");
  EXPECT_EQ(a.post("/api/v1/pools", {{"name", "p"}}).json["error"]["code"], "password_change_required");
  auto me = a.get("/api/v1/auth/me");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.json["must_change_password"], true);
  EXPECT_EQ(a.post("/api/v1/auth/password", {{"current_password", password}, {"new_password", password}}).status, 422);
  ASSERT_EQ(a.post("/api/v1/auth/password", {{"current_password", password}, {"new_password", "Chosen-first-pw-2841"}})
                .status,
            204);
  EXPECT_EQ(a.get("/api/v1/computers").status, 200);
  EXPECT_EQ(a.get("/api/v1/auth/me").json["must_change_password"], false);
  EXPECT_FALSE(std::filesystem::exists(file));
}

#ifdef DESKAUDIT_CLI_BIN
TEST_F(SignIn, TheCliChangesTheGeneratedPassword) {
  dir_ = std::make_unique<TempDir>("signin-cli");
  start({}, {{"DESKAUDIT_ADMIN_PASSWORD", ""}});
  std::string generated;
  std::ifstream(dir_->path() / "data" / "first-admin-password") >> generated;
  auto cli = [&](const std::string& env, const std::string& args) {
    const std::string cmd = "XDG_CONFIG_HOME='" + (dir_->path() / "home").string() + "' " + env + " '" +
                            DESKAUDIT_CLI_BIN + "' --server " + server_->url() + " " + args + " 2>&1 </dev/null";
    auto r = run_command(cmd);
    return std::pair{r.exit_code, r.out};
  };
  auto [code, out] = cli("DESKAUDIT_PASSWORD='" + generated + "'", "login -u admin");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("deskaudit password"), std::string::npos) << out;
  auto [refused, why] = cli("", "pools list");
  EXPECT_EQ(refused, 4) << why;
  EXPECT_NE(why.find("password must be changed"), std::string::npos) << why;
  auto [changed, said] =
      cli("DESKAUDIT_PASSWORD='" + generated + "' DESKAUDIT_NEW_PASSWORD='Cli-chosen-pw-5521'", "password");
  ASSERT_EQ(changed, 0) << said;
  auto [listed, pools] = cli("", "pools list");
  EXPECT_EQ(listed, 0) << pools;
}
#endif

TEST_F(SignIn, AnExplicitFirstPasswordNeedsNoChange) {
  auto r = login(server_->url(), "admin", kAdminPassword);
  EXPECT_EQ(r.json["must_change_password"], false);
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "data" / "first-admin-password"));
  EXPECT_EQ(server_->output().find("first administrator"), std::string::npos);
}

TEST_F(SignIn, ACookieSignInKeepsTheTokenFromPageScripts) {
  auto cookie = login(server_->url(), "admin", kAdminPassword, {{"session", "cookie"}});
  ASSERT_EQ(cookie.status, 200) << cookie.body;
  EXPECT_FALSE(cookie.json.contains("token")) << cookie.body;
  EXPECT_NE(cookie.headers["set-cookie"].find("HttpOnly"), std::string::npos);
  EXPECT_FALSE(cookie.json["csrf_token"].get<std::string>().empty());
  // API and CLI sign-in: the bearer token, no cookie.
  auto bearer = login(server_->url(), "admin", kAdminPassword);
  ASSERT_EQ(bearer.status, 200);
  EXPECT_TRUE(bearer.json["token"].get<std::string>().starts_with("das_"));
  EXPECT_EQ(bearer.headers.count("set-cookie"), 0u);
  EXPECT_EQ(login(server_->url(), "admin", kAdminPassword, {{"session", "jar"}}).status, 422);
}

}  // namespace
