#include <filesystem>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "record/segment_files.hpp"

using namespace deskaudit;
namespace fs = std::filesystem;

class SegmentFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-seg-" + random_id(""));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SegmentFilesTest, PartFileIsRenamedWhenClosed) {
  record::SegmentFiles files(dir_, 41);
  ASSERT_TRUE(files.open("INIT", 1000));
  EXPECT_TRUE(fs::exists(dir_ / "seg-000041.mp4.part"));
  struct stat st{};
  ASSERT_EQ(::stat((dir_ / "seg-000041.mp4.part").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(files.append("FRAG1", 2000));
  ASSERT_TRUE(files.append("FRAG2", 3500));
  EXPECT_EQ(files.size_bytes(), 14);
  auto closed = files.close();
  ASSERT_TRUE(closed);
  ASSERT_TRUE(closed->has_value());
  EXPECT_EQ((*closed)->seq, 41);
  EXPECT_EQ((*closed)->path, dir_ / "seg-000041.mp4");
  EXPECT_EQ((*closed)->start_offset_ms, 1000);
  EXPECT_EQ((*closed)->duration_ms, 2500);
  EXPECT_EQ(*read_file(dir_ / "seg-000041.mp4"), "INITFRAG1FRAG2");
  EXPECT_FALSE(fs::exists(dir_ / "seg-000041.mp4.part"));
  ASSERT_TRUE(files.open("INIT", 3500));
  EXPECT_TRUE(fs::exists(dir_ / "seg-000042.mp4.part"));
}

TEST_F(SegmentFilesTest, SegmentWithoutFragmentsIsRemoved) {
  record::SegmentFiles files(dir_, 0);
  ASSERT_TRUE(files.open("INIT", 0));
  auto closed = files.close();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->has_value());
  EXPECT_TRUE(fs::is_empty(dir_));
  ASSERT_TRUE(files.open("INIT", 0));  // the number is reused
  EXPECT_TRUE(fs::exists(dir_ / "seg-000000.mp4.part"));
}

TEST_F(SegmentFilesTest, ExistingSegmentIsNeverOverwritten) {
  ASSERT_TRUE(write_file_atomic(dir_ / "seg-000003.mp4", "old"));
  record::SegmentFiles files(dir_, 3);
  auto st = files.open("INIT", 0);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(*read_file(dir_ / "seg-000003.mp4"), "old");
  EXPECT_FALSE(files.append("X", 1));
}

TEST_F(SegmentFilesTest, AWrittenFieldIsRewrittenInPlaceAndMovesTheEnd) {
  record::SegmentFiles files(dir_, 0);
  ASSERT_TRUE(files.open("INIT", 1000));
  EXPECT_FALSE(files.rewrite_u32(0, 7, 1500)) << "the init is never rewritten";
  ASSERT_TRUE(files.append("FRAG....", 2000));
  ASSERT_TRUE(files.rewrite_u32(8, 0x41424344, 5000));
  EXPECT_FALSE(files.rewrite_u32(10, 1, 5000)) << "past the end";
  EXPECT_EQ(files.size_bytes(), 12);
  auto closed = files.close();
  ASSERT_TRUE(closed && closed->has_value());
  EXPECT_EQ((*closed)->duration_ms, 4000);
  EXPECT_EQ(*read_file(dir_ / "seg-000000.mp4"), "INITFRAGABCD");
}
