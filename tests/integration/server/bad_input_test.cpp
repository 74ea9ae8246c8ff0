// Bad input gets a clear JSON error with the right status and loses nothing.
#include <gtest/gtest.h>

#include "forged_media.hpp"
#include "media/fmp4.hpp"
#include "sample_media.hpp"
#include "server_process.hpp"

using namespace deskaudit::testing;

namespace {

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("badinput");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
    token_ = admin_token(server_->url());
    Api api(server_->url(), token_);
    auto creds = enroll_agent(api, "desk-bad");
    agent_token_ = creds.agent_token;
    Api agent(server_->url(), agent_token_);
    rec_id_ = agent.post("/api/v1/agent/recordings", {{"username", "dave"}, {"start_time", "2026-11-27T10:00:00Z"}})
                  .json["id"]
                  .get<std::string>();
    segments_ = new std::vector<std::string>(make_segments(2, 4));
  }
  static void TearDownTestSuite() {
    delete segments_;
    delete server_;
    delete dir_;
  }
  static void expect_error(const Reply& r, long status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    ASSERT_TRUE(r.json.is_object()) << r.body;
    EXPECT_EQ(r.json["error"]["code"], code) << r.body;
    EXPECT_FALSE(r.json["error"]["message"].get<std::string>().empty());
  }
  Reply put_segment(int seq, const std::string& bytes, const std::string& sha) {
    Api agent(server_->url(), agent_token_);
    return agent.raw("PUT", "/api/v1/agent/recordings/" + rec_id_ + "/segments/" + std::to_string(seq), bytes,
                     {{"X-Content-SHA256", sha}});
  }
  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string token_, agent_token_, rec_id_;
  static inline std::vector<std::string>* segments_ = nullptr;
};

TEST_F(BadInput, MalformedJsonIs400) {
  Api api(server_->url(), token_);
  expect_error(api.raw("POST", "/api/v1/pools", "{\"name\": ", {{"Content-Type", "application/json"}}), 400, "invalid_argument");
  expect_error(api.raw("POST", "/api/v1/pools", "[1,2]", {{"Content-Type", "application/json"}}), 400, "invalid_argument");
  expect_error(api.raw("POST", "/api/v1/pools", "", {{"Content-Type", "application/json"}}), 400, "invalid_argument");
}

TEST_F(BadInput, WrongTypesAndValuesAre422NamingTheField) {
  Api api(server_->url(), token_);
  auto r = api.post("/api/v1/pools", {{"name", 42}});
  expect_error(r, 422, "unprocessable");
  EXPECT_EQ(r.json["error"]["field"], "name");
  struct Case {
    Json recording;
    std::string field;
  };
  for (const auto& c : std::vector<Case>{{{{"fps", 7}}, "recording.fps"},
                                         {{{"fps", "5"}}, "recording.fps"},
                                         {{{"mode", "always"}}, "recording.mode"},
                                         {{{"retention_days", 0}}, "recording.retention_days"},
                                         {{{"retention_days", 4000}}, "recording.retention_days"},
                                         {{{"segment_max_bytes", 64 << 20}}, "recording.segment_max_bytes"},
                                         {{{"segment_max_minutes", 15}}, "recording.segment_max_minutes"},
                                         {{{"mode", "period"}, {"period_start", "25:00"}}, "recording.period_start"},
                                         {{{"audio", "yes"}}, "recording.audio"},
                                         {{{"user_notice", true}}, "recording.user_notice_message"},
                                         {{{"colour", "red"}}, "recording.colour"}}) {
    auto p = api.post("/api/v1/policies", {{"name", "bad " + c.field}, {"recording", c.recording}});
    expect_error(p, 422, "unprocessable");
    EXPECT_EQ(p.json["error"]["field"], c.field) << c.recording.dump();
  }
  expect_error(api.get("/api/v1/recordings?start_time=yesterday"), 400, "invalid_argument");
  expect_error(api.get("/api/v1/recordings?limit=0"), 400, "invalid_argument");
  expect_error(api.get("/api/v1/recordings?limit=501"), 400, "invalid_argument");
  expect_error(api.get("/api/v1/recordings?status=lost"), 400, "invalid_argument");
  expect_error(api.get("/api/v1/recordings?next_token=%%%garbage"), 400, "invalid_argument");
}

