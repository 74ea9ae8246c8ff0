// The real server process over HTTP: the administrator's and the agent's
// whole flow, and what an agent may not do.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "sample_media.hpp"
#include "server_process.hpp"

using namespace deskaudit::testing;

namespace {

class ApiFlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("flow");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
    token_ = admin_token(server_->url());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  Api admin() { return Api(server_->url(), token_); }

  static std::string upload(Api& agent, const std::string& rec, int seq, const std::string& bytes, long expect) {
    auto r = agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes,
                       {{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha256_of(bytes)}});
    EXPECT_EQ(r.status, expect) << r.body;
    return r.body;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string token_;
};

TEST_F(ApiFlow, HealthNeedsNoSignInButEverythingElseDoes) {
  Api anon(server_->url());
  EXPECT_EQ(anon.get("/api/v1/health").status, 200);
  for (const char* path : {"/api/v1/computers", "/api/v1/pools", "/api/v1/policies", "/api/v1/recordings",
                           "/api/v1/audit-log", "/api/v1/users", "/api/v1/agent/policy"}) {
    auto r = anon.get(path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.json["error"]["code"], "unauthenticated") << path;
  }
  Api forged(server_->url(), "das_not-a-real-token");
  EXPECT_EQ(forged.get("/api/v1/computers").status, 401);
}

