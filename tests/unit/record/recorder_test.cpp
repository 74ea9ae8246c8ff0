#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "capture/test_xvfb.hpp"
#include "common/crypto.hpp"
#include "record/media_probe.hpp"
#include "record/pipeline.hpp"
#include "record/recorder.hpp"

using namespace deskaudit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-rec-" + random_id(""));
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  record::RecorderOptions options() const {
    record::RecorderOptions o;
    o.display = xvfb_.display();
    o.output_dir = dir_;
    o.fps = 5;
    return o;
  }
  std::unique_ptr<record::Recorder> start(const record::RecorderOptions& o) {
    auto r = record::Recorder::start(o, [this](const record::SegmentClosed& s) {
      std::lock_guard lock(mu_);
      closed_.push_back(s);
    });
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
  std::vector<record::SegmentClosed> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // Checks what every recording must satisfy and returns all packets in order.
  std::vector<mtest::FragSample> check_segments(const std::vector<record::SegmentClosed>& segs) {
    std::vector<mtest::FragSample> all;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const auto& s = segs[i];
      SCOPED_TRACE(s.path.string());
      EXPECT_TRUE(fs::exists(s.path));
      EXPECT_FALSE(fs::exists(s.path.string() + ".part"));
      EXPECT_EQ(fs::file_size(s.path), static_cast<std::uintmax_t>(s.size_bytes));
      struct stat st{};
      EXPECT_EQ(::stat(s.path.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u);
      const auto boxes = mtest::top_boxes(mtest::read_all(s.path));
      if (boxes.size() < 4) {
        ADD_FAILURE() << "fewer than ftyp, moov, moof, mdat";
        continue;
      }
      EXPECT_EQ(boxes[0], "ftyp");
      EXPECT_EQ(boxes[1], "moov");
      for (std::size_t b = 2; b < boxes.size(); ++b) EXPECT_EQ(boxes[b], b % 2 == 0 ? "moof" : "mdat");
      const auto p = mtest::probe(s.path);
      EXPECT_EQ(p.exit_code, 0);
      EXPECT_EQ(p.errors, "");
      EXPECT_EQ(mtest::decode_errors(s.path), "");
      if (p.packets.empty()) {
        ADD_FAILURE() << "no packets";
        continue;
      }
      EXPECT_TRUE(p.packets.front().key) << "segment must start with a keyframe";
      EXPECT_EQ(p.packets.front().pts, s.start_offset_ms);
      const auto samples = mtest::fragment_samples(mtest::read_all(s.path));
      EXPECT_EQ(samples.size(), p.packets.size());
      if (samples.empty()) continue;
      EXPECT_TRUE(samples.front().sync);
      EXPECT_EQ(samples.front().dts, s.start_offset_ms);
      EXPECT_EQ(samples.back().dts + samples.back().duration - s.start_offset_ms, s.duration_ms);
      for (std::size_t k = 0; k < samples.size() && k < p.packets.size(); ++k) EXPECT_EQ(samples[k].dts, p.packets[k].pts);
      if (i > 0) {
        EXPECT_EQ(s.start_offset_ms, segs[i - 1].start_offset_ms + segs[i - 1].duration_ms) << "gap or jump";
        EXPECT_EQ(s.seq, segs[i - 1].seq + 1);
      }
      all.insert(all.end(), samples.begin(), samples.end());
    }
    // Each sample lasts until the next one: no gap, no overlap, across files too.
    for (std::size_t i = 1; i < all.size(); ++i)
      EXPECT_EQ(all[i - 1].dts + all[i - 1].duration, all[i].dts) << "sample " << i;
    return all;
  }

  xtest::Xvfb xvfb_;
  fs::path dir_;
  std::mutex mu_;
  std::vector<record::SegmentClosed> closed_;
};

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
  auto rec = start(options());
  EXPECT_EQ(rec->capture_info().backend, "xcb-shm+damage");
  EXPECT_TRUE(rec->capture_info().ok);
  const auto t0 = SteadyClock::now();
  {
    Animator a(xvfb_.display(), 100ms);
    std::this_thread::sleep_for(3s);
  }
  std::this_thread::sleep_for(500ms);
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
  ASSERT_TRUE(rec->stop());
  EXPECT_FALSE(rec->failure());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000000.mp4");
  const auto packets = check_segments(segs);
  EXPECT_GE(packets.size(), 10u);
  EXPECT_LE(packets.size(), 3.5 * 5 + 2);
  // Media time covers the wall time of the recording to within one frame.
  EXPECT_NEAR(static_cast<double>(segs[0].duration_ms), static_cast<double>(wall_ms), 200.0);
  EXPECT_EQ(rec->elapsed_ms(), segs[0].duration_ms);
  EXPECT_TRUE(rec->stop());  // idempotent
}

