#include "agent/spool.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "media/fmp4.hpp"

using namespace deskaudit;
using namespace deskaudit::agent;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

void copy_prefix(const fs::path& from, const fs::path& to, std::uint64_t length) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::resize_file(to, length);
}

}  // namespace

class SpoolTest : public ::testing::Test {
 protected:
  // One small fragmented MP4 made by the ffmpeg CLI: 10 fps, a keyframe (and
  // so a fragment) every 10 frames, 4 s = 4 fragments.
  static void SetUpTestSuite() {
    sample_dir_ = fs::temp_directory_path() / ("deskaudit-agent-sample-" + std::to_string(::getpid()));
    fs::create_directories(sample_dir_);
    sample_ = sample_dir_ / "sample.mp4";
    const std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=10 -t 4 "
        "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 10 -keyint_min 10 -sc_threshold 0 "
        "-movflags frag_keyframe+empty_moov+default_base_moof -f mp4 '" +
        sample_.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "ffmpeg (Debian package ffmpeg) must be installed: " << cmd;
    auto index = media::index_segment_file(sample_);
    ASSERT_TRUE(index) << index.error().message;
    index_ = *index;
    ASSERT_GE(index_.fragments.size(), 3u);
  }
  static void TearDownTestSuite() { fs::remove_all(sample_dir_); }

  void SetUp() override {
    ASSERT_FALSE(sample_.empty());
    root_ = fs::temp_directory_path() /
            ("deskaudit-spool-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    spool_ = std::make_unique<Spool>(root_);
    ASSERT_TRUE(spool_->init());
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path new_recording(bool finished = false) {
    RecordingMeta meta;
    meta.username = "alice";
    meta.start_time = 1'800'000'000'000;
    meta.policy = {{"id", "pol-1"}};
    meta.policy_id = "pol-1";
    meta.policy_version = 2;
    meta.finished = finished;
    auto dir = spool_->create(meta);
    EXPECT_TRUE(dir) << dir.error().message;
    return *dir;
  }

  static inline fs::path sample_dir_, sample_;
  static inline media::FragmentIndex index_;
  fs::path root_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(SpoolTest, RecordingJsonRoundTripsAndIsPrivate) {
  const auto dir = new_recording();
  EXPECT_EQ(mode_of(root_), 0700u);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir / "recording.json"), 0600u);
  ASSERT_TRUE(spool_->update(dir, [](RecordingMeta& m) {
    m.server_id = "rec-abc";
    m.next_seq = 4;
    m.media_end_ms = 12345;
  }));
  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta) << meta.error().message;
  EXPECT_EQ(meta->server_id, "rec-abc");
  EXPECT_EQ(meta->username, "alice");
  EXPECT_EQ(meta->start_time, 1'800'000'000'000);
  EXPECT_EQ(meta->policy_id, "pol-1");
  EXPECT_EQ(meta->policy_version, 2);
  EXPECT_EQ(meta->next_seq, 4);
  EXPECT_EQ(meta->media_end_ms, 12345);
  EXPECT_FALSE(meta->finished);
  EXPECT_FALSE(meta->awaiting_first_frame);
  EXPECT_EQ(meta->local_id, dir.filename().string());
  ASSERT_TRUE(spool_->update(dir, [](RecordingMeta& m) { m.awaiting_first_frame = true; }));
  EXPECT_TRUE(spool_->load(dir)->awaiting_first_frame);
}

TEST_F(SpoolTest, RecordingJsonFromAnEarlierAgentHasItsStart) {
  // Written before awaiting_first_frame existed: its start is final.
  const auto dir = new_recording();
  auto doc = nlohmann::json::parse(*read_file(dir / "recording.json"));
  doc.erase("awaiting_first_frame");
  auto meta = meta_from_json(doc);
  ASSERT_TRUE(meta) << meta.error().message;
  EXPECT_FALSE(meta->awaiting_first_frame);
  doc["awaiting_first_frame"] = "yes";
  EXPECT_FALSE(meta_from_json(doc)) << "a non-boolean is not taken";
}