TEST_F(BadInput, HugeBodiesAre413WithoutBeingRead) {
  Api api(server_->url(), token_);
  const std::string big(2 << 20, 'x');  // over the 1 MiB JSON limit
  expect_error(api.raw("POST", "/api/v1/pools", big, {{"Content-Type", "application/json"}}), 413, "too_large");
  // A segment body over the upload limit is refused from its Content-Length.
  const std::string huge(41 << 20, 'y');
  auto r = put_segment(5, huge, sha256_of(huge));
  expect_error(r, 413, "too_large");
  // The server still serves.
  EXPECT_EQ(api.get("/api/v1/health").status, 200);
}

TEST_F(BadInput, UnknownRoutesAndIdsAreJson404) {
  Api api(server_->url(), token_);
  expect_error(api.get("/api/v1/nothing-here"), 404, "not_found");
  expect_error(api.get("/api/v1/recordings/rec-doesnotexist"), 404, "not_found");
  expect_error(api.get("/api/v1/recordings/..%2F..%2Fetc%2Fpasswd/segments/0"), 404, "not_found");
  expect_error(api.get("/api/v1/computers/cc-none/recording-status"), 404, "not_found");
}

TEST_F(BadInput, SegmentChecksumSizeAndContainerAreVerified) {
  const auto& seg = (*segments_)[0];
  // Wrong SHA-256: refused, nothing stored.
  expect_error(put_segment(0, seg, std::string(64, 'a')), 422, "unprocessable");
  expect_error(put_segment(0, seg, "not-hex"), 400, "invalid_argument");
  // Valid checksum but not an MP4.
  const std::string junk(5000, 'j');
  expect_error(put_segment(0, junk, sha256_of(junk)), 422, "unprocessable");
  // A torn MP4 (cut mid-fragment).
  const auto torn = seg.substr(0, seg.size() - 100);
  expect_error(put_segment(0, torn, sha256_of(torn)), 422, "unprocessable");
  // Path-like and negative sequence numbers.
  expect_error(put_segment(-1, seg, sha256_of(seg)), 400, "invalid_argument");
  Api agent(server_->url(), agent_token_);
  auto r = agent.raw("PUT", "/api/v1/agent/recordings/" + rec_id_ + "/segments/..%2F..%2Fx", seg, {{"X-Content-SHA256", sha256_of(seg)}});
  expect_error(r, 404, "not_found");  // decoded to "../../x", which names no route
  Api api(server_->url(), token_);
  auto detail = api.get("/api/v1/recordings/" + rec_id_);
  EXPECT_EQ(detail.json["segment_count"], 0);
  // Then the right bytes land.
  EXPECT_EQ(put_segment(0, seg, sha256_of(seg)).status, 201);
  EXPECT_EQ(api.get("/api/v1/recordings/" + rec_id_).json["segment_count"], 1);
}

// Issue 9: ~45k fragments each claiming 2^20 zero-byte samples (77 s of CPU
// and a 201 before); refused from the first fragment.
TEST_F(BadInput, ZeroByteSampleBombIs422) {
  const auto& seg = (*segments_)[0];
  auto idx = deskaudit::media::index_segment(std::as_bytes(std::span(seg.data(), seg.size())));
  ASSERT_TRUE(idx) << idx.error().message;
  const auto bomb = zero_sample_bomb(std::string_view(seg).substr(0, idx->init_size), idx->track_id, 4u << 20);
  auto r = put_segment(7, bomb, sha256_of(bomb));
  expect_error(r, 422, "unprocessable");
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("samples would be 0 bytes each"), std::string::npos)
      << r.body;
  Api api(server_->url(), token_);
  auto detail = api.get("/api/v1/recordings/" + rec_id_);
  ASSERT_TRUE(detail.json["segments"].is_array()) << detail.body;
  for (const auto& item : detail.json["segments"]) EXPECT_NE(item["seq"], 7) << detail.body;
}

