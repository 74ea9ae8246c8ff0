#include "common/log.hpp"

#include <filesystem>

#include "common/crypto.hpp"
#include "common/fs.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;
namespace fs = std::filesystem;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-log-" + random_id(""));
    fs::create_directories(dir_);
    init_logging("logtest", "info", LogFormat::text);
  }
  void TearDown() override {
    // The file sink holds the file open (Windows cannot remove it then).
    init_logging("logtest", "info", LogFormat::text);
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(LogTest, FileGetsTheLinesAtTheLevel) {
  ASSERT_TRUE(add_log_file(dir_ / "agent.log", 1 << 20, 3));
  spdlog::info("helper started pid={}", 42);
  spdlog::debug("below the level");
  auto text = read_file(dir_ / "agent.log");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_NE(text->find(" info logtest: helper started pid=42"), std::string::npos) << *text;
  EXPECT_EQ(text->find("below the level"), std::string::npos);
}

TEST_F(LogTest, FileRotatesAndKeepsMaxFiles) {
  ASSERT_TRUE(add_log_file(dir_ / "agent.log", 4096, 2));
  const std::string filler(200, 'x');
  for (int i = 0; i < 200; ++i) spdlog::info("line {} {}", i, filler);
  EXPECT_TRUE(fs::exists(dir_ / "agent.log"));
  EXPECT_TRUE(fs::exists(dir_ / "agent.1.log"));
  EXPECT_TRUE(fs::exists(dir_ / "agent.2.log"));
  EXPECT_FALSE(fs::exists(dir_ / "agent.3.log"));
  EXPECT_LE(fs::file_size(dir_ / "agent.log"), 4096u);
  auto newest = read_file(dir_ / "agent.log");
  ASSERT_TRUE(newest);
  EXPECT_NE(newest->find("line 199 "), std::string::npos);
}

TEST_F(LogTest, UnopenableFileIsAnError) {
  // A path under a regular file cannot be made.
  ASSERT_TRUE(write_file_atomic(dir_ / "file", "x"));
  auto bad = add_log_file(dir_ / "file" / "agent.log", 4096, 2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::io);
  EXPECT_NE(bad.error().message.find("agent.log"), std::string::npos);
}
