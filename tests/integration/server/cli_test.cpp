// The deskaudit CLI binary against the real server: sign in, set up
// recording, find and download a recording, and clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

#include "sample_media.hpp"
#include "server_process.hpp"

using namespace deskaudit::testing;

namespace {

using CliRun = CommandResult;

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("cli");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  // Runs the CLI with its own config home (saved credentials) and stdout+stderr captured.
  static CliRun cli(const std::string& args) {
    const std::string cmd = "XDG_CONFIG_HOME='" + (dir_->path() / "home").string() + "' DESKAUDIT_PASSWORD='" +
                            kAdminPassword + "' '" + DESKAUDIT_CLI_BIN + "' --server " + server_->url() + " " + args + " 2>&1";
    return run_command(cmd);
  }
  static Json json_of(const CliRun& r) { return Json::parse(r.out, nullptr, false); }
  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
};

TEST_F(Cli, SetsUpRecordingAndFindsAndDownloadsRecordings) {
  auto not_signed_in = cli("pools list");
  EXPECT_EQ(not_signed_in.exit_code, 3) << not_signed_in.out;
  EXPECT_NE(not_signed_in.out.find("deskaudit login"), std::string::npos);

  auto login = cli("login -u admin");
  ASSERT_EQ(login.exit_code, 0) << login.out;
  EXPECT_NE(login.out.find("signed in"), std::string::npos);
  auto creds = std::filesystem::status(dir_->path() / "home" / "deskaudit" / "credentials.json");
  EXPECT_EQ(creds.permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto pool = json_of(cli("--json pools create --name finance"));
  ASSERT_TRUE(pool.contains("id")) << pool.dump();
  auto policy = json_of(cli("--json policies create --name rec --mode session --fps 10 --segment-max-mib 16 --retention-days 90 "
                            "--notice 'This session is recorded.'"));
  ASSERT_TRUE(policy.contains("id")) << policy.dump();
  EXPECT_EQ(policy["recording"]["fps"], 10);
  EXPECT_EQ(policy["recording"]["segment_max_bytes"], 16 << 20);
  EXPECT_EQ(policy["recording"]["user_notice"], true);
  ASSERT_EQ(cli("policies assign " + policy["id"].get<std::string>() + " --pool " + pool["id"].get<std::string>()).exit_code, 0);
  auto bad = cli("policies create --name bad --fps 7");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("recording.fps must be 2, 5, 10 or 15"), std::string::npos) << bad.out;

  auto token = json_of(cli("--json enrollment-tokens create --pool " + pool["id"].get<std::string>()));
  ASSERT_TRUE(token.contains("token")) << token.dump();
  // An agent enrolls and uploads a recording.
  Api anon(server_->url());
  auto e = anon.post("/api/v1/agent/enroll", {{"enrollment_token", token["token"]}, {"hostname", "desk-cli"}, {"os", "Linux"}, {"agent_version", "0.1.0"}});
  ASSERT_EQ(e.status, 201);
  Api agent(server_->url(), e.json["agent_token"].get<std::string>());
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "frank"}, {"start_time", "2026-11-27T07:00:00Z"}}).json["id"].get<std::string>();
  auto segs = make_segments(2, 4);
  for (int i = 0; i < 2; ++i) {
    agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(i), segs[static_cast<std::size_t>(i)],
              {{"X-Content-SHA256", sha256_of(segs[static_cast<std::size_t>(i)])}});
  }
  agent.post("/api/v1/agent/recordings/" + rec + "/finish", {{"end_time", "2026-11-27T07:00:04Z"}});

  auto list = cli("recordings list --user frank --from 2026-11-27T06:00:00Z --to 2026-11-27T08:00:00Z");
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find(rec), std::string::npos) << list.out;
  EXPECT_EQ(cli("recordings list --user nobody").out.find(rec), std::string::npos);
  const auto out = dir_->path() / "frank.mp4";
  auto dl = cli("recordings download " + rec + " -o " + out.string());
  ASSERT_EQ(dl.exit_code, 0) << dl.out;
  EXPECT_GT(std::filesystem::file_size(out), segs[0].size());
  auto verify = cli("recordings verify " + rec);
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_NE(verify.out.find("all segments match the catalog"), std::string::npos);
  auto status = cli("computers status " + e.json["computer_id"].get<std::string>());
  EXPECT_NE(status.out.find("[ok]   Agent enrolled"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("Policy in force records"), std::string::npos);
  auto audit = cli("audit verify");
  EXPECT_EQ(audit.exit_code, 0) << audit.out;
  EXPECT_NE(audit.out.find("audit log intact"), std::string::npos);
  EXPECT_EQ(cli("recordings show rec-missing").exit_code, 5);
}

