// What an agent may not bend: the server picks a recording's policy and
// retention, refuses times ahead of its clock and uploads to finished
// recordings, caps open recordings and bytes per hour per computer, stores
// agent text cut on character boundaries and lists whatever bytes are
// stored, and reports an agent that goes silent during a recorded session.
// In-process (same code as the binary) so the test moves the clock.
#include <gtest/gtest.h>

#include <functional>

#include "in_process_server.hpp"
#include "sample_media.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

constexpr std::int64_t kMinute = 60'000;

class AgentRules : public ::testing::Test {
 protected:
  void start(const std::function<void(server::ServerConfig&)>& configure = {}) {
    dir_ = std::make_unique<TempDir>("agentrules");
    clock_ = std::make_shared<ManualClock>(parse_rfc3339("2026-11-27T12:00:00Z").value());
    server::ServerConfig config;
    config.data_dir = dir_->path() / "data";
    config.sweep_interval_ms = 3600'000;  // the test runs the checks itself
    if (configure) configure(config);
    server_ = std::make_unique<InProcessServer>(config, clock_);
    app_ = &server_->app();
    url_ = server_->url();
    admin_ = std::make_unique<Api>(url_, admin_token(url_));
    // An API token: console sessions end after 12 h of the test's clock.
    admin_->set_token(admin_->post("/api/v1/api-tokens", {{"name", "agent rules"}}).json["token"].get<std::string>());
    creds_ = enroll_agent(*admin_, "desk-rules");
    agent_ = std::make_unique<Api>(url_, creds_.agent_token);
  }
  std::string at(std::int64_t offset_ms) const { return format_rfc3339(clock_->now_ms() + offset_ms); }
  std::string add_policy(const std::string& name, int retention_days, bool assign) {
    auto p = admin_->post("/api/v1/policies",
                          {{"name", name}, {"recording", {{"mode", "session"}, {"retention_days", retention_days}}}});
    EXPECT_EQ(p.status, 201) << p.body;
    const auto id = p.json["id"].get<std::string>();
    if (assign) {
      EXPECT_EQ(admin_->put("/api/v1/policies/" + id + "/assignments/computers/" + creds_.computer_id).status, 204);
    }
    return id;
  }
  Reply new_recording(const Json& extra = Json::object()) {
    Json body = {{"username", "alice"}, {"start_time", at(-kMinute)}};
    body.update(extra);
    return agent_->post("/api/v1/agent/recordings", body);
  }
  Reply put_segment(const std::string& rec, int seq, const std::string& bytes) {
    return agent_->raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes,
                       {{"X-Content-SHA256", sha256_of(bytes)}});
  }
  Json computer() { return admin_->get("/api/v1/computers/" + creds_.computer_id).json; }
  Json status_check(const std::string& id) {
    const auto status = admin_->get("/api/v1/computers/" + creds_.computer_id + "/recording-status");
    for (const auto& c : status.json["checks"]) {
      if (c["id"] == id) return c;
    }
    return nullptr;
  }
  Json silent_check() { return status_check("agent_silent"); }
  std::vector<Json> silent_entries() {
    auto r = admin_->get("/api/v1/audit-log?action=agent.silent");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["items"].get<std::vector<Json>>();
  }

  std::unique_ptr<TempDir> dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<InProcessServer> server_;
  server::App* app_ = nullptr;
  std::string url_;
  std::unique_ptr<Api> admin_, agent_;
  EnrolledAgent creds_;
};