TEST_F(ApiFlow, AdministratorSetsUpAndAgentUploadsAndAuditorDownloads) {
  auto api = admin();
  auto pool = api.post("/api/v1/pools", {{"name", "finance"}});
  ASSERT_EQ(pool.status, 201) << pool.body;
  const auto pool_id = pool.json["id"].get<std::string>();
  auto policy = api.post("/api/v1/policies",
                         {{"name", "record finance"},
                          {"recording", {{"mode", "session"}, {"fps", 5}, {"retention_days", 30}}}});
  ASSERT_EQ(policy.status, 201) << policy.body;
  const auto policy_id = policy.json["id"].get<std::string>();
  EXPECT_EQ(policy.json["recording"]["segment_max_bytes"], 33554432);
  ASSERT_EQ(api.put("/api/v1/policies/" + policy_id + "/assignments/pools/" + pool_id).status, 204);

  auto agent_creds = enroll_agent(api, "desk-finance-01", pool_id);
  auto computer = api.get("/api/v1/computers/" + agent_creds.computer_id);
  ASSERT_EQ(computer.status, 200);
  EXPECT_EQ(computer.json["pool_id"], pool_id);
  EXPECT_EQ(computer.json["effective_policy"]["source"], "pool");
  EXPECT_EQ(computer.json["effective_policy"]["policy_id"], policy_id);

  Api agent(server_->url(), agent_creds.agent_token);
  auto pol = agent.get("/api/v1/agent/policy");
  ASSERT_EQ(pol.status, 200);
  EXPECT_EQ(pol.json["policy"]["recording"]["mode"], "session");
  auto hb = agent.post("/api/v1/agent/heartbeat", {{"agent_version", "0.1.0"},
                                                   {"capture", {{"backend", "xcb-shm+damage"}, {"width", 1920}, {"height", 1080}, {"ok", true}}},
                                                   {"spool_bytes", 0}, {"last_error", ""}, {"session", nullptr}});
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_EQ(hb.json["policy_etag"], pol.json["etag"]);

  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "alice"}, {"start_time", "2026-11-27T09:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto rec_id = rec.json["id"].get<std::string>();
  auto segments = make_segments(3, 9);
  for (int i = 0; i < 3; ++i) upload(agent, rec_id, i, segments[static_cast<std::size_t>(i)], 201);
  // The same bytes again: idempotent. Other bytes under a stored seq: conflict.
  upload(agent, rec_id, 1, segments[1], 200);
  upload(agent, rec_id, 1, segments[2], 409);
  auto fin = agent.post("/api/v1/agent/recordings/" + rec_id + "/finish", {{"end_time", "2026-11-27T09:00:09Z"}, {"status", "complete"}});
  ASSERT_EQ(fin.status, 200) << fin.body;
  EXPECT_EQ(fin.json["expires_at"], "2026-12-27T09:00:09Z");

  auto detail = api.get("/api/v1/recordings/" + rec_id);
  ASSERT_EQ(detail.status, 200);
  EXPECT_EQ(detail.json["segment_count"], 3);
  EXPECT_EQ(detail.json["status"], "complete");
  EXPECT_EQ(detail.json["policy_id"], policy_id);
  EXPECT_EQ(detail.json["has_audio"], false);
  EXPECT_EQ(detail.json["codecs"].get<std::string>().find(','), std::string::npos) << detail.json["codecs"];
  // The player's master playlist names the video codec only, as before audio.
  auto master = api.get("/api/v1/recordings/" + rec_id + "/master.m3u8");
  ASSERT_EQ(master.status, 200) << master.body;
  EXPECT_EQ(master.headers["content-type"], "application/vnd.apple.mpegurl");
  EXPECT_NE(master.body.find("CODECS=\"" + detail.json["codecs"].get<std::string>() + "\",RESOLUTION=320x240\nplaylist.m3u8\n"),
            std::string::npos)
      << master.body;
  ASSERT_EQ(detail.json["segments"].size(), 3u);
  std::int64_t total = 0, media_ms = 0;
  for (int i = 0; i < 3; ++i) {
    const auto& seg = detail.json["segments"][static_cast<std::size_t>(i)];
    EXPECT_EQ(seg["sha256"], sha256_of(segments[static_cast<std::size_t>(i)]));
    EXPECT_EQ(seg["start_offset_ms"], media_ms);  // segments join without a gap
    media_ms += seg["duration_ms"].get<std::int64_t>();
    total += seg["size_bytes"].get<std::int64_t>();
  }
  EXPECT_EQ(detail.json["size_bytes"], total);
  EXPECT_NEAR(static_cast<double>(media_ms), 9000.0, 1.0);

  // Found by computer, by pool, by user and time.
  for (const std::string& q : std::vector<std::string>{"computer_id=" + agent_creds.computer_id, "pool_id=" + pool_id, std::string("username=alice"),
                              std::string("start_time=2026-11-27T09:00:05Z&end_time=2026-11-27T10:00:00Z")}) {
    auto list = api.get("/api/v1/recordings?" + q);
    ASSERT_EQ(list.status, 200) << q;
    ASSERT_EQ(list.json["items"].size(), 1u) << q;
    EXPECT_EQ(list.json["items"][0]["id"], rec_id);
  }
  EXPECT_EQ(api.get("/api/v1/recordings?username=bob").json["items"].size(), 0u);

  // Raw segment as stored, and the whole recording as one MP4 with Range.
  auto seg0 = api.get("/api/v1/recordings/" + rec_id + "/segments/0");
  ASSERT_EQ(seg0.status, 200);
  EXPECT_EQ(seg0.body, segments[0]);
  auto dl = api.get("/api/v1/recordings/" + rec_id + "/download");
  ASSERT_EQ(dl.status, 200);
  EXPECT_NE(dl.headers["content-disposition"].find("attachment; filename=\"desk-finance-01_alice_20261127T090000Z.mp4\""),
            std::string::npos) << dl.headers["content-disposition"];
  EXPECT_EQ(dl.headers["content-length"], std::to_string(dl.body.size()));
  auto part = api.raw("GET", "/api/v1/recordings/" + rec_id + "/download", "", {{"Range", "bytes=100-199"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, dl.body.substr(100, 100));
  const auto file = dir_->path() / "download.mp4";
  std::ofstream(file, std::ios::binary) << dl.body;
  const std::string probe = "ffprobe -v error -show_entries format=duration -of csv=p=0 '" + file.string() + "' > '" +
                            file.string() + ".txt'";
  ASSERT_EQ(std::system(probe.c_str()), 0);
  std::ifstream in(file.string() + ".txt");
  double duration = 0;
  in >> duration;
  EXPECT_NEAR(duration, 9.0, 0.25);

  auto playlist = api.get("/api/v1/recordings/" + rec_id + "/playlist.m3u8");
  ASSERT_EQ(playlist.status, 200);
  EXPECT_NE(playlist.body.find("#EXT-X-MAP:URI=\"segments/0\""), std::string::npos);
  EXPECT_NE(playlist.body.find("#EXT-X-BYTERANGE:"), std::string::npos);
  EXPECT_NE(playlist.body.find("#EXT-X-ENDLIST"), std::string::npos);

  // Another agent cannot see, add to or finish this recording.
  auto other = enroll_agent(api, "desk-other-02");
  Api intruder(server_->url(), other.agent_token);
  upload(intruder, rec_id, 3, segments[0], 404);
  EXPECT_EQ(intruder.post("/api/v1/agent/recordings/" + rec_id + "/finish", {{"end_time", "2026-11-27T10:00:00Z"}}).status, 404);
  // Agents are not administrators, and administrators are not agents.
  EXPECT_EQ(intruder.get("/api/v1/recordings").status, 403);
  EXPECT_EQ(intruder.get("/api/v1/recordings/" + rec_id + "/download").status, 403);
  EXPECT_EQ(api.get("/api/v1/agent/policy").status, 403);

  // The audit log holds the download and verifies.
  auto audit = api.get("/api/v1/audit-log?action=recording.download&target=" + rec_id);
  ASSERT_EQ(audit.status, 200);
  EXPECT_GE(audit.json["items"].size(), 1u);
  auto verify = api.get("/api/v1/audit-log/verify");
  ASSERT_EQ(verify.status, 200);
  EXPECT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
}

TEST_F(ApiFlow, RecordingWithAudioSaysSoAndPlaysAndDownloadsWithBothTracks) {
  auto api = admin();
  auto agent_creds = enroll_agent(api, "desk-audio-01");
  Api agent(server_->url(), agent_creds.agent_token);
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "carol"}, {"start_time", "2026-11-27T11:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto rec_id = rec.json["id"].get<std::string>();
  const auto segments = make_segments(2, 6, 5, "320x240", SampleAudio::opus);
  for (int i = 0; i < 2; ++i) upload(agent, rec_id, i, segments[static_cast<std::size_t>(i)], 201);
  ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + rec_id + "/finish", {{"end_time", "2026-11-27T11:00:06Z"}, {"status", "complete"}}).status,
            200);

  auto detail = api.get("/api/v1/recordings/" + rec_id);
  ASSERT_EQ(detail.status, 200);
  EXPECT_EQ(detail.json["has_audio"], true);
  const auto codecs = detail.json["codecs"].get<std::string>();
  EXPECT_TRUE(codecs.starts_with("avc1.")) << codecs;
  EXPECT_TRUE(codecs.ends_with(",opus")) << codecs;

  auto playlist = api.get("/api/v1/recordings/" + rec_id + "/playlist.m3u8");
  ASSERT_EQ(playlist.status, 200);
  EXPECT_NE(playlist.body.find("#EXT-X-ENDLIST"), std::string::npos);
  // The master playlist names both tracks and points at the media playlist.
  auto master = api.get("/api/v1/recordings/" + rec_id + "/master.m3u8");
  ASSERT_EQ(master.status, 200) << master.body;
  EXPECT_NE(master.body.find("#EXT-X-STREAM-INF:BANDWIDTH="), std::string::npos) << master.body;
  EXPECT_NE(master.body.find("CODECS=\"" + codecs + "\""), std::string::npos) << master.body;
  EXPECT_NE(master.body.find("\nplaylist.m3u8\n"), std::string::npos) << master.body;

  // One MP4 with both tracks, each lasting the recording.
  auto dl = api.get("/api/v1/recordings/" + rec_id + "/download");
  ASSERT_EQ(dl.status, 200);
  const auto file = dir_->path() / "audio-download.mp4";
  std::ofstream(file, std::ios::binary) << dl.body;
  const auto out = file.string() + ".txt";
  ASSERT_EQ(std::system(("ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 '" + file.string() +
                         "' > '" + out + "'")
                            .c_str()),
            0);
  std::ifstream in(out);
  const std::string streams((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(streams.find("h264,video"), std::string::npos) << streams;
  EXPECT_NE(streams.find("opus,audio"), std::string::npos) << streams;
  const std::string decode = "ffmpeg -nostdin -v error -i '" + file.string() + "' -map 0:a -f null - 2>&1";
  ASSERT_EQ(std::system(decode.c_str()), 0);
}

// A Windows agent may record AAC-LC: accepted, named in the details and the
// master playlist, downloaded with both tracks.
TEST_F(ApiFlow, AacRecordingIsAcceptedAndNamedInTheMasterPlaylist) {
  auto api = admin();
  auto agent_creds = enroll_agent(api, "desk-aac-01");
  Api agent(server_->url(), agent_creds.agent_token);
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "dora"}, {"start_time", "2026-11-27T12:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto rec_id = rec.json["id"].get<std::string>();
  const auto segments = make_segments(2, 4, 5, "320x240", SampleAudio::aac);
  for (int i = 0; i < 2; ++i) upload(agent, rec_id, i, segments[static_cast<std::size_t>(i)], 201);
  ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + rec_id + "/finish", {{"end_time", "2026-11-27T12:00:04Z"}, {"status", "complete"}}).status,
            200);
  auto detail = api.get("/api/v1/recordings/" + rec_id);
  ASSERT_EQ(detail.status, 200);
  EXPECT_EQ(detail.json["has_audio"], true);
  const auto codecs = detail.json["codecs"].get<std::string>();
  EXPECT_TRUE(codecs.ends_with(",mp4a.40.2")) << codecs;
  auto master = api.get("/api/v1/recordings/" + rec_id + "/master.m3u8");
  ASSERT_EQ(master.status, 200) << master.body;
  EXPECT_NE(master.body.find("CODECS=\"" + codecs + "\""), std::string::npos) << master.body;
  auto dl = api.get("/api/v1/recordings/" + rec_id + "/download");
  ASSERT_EQ(dl.status, 200);
  const auto file = dir_->path() / "aac-download.mp4";
  std::ofstream(file, std::ios::binary) << dl.body;
  const auto out = file.string() + ".txt";
  ASSERT_EQ(std::system(("ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 '" + file.string() +
                         "' > '" + out + "'")
                            .c_str()),
            0);
  std::ifstream in(out);
  const std::string streams((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(streams.find("aac,audio"), std::string::npos) << streams;
}

TEST_F(ApiFlow, ASegmentOfSeveralMegabytesAndAnOddSizeIsStoredByteForByte) {
  // Larger than the server's 1 MiB write blocks and not a multiple of any
  // block size: whole blocks and the tail take different paths to the disk.
  auto api = admin();
  auto agent_creds = enroll_agent(api, "desk-large-01");
  Api agent(server_->url(), agent_creds.agent_token);
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "erin"}, {"start_time", "2026-11-27T13:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto rec_id = rec.json["id"].get<std::string>();
  const auto segment = pad_segment(make_segments(1, 2)[0], (3u << 20) + 12345, 42);
  const auto stored = upload(agent, rec_id, 0, segment, 201);
  EXPECT_NE(stored.find(sha256_of(segment)), std::string::npos) << stored;
  auto back = api.get("/api/v1/recordings/" + rec_id + "/segments/0");
  ASSERT_EQ(back.status, 200);
  EXPECT_EQ(back.body.size(), segment.size());
  EXPECT_TRUE(back.body == segment);
}

TEST_F(ApiFlow, EnrollmentTokensAreCheckedAndCounted) {
  auto api = admin();
  auto tok = api.post("/api/v1/enrollment-tokens", {{"max_uses", 1}});
  ASSERT_EQ(tok.status, 201);
  Api anon(server_->url());
  Json body = {{"enrollment_token", tok.json["token"]}, {"hostname", "one"}, {"os", "Linux"}, {"agent_version", "0.1.0"}};
  EXPECT_EQ(anon.post("/api/v1/agent/enroll", body).status, 201);
  body["hostname"] = "two";
  EXPECT_EQ(anon.post("/api/v1/agent/enroll", body).status, 401);  // used up
  body["enrollment_token"] = "det_wrong";
  EXPECT_EQ(anon.post("/api/v1/agent/enroll", body).status, 401);
  auto expired = api.post("/api/v1/enrollment-tokens", {{"expires_at", "2020-01-01T00:00:00Z"}});
  EXPECT_EQ(expired.status, 422);
  EXPECT_EQ(expired.json["error"]["field"], "expires_at");
}

TEST_F(ApiFlow, DeletingAComputerKeepsItsRecordingsAndRevokesTheAgent) {
  auto api = admin();
  auto creds = enroll_agent(api, "desk-gone");
  Api agent(server_->url(), creds.agent_token);
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "carol"}, {"start_time", "2026-11-27T08:00:00Z"}});
  ASSERT_EQ(rec.status, 201);
  ASSERT_EQ(api.del("/api/v1/computers/" + creds.computer_id).status, 204);
  EXPECT_EQ(agent.get("/api/v1/agent/policy").status, 401);
  auto kept = api.get("/api/v1/recordings/" + rec.json["id"].get<std::string>());
  ASSERT_EQ(kept.status, 200);
  EXPECT_EQ(kept.json["computer_name"], "desk-gone");
}

}  // namespace