TEST_F(Cli, FindsRecordingsAndEventsByActivity) {
  ASSERT_EQ(cli("login -u admin").exit_code, 0);
  auto pool = json_of(cli("--json pools create --name activity"));
  auto token = json_of(cli("--json enrollment-tokens create --pool " + pool["id"].get<std::string>()));
  Api anon(server_->url());
  auto e = anon.post("/api/v1/agent/enroll", {{"enrollment_token", token["token"]}, {"hostname", "desk-events"}, {"os", "Linux"}});
  ASSERT_EQ(e.status, 201) << e.body;
  Api agent(server_->url(), e.json["agent_token"].get<std::string>());
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "gina"}, {"start_time", "2026-11-27T09:00:00Z"}}).json["id"].get<std::string>();
  const auto doc = Json{{"format", "deskaudit-events/1"}, {"recording_id", rec}, {"seq", 0},
                        {"events", {{{"t_ms", 250}, {"type", "window"}, {"title", "payroll.xlsx - LibreOffice Calc"}, {"app", "libreoffice-calc"}},
                                    {{"t_ms", 900}, {"type", "idle"}}}}}.dump();
  ASSERT_EQ(agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/0/events", doc, {{"X-Content-SHA256", sha256_of(doc)}}).status, 201);
  auto segs = make_segments(1, 2);
  auto seg = agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/0", segs[0],
                       {{"X-Content-SHA256", sha256_of(segs[0])}, {"X-Deskaudit-Events-SHA256", sha256_of(doc)}});
  ASSERT_EQ(seg.status, 201) << seg.body;

  auto events = cli("recordings events " + rec);
  ASSERT_EQ(events.exit_code, 0) << events.out;
  EXPECT_NE(events.out.find("payroll.xlsx - LibreOffice Calc"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("2026-11-27T09:00:00.250Z"), std::string::npos) << events.out;
  auto idle = json_of(cli("--json recordings events " + rec + " --type idle --from-ms 100 --to-ms 1000"));
  ASSERT_EQ(idle.size(), 1u) << idle.dump();  // --json prints a table's items
  EXPECT_EQ(idle[0]["t_ms"], 900);
  auto bad_type = cli("recordings events " + rec + " --type typing");
  EXPECT_EQ(bad_type.exit_code, 1);
  EXPECT_NE(bad_type.out.find("unknown event type"), std::string::npos) << bad_type.out;

  auto found = cli("recordings list --app calc --window-title PAYROLL");
  ASSERT_EQ(found.exit_code, 0) << found.out;
  EXPECT_NE(found.out.find(rec), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("FIRST_MATCH_MS"), std::string::npos) << found.out;
  EXPECT_EQ(json_of(cli("--json recordings list --window-title payroll"))[0]["first_match_ms"], 250);
  EXPECT_EQ(cli("recordings list --window-title nothing-like-it").out.find(rec), std::string::npos);

  auto search = json_of(cli("--json events search --window-title payroll --user gina --from 2026-11-27T08:00:00Z"));
  ASSERT_EQ(search.size(), 1u) << search.dump();
  EXPECT_EQ(search[0]["recording_id"], rec);
  auto all = cli("events search --all --app libreoffice");
  ASSERT_EQ(all.exit_code, 0) << all.out;
  EXPECT_NE(all.out.find(rec), std::string::npos) << all.out;
}

}  // namespace
