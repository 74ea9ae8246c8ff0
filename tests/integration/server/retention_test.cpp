// Retention with a clock the test moves: deleting a policy leaves its
// recordings until their own expiry; the sweeper then removes objects and
// rows; a legal hold keeps a recording; the audit log records each step and
// its chain verifies. The server runs in-process (same code as the binary)
// so that its clock can be injected.
#include <gtest/gtest.h>

#include "in_process_server.hpp"
#include "sample_media.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

constexpr EpochMs kDay = 24ll * 3600 * 1000;

class Retention : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("retention");
    clock_ = std::make_shared<ManualClock>(parse_rfc3339("2026-11-27T12:00:00Z").value());
    server::ServerConfig config;
    config.data_dir = dir_->path() / "data";
    config.sweep_interval_ms = 3600'000;  // the test calls sweep_once itself
    server_ = std::make_unique<InProcessServer>(config, clock_);
    app_ = &server_->app();
    url_ = server_->url();
  }
  std::unique_ptr<TempDir> dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<InProcessServer> server_;
  server::App* app_ = nullptr;
  std::string url_;
};

TEST_F(Retention, PolicyDeletionKeepsRecordingsUntilTheirExpiryThenTheSweeperRemovesThem) {
  // An API token without expiry: console sessions end after 12 h of clock.
  Api admin(url_, admin_token(url_));
  admin.set_token(admin.post("/api/v1/api-tokens", {{"name", "retention test"}}).json["token"].get<std::string>());
  auto pol = admin.post("/api/v1/policies", {{"name", "short"}, {"recording", {{"mode", "session"}, {"retention_days", 2}}}});
  ASSERT_EQ(pol.status, 201);
  const auto policy_id = pol.json["id"].get<std::string>();
  auto creds = enroll_agent(admin, "desk-r");
  ASSERT_EQ(admin.put("/api/v1/policies/" + policy_id + "/assignments/computers/" + creds.computer_id).status, 204);
  Api agent(url_, creds.agent_token);
  auto segs = make_segments(2, 4);
  auto record = [&](const std::string& user) {
    auto id = agent.post("/api/v1/agent/recordings", {{"username", user}, {"start_time", "2026-11-27T11:00:00Z"}}).json["id"].get<std::string>();
    for (int i = 0; i < 2; ++i) {
      auto r = agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/" + std::to_string(i), segs[static_cast<std::size_t>(i)],
                         {{"X-Content-SHA256", sha256_of(segs[static_cast<std::size_t>(i)])}});
      EXPECT_EQ(r.status, 201) << r.body;
    }
    auto fin = agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T11:30:00Z"}});
    EXPECT_EQ(fin.json["expires_at"], "2026-11-29T11:30:00Z");
    return id;
  };
  const auto doomed = record("alice");
  const auto held = record("bob");
  ASSERT_EQ(admin.put("/api/v1/recordings/" + held + "/legal-hold").status, 200);
  const auto objects_dir = dir_->path() / "data" / "objects" / "recordings" / creds.computer_id;
  ASSERT_TRUE(std::filesystem::exists(objects_dir / doomed));

  // Unassigning and deleting the policy changes nothing for the recordings.
  ASSERT_EQ(admin.del("/api/v1/policies/" + policy_id + "/assignments/computers/" + creds.computer_id).status, 204);
  ASSERT_EQ(admin.del("/api/v1/policies/" + policy_id).status, 204);
  auto kept = admin.get("/api/v1/recordings/" + doomed);
  ASSERT_EQ(kept.status, 200);
  EXPECT_EQ(kept.json["expires_at"], "2026-11-29T11:30:00Z");
  EXPECT_EQ(kept.json["policy_name"], "short");

  // One day later: not yet expired.
  clock_->advance(kDay);
  EXPECT_EQ(app_->sweep_once().value(), 0);
  EXPECT_EQ(admin.get("/api/v1/recordings/" + doomed).status, 200);

  // Past the expiry: the sweeper deletes objects and rows; the held one stays.
  clock_->set(parse_rfc3339("2026-11-29T11:30:01Z").value());
  EXPECT_EQ(app_->sweep_once().value(), 1);
  EXPECT_EQ(admin.get("/api/v1/recordings/" + doomed).status, 404);
  EXPECT_FALSE(std::filesystem::exists(objects_dir / doomed));
  EXPECT_EQ(admin.get("/api/v1/recordings/" + held).status, 200);
  EXPECT_TRUE(std::filesystem::exists(objects_dir / held));
  // Idempotent: a second pass finds nothing.
  EXPECT_EQ(app_->sweep_once().value(), 0);

  // Releasing the hold lets the next pass take it.
  ASSERT_EQ(admin.del("/api/v1/recordings/" + held + "/legal-hold").status, 200);
  EXPECT_EQ(app_->sweep_once().value(), 1);
  EXPECT_EQ(admin.get("/api/v1/recordings/" + held).status, 404);
  EXPECT_FALSE(std::filesystem::exists(objects_dir / held));

  // The audit log tells the story and its chain verifies.
  for (const std::string& action : std::vector<std::string>{"policy.unassign", "policy.delete", "recording.hold", "recording.release", "recording.expire"}) {
    auto a = admin.get("/api/v1/audit-log?action=" + action);
    ASSERT_EQ(a.status, 200);
    EXPECT_FALSE(a.json["items"].empty()) << action;
  }
  auto expired = admin.get("/api/v1/audit-log?action=recording.expire&target=" + doomed);
  ASSERT_EQ(expired.json["items"].size(), 1u);
  EXPECT_EQ(expired.json["items"][0]["actor"], "system");
  auto verify = admin.get("/api/v1/audit-log/verify");
  EXPECT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
  EXPECT_GT(verify.json["entries"].get<int>(), 10);
}

TEST_F(Retention, SessionsExpireWithTheClock) {
  const auto token = admin_token(url_);
  Api admin(url_, token);
  EXPECT_EQ(admin.get("/api/v1/auth/me").status, 200);
  clock_->advance(13ll * 3600 * 1000);  // sessions last 12 h
  EXPECT_EQ(admin.get("/api/v1/auth/me").status, 401);
}

}  // namespace
