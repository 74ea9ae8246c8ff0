#include "common/fs.hpp"

#include <sys/stat.h>

#include <filesystem>

#include "common/crypto.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;
namespace fs = std::filesystem;

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-fs-" + random_id(""));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// Modes are POSIX; on Windows files inherit their directory's ACL (docs/windows.md).
#ifndef _WIN32
TEST_F(FsTest, PrivateDirIs0700) {
  ASSERT_TRUE(ensure_private_dir(dir_ / "spool"));
  struct stat st{};
  ASSERT_EQ(::stat((dir_ / "spool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}
#endif

TEST_F(FsTest, AtomicWriteReplacesAndIs0600) {
  ASSERT_TRUE(ensure_private_dir(dir_));
  ASSERT_TRUE(write_file_atomic(dir_ / "f", "one"));
  ASSERT_TRUE(write_file_atomic(dir_ / "f", "two"));
  EXPECT_EQ(read_file(dir_ / "f").value(), "two");
#ifndef _WIN32
  struct stat st{};
  ASSERT_EQ(::stat((dir_ / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
#endif
  // No temp files left behind.
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_)) ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(FsTest, ReadMissingIsNotFoundAndLimitIsEnforced) {
  ASSERT_TRUE(ensure_private_dir(dir_));
  EXPECT_EQ(read_file(dir_ / "nope").error().code, Errc::not_found);
  ASSERT_TRUE(write_file_atomic(dir_ / "big", std::string(100, 'x')));
  EXPECT_EQ(read_file(dir_ / "big", 10).error().code, Errc::too_large);
}

TEST_F(FsTest, CreateNewFileRefusesAnExistingOne) {
  ASSERT_TRUE(ensure_private_dir(dir_));
  auto fd = create_new_file(dir_ / "a", 0600);
  ASSERT_TRUE(fd);
  auto again = create_new_file(dir_ / "a", 0600);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  auto missing = open_for_read(dir_ / "b");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_F(FsTest, WriteAtRewritesInPlaceAndKeepsThePosition) {
  ASSERT_TRUE(ensure_private_dir(dir_));
  auto fd = create_new_file(dir_ / "f", 0600);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(write_all(fd->get(), "abcdef", 6, "f"));
  ASSERT_TRUE(write_at(fd->get(), 2, "XY", 2, "f"));
  ASSERT_TRUE(write_all(fd->get(), "gh", 2, "f"));
  ASSERT_TRUE(sync_data(fd->get(), "f"));
  ASSERT_TRUE(sync_file(fd->get(), "f"));
  fd->reset();
  auto text = read_file(dir_ / "f");
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "abXYefgh");
}
