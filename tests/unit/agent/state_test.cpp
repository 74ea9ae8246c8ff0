#include "agent/state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "common/text.hpp"

using namespace deskaudit;
using namespace deskaudit::agent;
namespace fs = std::filesystem;

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-state-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    ASSERT_TRUE(ensure_private_dir(dir_, 0700));
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(StateTest, CredentialIs0600AndRoundTrips) {
  const StatePaths paths(dir_);
  auto none = load_credential(paths);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(save_credential(paths, Credential{"http://127.0.0.1:8080", "cc-1", "agt-secret"}));
  struct stat st{};
  ASSERT_EQ(::stat(paths.credential().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto c = load_credential(paths);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->server_url, "http://127.0.0.1:8080");
  EXPECT_EQ((*c)->computer_id, "cc-1");
  EXPECT_EQ((*c)->agent_token, "agt-secret");
}

TEST_F(StateTest, BrokenCredentialIsAnErrorNotAReEnrollment) {
  const StatePaths paths(dir_);
  ASSERT_TRUE(write_file_atomic(paths.credential(), R"({"server_url":"http://x"})"));
  auto c = load_credential(paths);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::corrupt);
}

TEST_F(StateTest, SessionSurvivesAndClears) {
  const StatePaths paths(dir_);
  ASSERT_TRUE(save_session(paths, UserSession{"alice", 1'800'000'000'250}));
  auto s = load_session(paths);
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->username, "alice");
  EXPECT_EQ((*s)->started_at, 1'800'000'000'250);
  ASSERT_TRUE(save_session(paths, std::nullopt));
  auto gone = load_session(paths);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(save_session(paths, std::nullopt));  // idempotent
}

TEST_F(StateTest, PolicyCacheRoundTrips) {
  const StatePaths paths(dir_);
  PolicyState s;
  s.source = "pool";
  s.etag = "\"v3\"";
  Policy p;
  p.id = "pol-9";
  p.recording.mode = RecordingMode::period;
  p.recording.period_start = "22:00";
  p.recording.period_end = "06:00";
  s.policy = p;
  ASSERT_TRUE(save_policy_cache(paths, s));
  auto back = load_policy_cache(paths);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->etag, "\"v3\"");
  ASSERT_TRUE((*back)->policy);
  EXPECT_EQ((*back)->policy->period_start_min(), 22 * 60);
  EXPECT_EQ((*back)->policy->period_end_min(), 6 * 60);
}

TEST(Username, Validation) {
  EXPECT_TRUE(validate_username("alice"));
  EXPECT_TRUE(validate_username("CORP\\bob smith"));
  EXPECT_FALSE(validate_username(""));
  EXPECT_FALSE(validate_username(std::string(257, 'a')));
  EXPECT_FALSE(validate_username("a\tb"));
}

// The agent never creates a recording whose user name the server refuses
// (POST /api/v1/agent/recordings takes 1..128 bytes of UTF-8).
TEST(Username, MatchesTheServersLimit) {
  EXPECT_EQ(kMaxUserNameBytes, 128u);
  EXPECT_TRUE(validate_username(std::string(128, 'a')));
  EXPECT_FALSE(validate_username(std::string(129, 'a')));
  EXPECT_FALSE(validate_username(std::string(200, 'a')));
  EXPECT_TRUE(validate_username("J\xc3\xbcrgen"));
  EXPECT_FALSE(validate_username("J\xc3rgen"));      // a split character
  EXPECT_FALSE(validate_username("\xed\xa0\x80x"));  // a surrogate
}

TEST(Username, NamesTheAgentDidNotChooseAreCutOnACharacterBoundary) {
  EXPECT_EQ(usable_username("alice"), "alice");
  // 127 ASCII bytes and a 2-byte character: the character does not fit.
  const std::string long_name = std::string(127, 'a') + "\xc3\xbc" + "tail";
  const std::string cut = usable_username(long_name);
  EXPECT_EQ(cut, std::string(127, 'a'));
  EXPECT_TRUE(validate_username(cut));
  EXPECT_TRUE(validate_username(usable_username("bad\xffname\x01")));
  EXPECT_TRUE(validate_username(usable_username("")));
  EXPECT_TRUE(validate_username(usable_username(std::string(5000, 'x'))));
}