TEST_F(AgentRules, TheServerPicksPolicyAndRetention) {
  start();
  const auto assigned = add_policy("assigned", 90, true);
  const auto brief = add_policy("one day", 1, false);
  auto r = new_recording({{"policy_id", brief}, {"policy_version", 1}, {"retention_days", 1}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json["retention_days"], 90);
  auto rec = admin_->get("/api/v1/recordings/" + r.json["id"].get<std::string>()).json;
  EXPECT_EQ(rec["policy_id"], assigned);
  EXPECT_EQ(rec["retention_days"], 90);
}

TEST_F(AgentRules, TimesAheadOfTheServerClockAreRefusedLateOnesAccepted) {
  start();
  auto ahead = new_recording({{"start_time", at(10 * kMinute)}});
  EXPECT_EQ(ahead.status, 422) << ahead.body;
  EXPECT_EQ(ahead.json["error"]["field"], "start_time");
  EXPECT_EQ(new_recording({{"start_time", at(2 * kMinute)}}).status, 201);  // clock skew
  // Uploaded from the spool days after the session: accepted.
  auto late = new_recording({{"start_time", at(-5 * 24 * 60 * kMinute)}});
  ASSERT_EQ(late.status, 201) << late.body;
  const auto id = late.json["id"].get<std::string>();
  auto fin = agent_->post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", at(60 * kMinute)}});
  EXPECT_EQ(fin.status, 422) << fin.body;
  EXPECT_EQ(fin.json["error"]["field"], "end_time");
  EXPECT_EQ(agent_->post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", at(0)}}).status, 200);
}

TEST_F(AgentRules, SegmentsForAFinishedRecordingAre409AndMediaIsNotCached) {
  start();
  auto segs = make_segments(2, 2);
  const auto id = new_recording().json["id"].get<std::string>();
  ASSERT_EQ(put_segment(id, 0, segs[0]).status, 201);
  ASSERT_EQ(agent_->post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", at(0)}}).status, 200);
  auto late = put_segment(id, 1, segs[1]);
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(late.json["error"]["code"], "conflict");
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + id).json["segment_count"], 1);
  auto seg = admin_->get("/api/v1/recordings/" + id + "/segments/0");
  ASSERT_EQ(seg.status, 200);
  EXPECT_EQ(seg.headers["cache-control"], "no-store");
  auto dl = admin_->get("/api/v1/recordings/" + id + "/download");
  ASSERT_EQ(dl.status, 200);
  EXPECT_NE(dl.headers["cache-control"].find("no-store"), std::string::npos);
}

TEST_F(AgentRules, OpenRecordingsPerComputerAreCapped) {
  start([](server::ServerConfig& c) { c.agent_max_open_recordings = 2; });
  const auto first = new_recording().json["id"].get<std::string>();
  ASSERT_EQ(new_recording().status, 201);
  auto third = new_recording();
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.json["error"]["code"], "too_many_requests");
  EXPECT_FALSE(third.headers["retry-after"].empty());
  ASSERT_EQ(agent_->post("/api/v1/agent/recordings/" + first + "/finish", {{"end_time", at(0)}}).status, 200);
  EXPECT_EQ(new_recording().status, 201);
}

TEST_F(AgentRules, UploadBytesPerHourAreCapped) {
  constexpr std::int64_t kLimit = 1 << 16;
  start([](server::ServerConfig& c) {
    c.max_segment_bytes = kLimit;
    c.agent_upload_bytes_per_hour = kLimit;
  });
  auto segs = make_segments(8, 8, 5, "160x120");
  const auto id = new_recording().json["id"].get<std::string>();
  std::int64_t sent = 0;
  int seq = 0;
  for (; seq < static_cast<int>(segs.size()); ++seq) {
    const auto size = static_cast<std::int64_t>(segs[static_cast<std::size_t>(seq)].size());
    ASSERT_LT(size, kLimit);
    if (sent + size > kLimit) break;
    ASSERT_EQ(put_segment(id, seq, segs[static_cast<std::size_t>(seq)]).status, 201);
    sent += size;
  }
  ASSERT_LT(seq, static_cast<int>(segs.size())) << "the segments are too small to reach the limit";
  auto over = put_segment(id, seq, segs[static_cast<std::size_t>(seq)]);
  EXPECT_EQ(over.status, 429) << over.body;
  const auto retry = std::stoll(over.headers["retry-after"]);
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 3600);
  clock_->advance(retry * 1000);
  EXPECT_EQ(put_segment(id, seq, segs[static_cast<std::size_t>(seq)]).status, 201);
}

TEST_F(AgentRules, AgentTextIsCutOnCharacterBoundariesAndStoredBytesAlwaysList) {
  start();
  // 63 ASCII bytes and a 2-byte character: a byte cut at 64 would split it.
  const std::string version = std::string(63, '1') + "\xC3\xA9";
  auto hb =
      agent_->post("/api/v1/agent/heartbeat", {{"agent_version", version}, {"last_error", std::string(3000, 'e')}});
  ASSERT_EQ(hb.status, 200) << hb.body;
  auto c = computer();
  EXPECT_EQ(c["agent"]["version"], std::string(63, '1')) << c.dump();
  EXPECT_EQ(c["agent"]["last_error"].get<std::string>().size(), 2048u);
  // A name that is too long is cut, then checked like any other name.
  auto bad = new_recording({{"username", "bad\x01name"}});
  EXPECT_EQ(bad.status, 422) << bad.body;
  auto long_user = new_recording({{"username", std::string(200, 'u')}});
  ASSERT_EQ(long_user.status, 201) << long_user.body;
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + long_user.json["id"].get<std::string>()).json["username"],
            std::string(128, 'u'));

  // Bytes already stored broken (an older server, a database edit) list as
  // valid JSON, the broken byte replaced.
  catalog::AgentState broken;
  broken.agent_version = "0.1.\xC3";
  broken.last_seen_at = clock_->now_ms();
  ASSERT_TRUE(app_->services().catalog->update_agent_heartbeat(creds_.computer_id, broken));
  auto list = admin_->get("/api/v1/computers");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_TRUE(list.json.is_object()) << list.body;
  EXPECT_EQ(list.json["items"][0]["agent"]["version"], "0.1.\xEF\xBF\xBD");
}