TEST_F(SpoolTest, CorruptRecordingJsonIsAnError) {
  const auto dir = new_recording();
  ASSERT_TRUE(write_file_atomic(dir / "recording.json", "{\"local_id\": 3}"));
  auto meta = spool_->load(dir);
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code, Errc::corrupt);
}

TEST_F(SpoolTest, RecordingsListOldestFirst) {
  RecordingMeta a, b;
  a.start_time = 2'000'000'000'000;
  b.start_time = 1'000'000'000'000;
  auto da = spool_->create(a);
  auto db = spool_->create(b);
  ASSERT_TRUE(da && db);
  fs::create_directories(root_ / "not-a-recording");
  auto list = spool_->recordings();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0], *db);
  EXPECT_EQ((*list)[1], *da);
}

TEST_F(SpoolTest, SegmentNamesParse) {
  const auto dir = new_recording();
  for (const char* name : {"seg-000002.mp4", "seg-000000.mp4", "seg-000003.mp4.part", "seg-000001.mp4.conflict",
                           "seg-x.mp4", "seg-000004.mp4.tmp", "other.txt", "seg-.mp4"}) {
    ASSERT_TRUE(write_file_atomic(dir / name, "x"));
  }
  auto segs = list_segments(dir);
  ASSERT_TRUE(segs);
  ASSERT_EQ(segs->size(), 4u);
  EXPECT_EQ((*segs)[0].seq, 0);
  EXPECT_EQ((*segs)[1].seq, 1);
  EXPECT_EQ((*segs)[1].kind, SegmentFile::Kind::conflict);
  EXPECT_EQ((*segs)[2].seq, 2);
  EXPECT_EQ((*segs)[2].kind, SegmentFile::Kind::closed);
  EXPECT_EQ((*segs)[3].seq, 3);
  EXPECT_EQ((*segs)[3].kind, SegmentFile::Kind::part);
  EXPECT_EQ(segment_file_name(7), "seg-000007.mp4");
}

TEST_F(SpoolTest, TornTailIsCutOffAndTheRecordingInterrupted) {
  const auto dir = new_recording();
  const auto& last = index_.fragments.back();
  const std::uint64_t torn = last.offset + last.size / 2;  // power cut inside the last fragment
  copy_prefix(sample_, dir / "seg-000000.mp4.part", torn);

  auto report = spool_->recover(dir);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->parts_recovered, 1);
  EXPECT_EQ(report->parts_dropped, 0);
  EXPECT_EQ(report->bytes_cut, torn - last.offset);
  EXPECT_TRUE(report->marked_interrupted);

  EXPECT_FALSE(fs::exists(dir / "seg-000000.mp4.part"));
  ASSERT_TRUE(fs::exists(dir / "seg-000000.mp4"));
  EXPECT_EQ(fs::file_size(dir / "seg-000000.mp4"), last.offset);
  auto recovered = media::index_segment_file(dir / "seg-000000.mp4");
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(recovered->fragments.size(), index_.fragments.size() - 1);

  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta);
  EXPECT_TRUE(meta->finished);
  EXPECT_EQ(meta->status, FinishStatus::interrupted);
  EXPECT_EQ(meta->next_seq, 1);
  const auto end_ms = recovered->start_ms() + recovered->duration_ms();
  EXPECT_GT(end_ms, 2000);
  EXPECT_LT(end_ms, 4000);
  EXPECT_EQ(meta->end_time, meta->start_time + end_ms);

  // Idempotent: a second start-up finds nothing more to do.
  auto again = spool_->recover(dir);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->parts_recovered + again->parts_dropped, 0);
  EXPECT_FALSE(again->marked_interrupted);
  EXPECT_EQ(fs::file_size(dir / "seg-000000.mp4"), last.offset);
}