// A second traf must be the audio track's, with its samples after the video's.
TEST_F(BadInput, AudioFragmentOfAnotherTrackIs422) {
  auto seg = make_segments(1, 2, 5, "320x240", SampleAudio::opus)[0];
  ASSERT_EQ(put_segment(8, seg, sha256_of(seg)).status, 201) << "the untouched segment is accepted";
  const auto moof = seg.find("moof");
  ASSERT_NE(moof, std::string::npos);
  const auto first_tfhd = seg.find("tfhd", moof);
  const auto second_tfhd = seg.find("tfhd", first_tfhd + 4);
  ASSERT_NE(second_tfhd, std::string::npos);
  seg[second_tfhd + 4 + 4 + 3] = 7;  // track_ID (after version/flags) -> 7
  auto r = put_segment(9, seg, sha256_of(seg));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("audio track"), std::string::npos) << r.body;
}

// An AAC track's esds is checked before use: an AudioSpecificConfig that
// is not AAC-LC is a 422 that says so.
TEST_F(BadInput, MalformedEsdsIs422) {
  auto seg = make_segments(1, 2, 5, "320x240", SampleAudio::aac)[0];
  ASSERT_EQ(put_segment(10, seg, sha256_of(seg)).status, 201) << "the untouched segment is accepted";
  // esds payload: version/flags, ES_Descriptor (tag, 4 size bytes, ES_ID,
  // flags), DecoderConfigDescriptor (tag, 4 size bytes, 13 bytes),
  // DecoderSpecificInfo (tag, 4 size bytes): the AudioSpecificConfig at +35.
  const auto esds = seg.find("esds");
  ASSERT_NE(esds, std::string::npos);
  ASSERT_EQ(seg[esds + 4 + 30], '\x05');
  seg[esds + 4 + 35] = static_cast<char>((5 << 3) | (seg[esds + 4 + 35] & 7));  // HE-AAC
  auto r = put_segment(11, seg, sha256_of(seg));
  expect_error(r, 422, "unprocessable");
  EXPECT_NE(r.body.find("esds"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("audio object type 5, expected 2 (AAC-LC)"), std::string::npos) << r.body;
}

TEST_F(BadInput, FinishIsValidated) {
  Api agent(server_->url(), agent_token_);
  auto r = agent.post("/api/v1/agent/recordings/" + rec_id_ + "/finish", {{"end_time", "2026-11-27T09:00:00Z"}});
  expect_error(r, 422, "unprocessable");
  r = agent.post("/api/v1/agent/recordings/" + rec_id_ + "/finish", {{"end_time", "2026-11-27T11:00:00Z"}, {"status", "recording"}});
  expect_error(r, 422, "unprocessable");
  EXPECT_EQ(r.json["error"]["field"], "status");
}

TEST_F(BadInput, WrongPasswordIsThrottled) {
  Api api(server_->url(), token_);
  ASSERT_EQ(api.post("/api/v1/users", {{"username", "eve"}, {"password", "wonderland-pass-9"}, {"roles", Json::array()}}).status, 201);
  Api anon(server_->url());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(anon.post("/api/v1/auth/login", {{"username", "eve"}, {"password", "wrong-password"}}).status, 401);
  }
  // Locked now, even with the right password.
  auto locked = anon.post("/api/v1/auth/login", {{"username", "eve"}, {"password", "wonderland-pass-9"}});
  EXPECT_EQ(locked.status, 429) << locked.body;
  EXPECT_FALSE(locked.headers["retry-after"].empty());
}

}  // namespace
