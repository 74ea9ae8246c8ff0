// The migration path end to end: a server on the embedded defaults records,
// stops; deskaudit-migrate copies its data dir to PostgreSQL + S3; a server
// started on the target serves the same recordings byte for byte. Once per
// S3 test server (s3rver, Ceph RGW: s3_test_servers.hpp).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "s3_test_servers.hpp"
#include "sample_media.hpp"
#include "scratch_schema.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

CommandResult run_migrate(const std::string& args) {
  return run_command(std::string(DESKAUDIT_MIGRATE_BIN) + " " + args + " 2>&1");
}

class MigratedServer : public ::testing::TestWithParam<S3Server> {};

TEST_P(MigratedServer, ServesTheRecordingsOfTheEmbeddedInstallation) {
  DESKAUDIT_REQUIRE_SERVICE("DESKAUDIT_TEST_POSTGRES_URL", "scripts/pg-test-server start");
  DESKAUDIT_REQUIRE_S3_TARGET(s3, GetParam());
  TempDir dir("migrated");
  const auto old_data = dir.path() / "old";
  const auto segs = make_segments(3, 6);
  std::vector<std::pair<std::string, std::string>> downloads;  // id, bytes
  {
    ServerProcess old_server{ServerOptions(old_data)};
    Api admin(old_server.url(), admin_token(old_server.url()));
    auto pol =
        admin.post("/api/v1/policies", {{"name", "all"}, {"recording", {{"mode", "session"}, {"retention_days", 30}}}});
    ASSERT_EQ(pol.status, 201);
    auto pool = admin.post("/api/v1/pools", {{"name", "desks"}});
    const auto pool_id = pool.json["id"].get<std::string>();
    ASSERT_EQ(
        admin.put("/api/v1/policies/" + pol.json["id"].get<std::string>() + "/assignments/pools/" + pool_id).status,
        204);
    for (int i = 0; i < 2; ++i) {
      auto creds = enroll_agent(admin, "desk-old-" + std::to_string(i), pool_id);
      Api agent(old_server.url(), creds.agent_token);
      auto rec = agent.post("/api/v1/agent/recordings",
                            {{"username", "u" + std::to_string(i)}, {"start_time", "2026-11-27T08:00:00Z"}});
      ASSERT_EQ(rec.status, 201);
      const auto id = rec.json["id"].get<std::string>();
      for (std::size_t s = 0; s < segs.size(); ++s) {
        auto r = agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/" + std::to_string(s), segs[s],
                           {{"X-Content-SHA256", sha256_of(segs[s])}});
        ASSERT_EQ(r.status, 201) << r.body;
      }
      ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T08:00:06Z"}}).status,
                200);
      auto dl = admin.get("/api/v1/recordings/" + id + "/download");
      ASSERT_EQ(dl.status, 200);
      downloads.emplace_back(id, dl.body);
    }
  }  // stopped: nothing writes to the source during the copy

  ScratchSchema schema(*service_env("DESKAUDIT_TEST_POSTGRES_URL"), "migrated");
  const auto endpoint = s3->endpoint;
  const auto store = "s3://" + s3->bucket + "/" + unique_name("migrated");
  ::setenv("AWS_ACCESS_KEY_ID", s3->access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", s3->secret_key.c_str(), 1);
  const std::string args = "--from-data-dir " + old_data.string() + " --to-catalog '" + schema.url() + "' --to-store " +
                           store + " --s3-endpoint " + endpoint;
  // Without the keys the new server could not check the audit log's signatures.
  auto first = run_migrate(args + " --to-data-dir " + (dir.path() / "new").string());
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("catalog: segments: 6 rows"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("done:"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("audit log keys: 3 files copied"), std::string::npos) << first.out;
  EXPECT_EQ(std::filesystem::status(dir.path() / "new" / "signing.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // Running it again says what to do; the objects-only rerun skips everything.
  auto second = run_migrate(args);
  EXPECT_EQ(second.exit_code, 1) << second.out;
  EXPECT_NE(second.out.find("--objects-only"), std::string::npos) << second.out;
  auto third = run_migrate(args + " --objects-only");
  EXPECT_EQ(third.exit_code, 0) << third.out;
  EXPECT_NE(third.out.find("0 objects copied"), std::string::npos) << third.out;
  auto usage = run_migrate("--to-catalog x");
  EXPECT_EQ(usage.exit_code, 2) << usage.out;

  ServerOptions o(dir.path() / "new");
  o.args = {"--catalog", schema.url(), "--store", store};
  o.env = {{"DESKAUDIT_S3_ENDPOINT", endpoint},
           {"AWS_ACCESS_KEY_ID", s3->access_key},
           {"AWS_SECRET_ACCESS_KEY", s3->secret_key}};
  ServerProcess new_server(std::move(o));
  // The administrator came along with the catalog.
  Api admin(new_server.url(), admin_token(new_server.url()));
  for (const auto& [id, bytes] : downloads) {
    auto dl = admin.get("/api/v1/recordings/" + id + "/download");
    ASSERT_EQ(dl.status, 200) << dl.body;
    EXPECT_TRUE(dl.body == bytes) << "download of " << id << " differs after migration";
  }
  auto verify = admin.get("/api/v1/audit-log/verify");
  EXPECT_EQ(verify.json["ok"], true) << verify.body;
}

INSTANTIATE_TEST_SUITE_P(Stores, MigratedServer, ::testing::Values(S3Server::s3rver, S3Server::rgw),
                         [](const auto& info) { return s3_server_name(info.param); });

}  // namespace