TEST_F(AgentRules, AnAgentSilentDuringARecordedSessionIsReportedOncePerSilence) {
  start();
  add_policy("record sessions", 30, true);
  auto& services = app_->services();
  auto heartbeat = [&](const Json& session) {
    auto r = agent_->post("/api/v1/agent/heartbeat", {{"agent_version", "0.1.0"}, {"session", session}});
    ASSERT_EQ(r.status, 200) << r.body;
  };
  heartbeat({{"user", "alice"}, {"display", ":10"}});
  const auto last = at(0);
  EXPECT_EQ(*services.agents->note_silent_agents(), 0);  // still reporting
  EXPECT_EQ(silent_check()["ok"], true);
  clock_->advance(5 * kMinute);
  EXPECT_EQ(*services.agents->note_silent_agents(), 1);
  EXPECT_EQ(*services.agents->note_silent_agents(), 0);  // the same silence: once
  auto entries = silent_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["target"], creds_.computer_id);
  EXPECT_EQ(entries[0]["details"]["last_heartbeat"], last);
  auto check = silent_check();
  EXPECT_EQ(check["ok"], false);
  EXPECT_NE(check["detail"].get<std::string>().find(last), std::string::npos) << check.dump();
  EXPECT_EQ(admin_->get("/api/v1/computers/" + creds_.computer_id + "/recording-status").json["ok"], false);

  // Back, then silent again: a second report.
  heartbeat({{"user", "alice"}, {"display", ":10"}});
  EXPECT_EQ(silent_check()["ok"], true);
  clock_->advance(5 * kMinute);
  EXPECT_EQ(*services.agents->note_silent_agents(), 1);
  EXPECT_EQ(silent_entries().size(), 2u);

  // Silent with no session and no open recording: nothing to report.
  heartbeat(nullptr);
  clock_->advance(5 * kMinute);
  EXPECT_EQ(*services.agents->note_silent_agents(), 0);
  EXPECT_EQ(silent_check()["ok"], true);
}

// The heartbeat's session carries the audio state of its recording; the
// server keeps it and recording-status says why there is no sound.
TEST_F(AgentRules, RecordingStatusSaysWhyThereIsNoSound) {
  start();
  auto p = admin_->post("/api/v1/policies", {{"name", "with sound"}, {"recording", {{"mode", "session"}, {"audio", true}}}});
  ASSERT_EQ(p.status, 201) << p.body;
  ASSERT_EQ(admin_->put("/api/v1/policies/" + p.json["id"].get<std::string>() + "/assignments/computers/" +
                        creds_.computer_id)
                .status,
            204);
  auto heartbeat = [&](const Json& audio) {
    Json session = {{"username", "alice"}, {"recording_id", nullptr}, {"started_at", at(0)}};
    if (!audio.is_null()) session["audio"] = audio;
    auto r = agent_->post("/api/v1/agent/heartbeat", {{"agent_version", "0.1.0"}, {"session", session}});
    ASSERT_EQ(r.status, 200) << r.body;
  };
  heartbeat({{"enabled", true}, {"recording", false}, {"source", nullptr},
             {"error", "no audio server at unix:/run/user/1000/pulse/native (connection refused)"}});
  auto check = status_check("audio");
  ASSERT_TRUE(check.is_object());
  EXPECT_EQ(check["ok"], false);
  EXPECT_EQ(check["detail"], "no sound: no audio server at unix:/run/user/1000/pulse/native (connection refused)");
  // The computer's agent view carries it as reported.
  EXPECT_EQ(computer()["agent"]["session"]["audio"]["recording"], false) << computer().dump();

  heartbeat({{"enabled", true}, {"recording", true}, {"source", "default sink monitor 'null.monitor'"}, {"error", nullptr}});
  check = status_check("audio");
  EXPECT_EQ(check["ok"], true);
  EXPECT_EQ(check["detail"], "recording default sink monitor 'null.monitor'");

  // An agent that does not report audio while the policy asks for it.
  heartbeat(nullptr);
  check = status_check("audio");
  EXPECT_EQ(check["ok"], false);
  EXPECT_NE(check["detail"].get<std::string>().find("does not report its audio"), std::string::npos) << check.dump();

  // Without sound in the policy there is nothing to miss.
  ASSERT_EQ(admin_->patch("/api/v1/policies/" + p.json["id"].get<std::string>(), {{"recording", {{"audio", false}}}}).status,
            200);
  check = status_check("audio");
  EXPECT_EQ(check["ok"], true);
  EXPECT_EQ(check["detail"], "the policy does not record sound");
}

}  // namespace
