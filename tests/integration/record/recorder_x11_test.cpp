#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "capture/test_xvfb.hpp"
#include "media/fmp4.hpp"
#include "record/media_probe.hpp"
#include "record/pipeline.hpp"
#include "record/recorder.hpp"
#include "record/recording_checks.hpp"
#include "recorder_fixture.hpp"

using namespace deskaudit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

class RecorderTest : public rtest::RecorderFixture {
 protected:
  record::RecorderOptions options() const {
    record::RecorderOptions o;
    o.display = xvfb_.display();
    o.output_dir = dir_;
    o.fps = 5;
    return o;
  }
  std::vector<mtest::FragSample> check_segments(const std::vector<record::SegmentClosed>& segs) {
    return mtest::check_segments(segs);
  }

  xtest::Xvfb xvfb_;
};

// Pacing, VFR, refinement, segment cuts and crash recovery are unit-tested
// on a scripted screen (tests/unit/record/recorder_test.cpp); these tests
// check the real capture backends under Xvfb.

// Repaints a window in a loop until destroyed.
class Animator {
 public:
  Animator(const std::string& display, std::chrono::milliseconds period, bool noisy = false)
      : thread_([=, this] {
          xtest::Painter p(display, 100, 100, 1000, 600);
          p.map();
          std::mt19937 rng(7);
          std::uint32_t color = 0x204080;
          while (!stop_) {
            if (noisy) {
              p.noise(rng, 1500, 12);
            } else {
              color = (color * 2654435761u + 0x1234567) & 0xffffff;
              p.fill(color, static_cast<int>(rng() % 900), static_cast<int>(rng() % 500), 100, 100);
            }
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~Animator() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_F(RecorderTest, RecordingProducesValidSegmentsWhoseDurationsAddUp) {
  const auto t0 = SteadyClock::now();
  auto rec = start(options());
  EXPECT_EQ(rec->capture_info().backend, "xcb-shm+damage");
  EXPECT_TRUE(rec->capture_info().ok);
  {
    Animator a(xvfb_.display(), 100ms);
    std::this_thread::sleep_for(3s);
  }
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(rec->stop());
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
  EXPECT_FALSE(rec->failure());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000000.mp4");
  const auto packets = check_segments(segs);
  EXPECT_GE(packets.size(), 2u);
  // Media time runs from the first grab to the stop, both inside the wall time.
  EXPECT_LE(segs[0].duration_ms, wall_ms);
  EXPECT_EQ(rec->elapsed_ms(), segs[0].duration_ms);
  EXPECT_TRUE(rec->stop());  // idempotent
}

TEST_F(RecorderTest, ScreenResizesKeepRecordingAndTheRecordingDownloadsAsOneMp4) {
  auto rec = start(options());
  const auto reaches = [&](int width) { return eventually([&] { return rec->capture_info().width == width; }); };
  const auto segments_closed = [&](std::size_t n) { return eventually([&] { return closed().size() >= n; }); };
  {
    Animator a(xvfb_.display(), 100ms);
    xtest::Painter p(xvfb_.display(), 0, 0, 10, 10);
    std::this_thread::sleep_for(600ms);  // some frames of each size
    if (!p.resize_screen(1280, 720)) GTEST_SKIP() << "this Xvfb refuses RandR screen resizing";
    ASSERT_TRUE(reaches(1280));
    // The old size's segment closes when the first frame of the new size is ready.
    ASSERT_TRUE(segments_closed(1));
    std::this_thread::sleep_for(600ms);
    ASSERT_TRUE(p.resize_screen(1024, 576));
    ASSERT_TRUE(reaches(1024));
    ASSERT_TRUE(segments_closed(2));
    std::this_thread::sleep_for(600ms);
  }
  ASSERT_TRUE(rec->stop());
  EXPECT_FALSE(rec->failure());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 3u);
  check_segments(segs);
  const std::vector<std::pair<int, int>> sizes{{1920, 1080}, {1280, 720}, {1024, 576}};
  std::map<std::int64_t, std::string> files;
  std::vector<media::PlaylistSegment> indexed;
  std::int64_t total_ms = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto pr = mtest::probe(segs[i].path);
    EXPECT_EQ(std::pair(pr.width, pr.height), sizes[i]);
    files[segs[i].seq] = mtest::read_all(segs[i].path);
    auto idx = media::index_segment_file(segs[i].path);
    ASSERT_TRUE(idx) << idx.error().message;
    indexed.push_back({segs[i].seq, std::move(*idx)});
    total_ms += segs[i].duration_ms;
  }

  // The download of the whole recording: one MP4 that decodes without a
  // complaint and lasts as long as the segments together.
  const auto& first = files.at(segs[0].seq);
  const media::SegmentReader read = [&](std::int64_t seq, std::uint64_t offset,
                                        std::uint64_t size) -> Result<std::string> {
    return files.at(seq).substr(offset, size);
  };
  auto plan =
      media::build_download_plan(std::as_bytes(std::span(first.data(), indexed[0].index.init_size)), indexed, read);
  ASSERT_TRUE(plan) << plan.error().message;
  std::string bytes;
  for (const auto& piece : plan->pieces)
    bytes += piece.seq ? files.at(*piece.seq).substr(piece.offset, piece.size) : piece.inline_bytes;
  const auto whole = dir_ / "download.mp4";
  std::ofstream(whole, std::ios::binary) << bytes;
  EXPECT_EQ(mtest::decode_errors(whole), "");
  const auto [code, duration] =
      mtest::run("ffprobe -v error -show_entries format=duration -of csv=p=0 '" + whole.string() + "'");
  ASSERT_EQ(code, 0);
  EXPECT_NEAR(std::stod(duration) * 1000.0, static_cast<double>(total_ms), 1.0);
}

TEST_F(RecorderTest, GetImageBackendRecordsToo) {
  record::RecorderTuning t;
  t.backend = capture::BackendChoice::getimage;
  std::vector<record::SegmentClosed> segs;
  auto rec = record::start_recorder(options(), t, [&](const record::SegmentClosed& s) { segs.push_back(s); });
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ((*rec)->capture_info().backend, "xcb-getimage+damage");
  {
    Animator a(xvfb_.display(), 100ms);
    std::this_thread::sleep_for(1s);
  }
  ASSERT_TRUE((*rec)->stop());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_GE(check_segments(segs).size(), 4u);
}

TEST_F(RecorderTest, BadOptionsAreRefused) {
  auto o = options();
  o.fps = 0;
  EXPECT_EQ(record::Recorder::start(o, {}).error().code, Errc::invalid_argument);
  o = options();
  o.output_dir = dir_ / "missing";
  EXPECT_EQ(record::Recorder::start(o, {}).error().field, "output_dir");
  o = options();
  o.segment_max_bytes = 1000;
  EXPECT_FALSE(record::Recorder::start(o, {}));
  o = options();
  { std::ofstream(dir_ / "seg-000000.mp4") << "an earlier recording"; }
  auto taken = record::Recorder::start(o, {});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::conflict);
  EXPECT_EQ(mtest::read_all(dir_ / "seg-000000.mp4"), "an earlier recording");
  EXPECT_FALSE(fs::exists(dir_ / "seg-000000.mp4.part"));
  o = options();
  o.display = ":358";
  auto r = record::Recorder::start(o, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(":358"), std::string::npos);
}

TEST_F(RecorderTest, ProbeCapture) {
  const auto good = record::probe_capture(xvfb_.display());
  EXPECT_TRUE(good.ok) << good.error;
  EXPECT_EQ(good.backend, "xcb-shm+damage");
  EXPECT_EQ(good.width, 1920);
  EXPECT_EQ(good.height, 1080);
  const auto bad = record::probe_capture(":357");
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.error.empty());
}