TEST_F(RecorderTest, StillScreenCostsNoFrames) {
  auto rec = start(options());
  std::this_thread::sleep_for(3500ms);
  ASSERT_TRUE(rec->stop());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 1u);
  const auto packets = check_segments(segs);
  EXPECT_EQ(packets.size(), 1u) << "only the first picture; 3 s of a still screen add none";
  EXPECT_NEAR(static_cast<double>(segs[0].duration_ms), 3500.0, 200.0);
}

TEST_F(RecorderTest, FrameRateCapIsRespected) {
  auto rec = start(options());
  {
    Animator a(xvfb_.display(), 20ms);
    std::this_thread::sleep_for(4s);
  }
  ASSERT_TRUE(rec->stop());
  const auto packets = check_segments(closed());
  EXPECT_GE(packets.size(), 18u);
  EXPECT_LE(packets.size(), 22u);
  for (std::size_t i = 1; i < packets.size(); ++i)
    EXPECT_GE(packets[i].dts - packets[i - 1].dts, 200) << "frames " << i - 1 << " and " << i;
}

TEST_F(RecorderTest, SmallSegmentsAreCutAtKeyframesAndConcatenate) {
  auto o = options();
  o.segment_max_bytes = 200 << 10;
  o.first_seq = 7;
  o.start_offset_ms = 5000;
  auto rec = start(o);
  {
    Animator a(xvfb_.display(), 100ms, true);
    std::this_thread::sleep_for(6s);
  }
  ASSERT_TRUE(rec->stop());
  const auto segs = closed();
  ASSERT_GE(segs.size(), 3u);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000007.mp4");
  EXPECT_EQ(segs[0].start_offset_ms, 5000);
  for (const auto& s : segs) EXPECT_LE(s.size_bytes, o.segment_max_bytes) << s.path;
  const auto packets = check_segments(segs);

  // init of the first + the fragments of all = one playable recording.
  std::string joined;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto bytes = mtest::read_all(segs[i].path);
    joined += i == 0 ? bytes : bytes.substr(mtest::init_size(bytes));
  }
  const auto whole = dir_ / "joined.mp4";
  {
    std::ofstream(whole, std::ios::binary) << joined;
  }
  EXPECT_EQ(mtest::decode_errors(whole), "");
  const auto p = mtest::probe(whole);
  ASSERT_EQ(p.packets.size(), packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) EXPECT_EQ(p.packets[i].pts, packets[i].dts);
  EXPECT_EQ(p.packets.front().pts, 5000);
}

TEST_F(RecorderTest, SegmentsCloseAtMaxDuration) {
  auto o = options();
  o.segment_max_ms = 1000;
  auto rec = start(o);
  {
    Animator a(xvfb_.display(), 100ms);
    std::this_thread::sleep_for(3200ms);
  }
  ASSERT_TRUE(rec->stop());
  const auto segs = closed();
  ASSERT_GE(segs.size(), 3u);
  for (std::size_t i = 0; i + 1 < segs.size(); ++i) EXPECT_LE(segs[i].duration_ms, 1000 + 200);
  check_segments(segs);
}

TEST_F(RecorderTest, ScreenResizeKeepsRecording) {
  auto rec = start(options());
  {
    Animator a(xvfb_.display(), 100ms);
    std::this_thread::sleep_for(1s);
    xtest::Painter p(xvfb_.display(), 0, 0, 10, 10);
    if (!p.resize_screen(1280, 720)) GTEST_SKIP() << "this Xvfb refuses RandR screen resizing";
    std::this_thread::sleep_for(1500ms);
  }
  ASSERT_TRUE(rec->stop());
  EXPECT_FALSE(rec->failure());
  EXPECT_EQ(rec->capture_info().width, 1280);
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 2u);
  check_segments(segs);
  EXPECT_EQ(mtest::probe(segs[0].path).width, 1920);
  const auto second = mtest::probe(segs[1].path);
  EXPECT_EQ(second.width, 1280);
  EXPECT_EQ(second.height, 720);
  EXPECT_GE(second.packets.size(), 3u);
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
  {
    std::ofstream(dir_ / "seg-000000.mp4") << "an earlier recording";
  }
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