TEST_F(SpoolTest, WholeFragmentsAreKeptUncut) {
  const auto dir = new_recording();
  const auto boundary = index_.fragments[2].offset;  // two whole fragments
  copy_prefix(sample_, dir / "seg-000000.mp4", fs::file_size(sample_));
  copy_prefix(sample_, dir / "seg-000001.mp4.part", boundary);
  auto report = spool_->recover(dir);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->parts_recovered, 1);
  EXPECT_EQ(report->bytes_cut, 0u);
  EXPECT_EQ(fs::file_size(dir / "seg-000001.mp4"), boundary);
  EXPECT_EQ(fs::file_size(dir / "seg-000000.mp4"), fs::file_size(sample_));
  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->next_seq, 2);
  // The end comes from the highest segment: two fragments of 1 s.
  auto last = media::index_segment_file(dir / "seg-000001.mp4");
  ASSERT_TRUE(last);
  EXPECT_EQ(*meta->end_time - meta->start_time, last->start_ms() + last->duration_ms());
  EXPECT_NEAR(static_cast<double>(*meta->end_time - meta->start_time), 2000.0, 150.0);
}

TEST_F(SpoolTest, PartWithoutAWholeFragmentIsDropped) {
  const auto dir = new_recording();
  copy_prefix(sample_, dir / "seg-000000.mp4.part", 100);  // not even the init
  copy_prefix(sample_, dir / "seg-000001.mp4.part", index_.init_size + 10);  // init, no fragment
  auto report = spool_->recover(dir);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->parts_recovered, 0);
  EXPECT_EQ(report->parts_dropped, 2);
  auto segs = list_segments(dir);
  ASSERT_TRUE(segs);
  EXPECT_TRUE(segs->empty());
  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta);
  EXPECT_TRUE(meta->finished);
  EXPECT_EQ(meta->end_time, meta->start_time);
}

TEST_F(SpoolTest, FinishedRecordingIsLeftAlone) {
  const auto dir = new_recording(true);
  ASSERT_TRUE(spool_->update(dir, [](RecordingMeta& m) {
    m.status = FinishStatus::complete;
    m.end_time = m.start_time + 60000;
  }));
  copy_prefix(sample_, dir / "seg-000000.mp4", fs::file_size(sample_));
  auto report = spool_->recover(dir);
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->marked_interrupted);
  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->status, FinishStatus::complete);
  EXPECT_EQ(*meta->end_time - meta->start_time, 60000);
}

TEST_F(SpoolTest, BytesCountsEverything) {
  const auto dir = new_recording();
  const auto before = spool_->bytes();
  copy_prefix(sample_, dir / "seg-000000.mp4", 5000);
  EXPECT_EQ(spool_->bytes(), before + 5000);
  ASSERT_TRUE(spool_->remove(dir));
  EXPECT_EQ(spool_->bytes(), 0u);
}

TEST(DiskFloor, BytesOrPercent) {
  const DiskFloor floor{512ull << 20, 5.0};
  EXPECT_TRUE(below_floor(DiskSpace{100ull << 20, 100ull << 30}, floor));   // 100 MiB free
  EXPECT_TRUE(below_floor(DiskSpace{4ull << 30, 100ull << 30}, floor));     // 4 % free
  EXPECT_FALSE(below_floor(DiskSpace{6ull << 30, 100ull << 30}, floor));    // 6 % and 6 GiB
  EXPECT_FALSE(below_floor(DiskSpace{0, 0}, DiskFloor{0, 5.0}));            // unknown total
  auto here = disk_space(fs::temp_directory_path());
  ASSERT_TRUE(here);
  EXPECT_GT(here->total_bytes, 0u);
  EXPECT_LE(here->free_bytes, here->total_bytes);
  EXPECT_FALSE(disk_space("/nonexistent/deskaudit"));
}
