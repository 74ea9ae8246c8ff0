// The heartbeat's session report carries the audio state of the session's
// recording: whether sound is recorded, from where, and why not.
#include <gtest/gtest.h>

#include "agent/agent.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;

TEST(SessionReport, NullWithoutASession) {
  EXPECT_TRUE(session_report(std::nullopt, nullptr, record::AudioState{true, "src", ""}).is_null());
}

TEST(SessionReport, CarriesWhyThereIsNoSound) {
  const UserSession s{"alice", 1'764'500'000'000};
  const auto r = session_report(s, "rec-1", record::AudioState{false, "", "no audio server at unix:/run/user/1000/pulse/native"});
  EXPECT_EQ(r["username"], "alice");
  EXPECT_EQ(r["recording_id"], "rec-1");
  EXPECT_EQ(r["audio"]["enabled"], true);
  EXPECT_EQ(r["audio"]["recording"], false);
  EXPECT_TRUE(r["audio"]["source"].is_null());
  EXPECT_EQ(r["audio"]["error"], "no audio server at unix:/run/user/1000/pulse/native");
}

TEST(SessionReport, RecordingAndItsSource) {
  const UserSession s{"bob", 1'764'500'000'000};
  const auto r = session_report(s, nullptr, record::AudioState{true, "default sink monitor 'x.monitor'", ""});
  EXPECT_EQ(r["audio"]["recording"], true);
  EXPECT_EQ(r["audio"]["source"], "default sink monitor 'x.monitor'");
  EXPECT_TRUE(r["audio"]["error"].is_null());
}

TEST(SessionReport, NoAudioTrackIsNotEnabled) {
  const UserSession s{"carl", 1'764'500'000'000};
  const auto r = session_report(s, nullptr, std::nullopt);
  EXPECT_EQ(r["audio"]["enabled"], false);
  EXPECT_EQ(r["audio"]["recording"], false);
}

// The server refuses a session report over 4 KiB: the longest texts are cut
// (on character boundaries) well below that.
TEST(SessionReport, LongTextsAreCutBelowTheServersLimit) {
  const UserSession s{std::string(128, 'u'), 1'764'500'000'000};
  std::string error;
  while (error.size() < 10'000) error += "\xc3\xa9";  // é
  const auto r = session_report(s, "rec-" + std::string(40, 'x'), record::AudioState{false, error, error});
  const auto e = r["audio"]["error"].get<std::string>();
  EXPECT_LE(e.size(), 512u);
  EXPECT_EQ(e.size() % 2, 0u) << "cut inside a character";
  EXPECT_LE(r["audio"]["source"].get<std::string>().size(), 256u);
  EXPECT_LT(r.dump().size(), 4096u);
}

}  // namespace
}  // namespace deskaudit::agent
