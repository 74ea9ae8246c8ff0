// The recorder on a scripted screen (capture::ScriptedScreen): virtual time,
// so pacing, variable frame rate, refinement, segment cuts and what a crash
// would leave are checked exactly, in milliseconds, without a display.
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "capture/scripted_capture.hpp"
#include "common/crypto.hpp"
#include "media/fmp4.hpp"
#include "record/media_probe.hpp"
#include "record/pipeline.hpp"
#include "record/recorder.hpp"
#include "record/recording_checks.hpp"

using namespace deskaudit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using capture::Rect;
using capture::ScriptStep;

namespace {

// Steps that repaint `area` every `period_ms` in [from_ms, to_ms].
std::vector<ScriptStep> repaint(Rect area, std::int64_t from_ms, std::int64_t to_ms, std::int64_t period_ms) {
  std::vector<ScriptStep> out;
  for (std::int64_t t = from_ms; t <= to_ms; t += period_ms) out.push_back({t, {area}, {}, {}});
  return out;
}

std::vector<ScriptStep> merged(std::vector<ScriptStep> a, const std::vector<ScriptStep>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::stable_sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.at_ms < y.at_ms; });
  return a;
}

std::vector<long long> times(const std::vector<mtest::FragSample>& samples) {
  std::vector<long long> out;
  for (const auto& s : samples) out.push_back(s.dts);
  return out;
}

std::vector<long long> every(long long from, long long to, long long step) {
  std::vector<long long> out;
  for (long long t = from; t <= to; t += step) out.push_back(t);
  return out;
}

class ScriptedRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-rec-" + random_id(""));
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all);
    // Most tests are about timing, not about coarse/fine coding.
    tuning_.activity.hot_qp_offset = 0;
  }
  void TearDown() override { fs::remove_all(dir_); }

  record::RecorderOptions options() const {
    record::RecorderOptions o;
    o.display = "scripted";
    o.output_dir = dir_;
    o.fps = 5;
    return o;
  }

  // Records the script to its end, stops, and returns the closed segments.
  std::vector<record::SegmentClosed> record(int width, int height, std::vector<ScriptStep> steps, std::int64_t end_ms,
                                            const record::RecorderOptions& o) {
    start(width, height, std::move(steps), end_ms, o);
    if (!rec_) return {};
    EXPECT_TRUE(screen_->wait_for_end(120s)) << "the recorder did not reach the end of the script";
    EXPECT_TRUE(rec_->stop());
    EXPECT_FALSE(rec_->failure());
    return closed();
  }

  void start(int width, int height, std::vector<ScriptStep> steps, std::int64_t end_ms,
             const record::RecorderOptions& o) {
    auto screen = capture::ScriptedScreen::create(width, height, std::move(steps), end_ms);
    ASSERT_TRUE(screen) << screen.error().message;
    screen_ = *screen;
    auto t = tuning_;
    t.open_capture = [s = screen_](const capture::CaptureOptions& co) -> Result<std::unique_ptr<capture::ScreenCapture>> {
      return s->open(co.draw_cursor);
    };
    t.clock = &screen_->clock();
    auto r = record::start_recorder(o, t, [this](const record::SegmentClosed& s) {
      std::lock_guard lock(mu_);
      closed_.push_back(s);
    });
    ASSERT_TRUE(r) << r.error().message;
    rec_ = std::move(*r);
  }

  std::vector<record::SegmentClosed> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  fs::path dir_;
  record::RecorderTuning tuning_;
  std::shared_ptr<capture::ScriptedScreen> screen_;
  std::unique_ptr<record::Recorder> rec_;
  std::mutex mu_;
  std::vector<record::SegmentClosed> closed_;
};

constexpr Rect kBox{100, 100, 64, 32};

}  // namespace

TEST_F(ScriptedRecorderTest, StillScreenCostsOneFrameThatLastsUntilTheStop) {
  const auto segs = record(640, 360, {}, 3500, options());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000000.mp4");
  const auto samples = mtest::check_segments(segs);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].dts, 0);
  EXPECT_EQ(samples[0].duration, 3500);
  EXPECT_EQ(segs[0].duration_ms, 3500);
  EXPECT_EQ(rec_->elapsed_ms(), 3500);
  EXPECT_TRUE(rec_->stop()) << "stop is idempotent";
}

TEST_F(ScriptedRecorderTest, ContinuousChangeIsCappedAtTheFrameRate) {
  // Repainted every 20 ms for 4 s: one frame per 200 ms, on the dot.
  const auto segs = record(640, 360, repaint(kBox, 20, 3980, 20), 5000, options());
  const auto samples = mtest::check_segments(segs);
  EXPECT_EQ(times(samples), every(0, 4000, 200));
  EXPECT_EQ(segs.back().start_offset_ms + segs.back().duration_ms, 5000);
}

TEST_F(ScriptedRecorderTest, FramesFollowTheChangesOnTheFrameGrid) {
  // A frame is taken at the first point of the 200 ms grid at least 50 ms
  // (settle) after a change, so a burst of drawing is caught whole: 1000 and
  // 1030 make one frame, at 1200. Every gap is a whole number of intervals.
  std::vector<ScriptStep> steps{{1000, {kBox}, {}, {}}, {1030, {{300, 200, 40, 40}}, {}, {}},
                                {4960, {kBox}, {}, {}}, {5000, {kBox}, {}, {}}};
  const auto segs = record(640, 360, steps, 7000, options());
  const auto samples = mtest::check_segments(segs);
  EXPECT_EQ(times(samples), (std::vector<long long>{0, 1200, 5200}));
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[2].duration, 1800);
}

TEST_F(ScriptedRecorderTest, InMotionAChangeTakesTheNextGridPointWithoutSettling) {
  // 1000 comes after a still second: settled, a frame at 1200. 1390 comes
  // 190 ms after that frame (as a polling capture finds the next step of a
  // moving window, right after the frame's own work): no settle, the frame
  // is at 1400, not 1600. 2390 is again after a still period: 2600.
  std::vector<ScriptStep> steps{{1000, {kBox}, {}, {}}, {1390, {{300, 200, 40, 40}}, {}, {}}, {2390, {kBox}, {}, {}}};
  const auto segs = record(640, 360, steps, 3500, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 1400, 2600}));
}

TEST_F(ScriptedRecorderTest, PointerMovesAreFrames) {
  std::vector<ScriptStep> steps{{400, {}, std::pair{10, 10}, {}}, {900, {}, std::pair{200, 150}, {}}};
  const auto segs = record(640, 360, steps, 2000, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 600, 1000}));
}

TEST_F(ScriptedRecorderTest, RefinementComingDueNextToAnotherFrameWaitsForTheFrameCap) {
  // The box moves every 100 ms until 1000 (coded coarser once hot), so a
  // refinement is due at 2100, 1.1 s after its last frame; another change at
  // 1880 makes a frame at 2000. The refinement must wait for the cap (2200),
  // not follow 100 ms later.
  tuning_.activity = record::ActivityOptions{};
  tuning_.activity.refine_after_ms = 1100;
  auto steps = merged(repaint(kBox, 100, 1000, 100), {{1880, {{400, 300, 32, 16}}, {}, {}}});
  const auto segs = record(640, 360, steps, 4000, options());
  const auto samples = mtest::check_segments(segs);
  EXPECT_EQ(times(samples), (std::vector<long long>{0, 200, 400, 600, 800, 1000, 2000, 2200}));
  for (std::size_t i = 1; i < samples.size(); ++i)
    EXPECT_GE(samples[i].dts - samples[i - 1].dts, 200) << "frames " << i - 1 << " and " << i << " break the cap";
}

TEST_F(ScriptedRecorderTest, ASmallChangeInConstantMotionIsTakenEveryTwoSeconds) {
  // A clock's seconds (8 macroblocks) tick every second (each taken 200 ms
  // later: settle, grid). The first picture changed them too, so the tick at
  // 2000 is their third change in a row: constant motion. From then on a tick
  // waits until 2 s after the last frame and goes out with the next one; the
  // refinement follows 1 s after the last.
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  const auto segs = record(640, 360, repaint({500, 20, 48, 14}, 1000, 9000, 1000), 10500, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 3200, 5200, 7200, 9200, 10200}));
}

TEST_F(ScriptedRecorderTest, ALargerChangeTakesAHeldBackSmallOneAlongAtOnce) {
  // The tick at 2000 is held back (due at 3200); a window appearing at 2500
  // is a frame at 2600 that carries the tick too. The tick at 3000 is held
  // back again (due at 4600) and goes out when the recording stops (4500).
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  auto steps = merged(repaint({500, 20, 48, 14}, 1000, 3000, 1000), {{2500, {{100, 100, 320, 200}}, {}, {}}});
  const auto segs = record(640, 360, steps, 4500, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 2600, 4400}));
}

TEST_F(ScriptedRecorderTest, ASmallChangeInConstantMotionIsTakenEveryFourSecondsByDefault) {
  // As above; the ticks from 2000 on wait until 4 s after the last frame
  // (the last one, 12000, until 13200).
  tuning_.activity = record::ActivityOptions{};
  const auto segs = record(640, 360, repaint({500, 20, 48, 14}, 1000, 12000, 1000), 13500, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 5200, 9200, 13200}));
}

TEST_F(ScriptedRecorderTest, SmallChangesAreNotHeldBackWithTheIntervalOff) {
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 0;
  const auto segs = record(640, 360, repaint({500, 20, 48, 14}, 1000, 5000, 1000), 5500, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 2200, 3200, 4200, 5200}));
}

// Fragments of a segment file: (first decode time, sample count).
std::vector<std::pair<long long, unsigned>> fragments_of(const fs::path& file) {
  const auto index = media::index_segment_file(file);
  EXPECT_TRUE(index) << index.error().message;
  std::vector<std::pair<long long, unsigned>> out;
  if (index)
    for (const auto& f : index->fragments) out.emplace_back(f.decode_time, f.sample_count);
  return out;
}

TEST_F(ScriptedRecorderTest, TicksOfASmallChangeWaitInMemoryWhileThePictureOnDiskIsExtended) {
  // The clock ticks until 11000 (frames every 2 s from 3200, each only the
  // tick). What a crash at 12500 would leave: the picture of 1200 (the last
  // frame with more than the tick), lasting until 12200 (1 s after the last
  // tick was taken, extended in place); the ticks are in memory. Stopping
  // writes them, from 3200 to 11200, as one fragment.
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  tuning_.activity.refine_after_ms = 60'000;  // no refinement in this test
  start(640, 360, repaint({500, 20, 48, 14}, 1000, 11000, 1000), 12500, options());
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(60s));
  const auto part = dir_ / "seg-000000.mp4.part";
  const auto valid = media::valid_prefix_length(part);
  ASSERT_TRUE(valid) << valid.error().message;
  EXPECT_EQ(*valid, fs::file_size(part)) << "only whole fragments are written";
  const auto index = media::index_segment_file(part);
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->start_ms() + index->duration_ms(), 12200) << "the file's end follows the screen";
  EXPECT_EQ(times(mtest::fragment_samples(mtest::read_all(part))), (std::vector<long long>{0, 1200}));
  EXPECT_EQ(mtest::decode_errors(part), "");
  EXPECT_EQ(rec_->elapsed_ms(), 12200);

  ASSERT_TRUE(rec_->stop());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 3200, 5200, 7200, 9200, 11200}));
  EXPECT_EQ(fragments_of(segs[0].path), (std::vector<std::pair<long long, unsigned>>{{0, 2}, {3200, 5}}));
  EXPECT_EQ(segs[0].duration_ms, 12500);
}

TEST_F(ScriptedRecorderTest, AnyOtherChangeTakesTheWaitingTicksToDiskWithinOneSecond) {
  // Ticks at 3200 and 5200 wait; a window appearing at 6500 is a frame at
  // 6600 that goes to disk at 7600 (still_flush_ms) in one fragment with them.
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  tuning_.activity.refine_after_ms = 60'000;
  auto steps = merged(repaint({500, 20, 48, 14}, 1000, 5000, 1000), {{6500, {{100, 100, 320, 200}}, {}, {}}});
  start(640, 360, steps, 8000, options());
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(60s));
  const auto part = dir_ / "seg-000000.mp4.part";
  const auto index = media::index_segment_file(part);
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->start_ms() + index->duration_ms(), 7600);
  EXPECT_EQ(times(mtest::fragment_samples(mtest::read_all(part))), (std::vector<long long>{0, 1200, 3200, 5200, 6600}));
  EXPECT_EQ(fragments_of(part), (std::vector<std::pair<long long, unsigned>>{{0, 2}, {3200, 3}}));
  ASSERT_TRUE(rec_->stop());
  mtest::check_segments(closed());
}

TEST_F(ScriptedRecorderTest, WaitingTicksReachTheDiskOnceTheirSpanHasPassedEvenIfNothingFollows) {
  // The clock stops after 5000: the ticks of 3200 and 5200 are written at
  // 13200 (10 s after the first of them), the last one lasting until then.
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  tuning_.activity.refine_after_ms = 60'000;
  start(640, 360, repaint({500, 20, 48, 14}, 1000, 5000, 1000), 15000, options());
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(60s));
  const auto part = dir_ / "seg-000000.mp4.part";
  const auto index = media::index_segment_file(part);
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->start_ms() + index->duration_ms(), 13200);
  EXPECT_EQ(fragments_of(part), (std::vector<std::pair<long long, unsigned>>{{0, 2}, {3200, 2}}));
  ASSERT_TRUE(rec_->stop());
  const auto samples = mtest::check_segments(closed());
  EXPECT_EQ(times(samples), (std::vector<long long>{0, 1200, 3200, 5200}));
  EXPECT_EQ(samples.back().duration, 9800);
}

TEST_F(ScriptedRecorderTest, TicksAreWrittenEachWithinOneSecondWithGroupingOff) {
  tuning_.activity = record::ActivityOptions{};
  tuning_.small_change_interval_ms = 2000;
  tuning_.activity.refine_after_ms = 60'000;
  tuning_.small_change_fragment_ms = 0;
  const auto segs = record(640, 360, repaint({500, 20, 48, 14}, 1000, 7000, 1000), 8000, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 1200, 3200, 5200, 7200}));
  EXPECT_EQ(fragments_of(segs[0].path),
            (std::vector<std::pair<long long, unsigned>>{{0, 2}, {3200, 1}, {5200, 1}, {7200, 1}}));
}

TEST_F(ScriptedRecorderTest, RefinementFollowsOneSecondAfterMotionStops) {
  tuning_.activity = record::ActivityOptions{};
  const auto segs = record(640, 360, repaint(kBox, 100, 1000, 100), 4000, options());
  EXPECT_EQ(times(mtest::check_segments(segs)), (std::vector<long long>{0, 200, 400, 600, 800, 1000, 2000}));
}

TEST_F(ScriptedRecorderTest, KeyframesEveryNActiveFramesAndEachStartsAFragment) {
  // The whole screen changes in every frame: the frames since a keyframe
  // cost more than it did, so the interval is kept.
  tuning_.keyframe_interval_frames = 5;
  const auto segs = record(640, 360, repaint({0, 0, 640, 360}, 100, 2300, 100), 3000, options());
  const auto samples = mtest::check_segments(segs);
  ASSERT_EQ(samples.size(), 13u);
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(samples[i].sync, i % 5 == 0) << "sample " << i;
  const auto index = media::index_segment_file(segs[0].path);
  ASSERT_TRUE(index) << index.error().message;
  for (const auto& f : index->fragments) EXPECT_TRUE(f.starts_with_keyframe) << "fragment at " << f.decode_time;
}

TEST_F(ScriptedRecorderTest, TinyChangesPostponeTheKeyframeUntilTheMaximum) {
  // A small box changing: 5 frames cost far less than the keyframe, so the
  // next keyframe comes after keyframe_max_frames.
  tuning_.keyframe_interval_frames = 5;
  tuning_.keyframe_max_frames = 12;
  const auto segs = record(640, 360, repaint(kBox, 100, 5100, 100), 5500, options());
  const auto samples = mtest::check_segments(segs);
  ASSERT_EQ(samples.size(), 27u);
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(samples[i].sync, i % 12 == 0) << "sample " << i;
}

TEST_F(ScriptedRecorderTest, SegmentsCloseAtMaxDurationBackToBack) {
  auto o = options();
  o.segment_max_ms = 1000;
  o.first_seq = 7;
  o.start_offset_ms = 5000;
  const auto segs = record(640, 360, repaint(kBox, 100, 3200, 100), 3500, o);
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000007.mp4");
  std::vector<long long> starts, durations;
  for (const auto& s : segs) {
    starts.push_back(s.start_offset_ms);
    durations.push_back(s.duration_ms);
  }
  EXPECT_EQ(starts, (std::vector<long long>{5000, 6000, 7000, 8000}));
  EXPECT_EQ(durations, (std::vector<long long>{1000, 1000, 1000, 500}));
  EXPECT_EQ(times(mtest::check_segments(segs)), every(5000, 8200, 200));
}

TEST_F(ScriptedRecorderTest, SmallSegmentsAreCutBySizeAndConcatenate) {
  auto o = options();
  o.segment_max_bytes = 96 << 10;
  // The whole screen repainted with new detail five times a second.
  const auto segs = record(640, 360, repaint({0, 0, 640, 360}, 230, 2030, 200), 2400, o);
  ASSERT_GE(segs.size(), 3u);
  for (const auto& s : segs) EXPECT_LE(s.size_bytes, o.segment_max_bytes) << s.path;
  const auto samples = mtest::check_segments(segs);
  // Each change (30 ms after a grid point) is taken at the next grid point
  // that is at least 50 ms after it. A frame that does not fit is encoded
  // again as a keyframe starting the next segment, 1 ms later.
  auto captured = every(400, 2200, 200);
  captured.insert(captured.begin(), 0);
  ASSERT_EQ(samples.size(), captured.size());
  std::size_t seg = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const bool starts_segment = seg + 1 < segs.size() && samples[i].dts == segs[seg + 1].start_offset_ms;
    if (starts_segment) ++seg;
    EXPECT_EQ(samples[i].dts, captured[i] + (starts_segment ? 1 : 0)) << "sample " << i;
    EXPECT_EQ(samples[i].sync, i == 0 || starts_segment) << "sample " << i;
  }

  // init of the first + the fragments of all = one playable recording.
  std::string joined;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto bytes = mtest::read_all(segs[i].path);
    joined += i == 0 ? bytes : bytes.substr(mtest::init_size(bytes));
  }
  const auto whole = dir_ / "joined.mp4";
  std::ofstream(whole, std::ios::binary) << joined;
  EXPECT_EQ(mtest::decode_errors(whole), "");
  const auto p = mtest::probe(whole);
  ASSERT_EQ(p.packets.size(), samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(p.packets[i].pts, samples[i].dts);
}

TEST_F(ScriptedRecorderTest, EachResizeStartsASegmentOfTheNewSize) {
  std::vector<ScriptStep> steps = merged(repaint(kBox, 100, 2900, 100), {{1000, {}, {}, std::pair{800, 600}},
                                                                          {2000, {}, {}, std::pair{480, 270}}});
  const auto segs = record(640, 360, steps, 3500, options());
  EXPECT_EQ(rec_->capture_info().width, 480);
  ASSERT_EQ(segs.size(), 3u);
  mtest::check_segments(segs);
  // The first frame of a new size waits for the frame cap like any other.
  EXPECT_EQ(segs[1].start_offset_ms, 1200);
  EXPECT_EQ(segs[2].start_offset_ms, 2200);
  const std::vector<std::pair<int, int>> sizes{{640, 360}, {800, 600}, {480, 270}};
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto p = mtest::probe(segs[i].path);
    EXPECT_EQ(std::pair(p.width, p.height), sizes[i]) << segs[i].path;
  }
}

TEST_F(ScriptedRecorderTest, BadOptionsAreRefused) {
  auto screen = capture::ScriptedScreen::create(64, 64, {}, 0);
  ASSERT_TRUE(screen);
  record::RecorderTuning t;
  t.open_capture = [s = *screen](const capture::CaptureOptions& co) -> Result<std::unique_ptr<capture::ScreenCapture>> {
    return s->open(co.draw_cursor);
  };
  t.clock = &(*screen)->clock();
  auto o = options();
  o.fps = 0;
  EXPECT_EQ(record::start_recorder(o, t, {}).error().code, Errc::invalid_argument);
  o = options();
  o.output_dir = dir_ / "missing";
  EXPECT_EQ(record::start_recorder(o, t, {}).error().field, "output_dir");
  o = options();
  o.segment_max_bytes = 1000;
  EXPECT_FALSE(record::start_recorder(o, t, {}));
  auto bad = t;
  bad.small_change_fragment_ms = -1;
  EXPECT_EQ(record::start_recorder(options(), bad, {}).error().code, Errc::invalid_argument);
  o = options();
  std::ofstream(dir_ / "seg-000000.mp4") << "an earlier recording";
  auto taken = record::start_recorder(o, t, {});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::conflict);
  EXPECT_EQ(mtest::read_all(dir_ / "seg-000000.mp4"), "an earlier recording");
  EXPECT_FALSE(fs::exists(dir_ / "seg-000000.mp4.part"));
}

TEST_F(ScriptedRecorderTest, AStillPictureReachesTheDiskWithinOneSecond) {
  // What a crash (kill -9) at 6300 would leave: the .part file, valid up to
  // its last whole fragment, must hold the picture of 5200 (still since),
  // with the duration it had when written (1 s); stopping extends it in place.
  start(640, 360, {{5000, {kBox}, {}, {}}}, 6300, options());
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(60s));
  const auto part = dir_ / "seg-000000.mp4.part";
  const auto valid = media::valid_prefix_length(part);
  ASSERT_TRUE(valid) << valid.error().message;
  EXPECT_EQ(*valid, fs::file_size(part)) << "only whole fragments are written";
  const auto index = media::index_segment_file(part);
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->start_ms() + index->duration_ms(), 6200) << "the still picture of 5200 is on disk";
  EXPECT_EQ(mtest::decode_errors(part), "");
  EXPECT_EQ(rec_->elapsed_ms(), 6200);

  ASSERT_TRUE(rec_->stop());
  const auto segs = closed();
  ASSERT_EQ(segs.size(), 1u);
  const auto samples = mtest::check_segments(segs);
  ASSERT_EQ(samples.size(), 2u) << "the still picture is extended, not coded again";
  EXPECT_EQ(samples[1].dts, 5200);
  EXPECT_EQ(samples[1].duration, 1100);
  EXPECT_EQ(segs[0].duration_ms, 6300);
}

TEST_F(ScriptedRecorderTest, ActivityAfterAStillSpellContinuesTheHeldPicture) {
  // 0 -> still (written at 1000, extended to 2200 by the next frame), then
  // motion until 3000, still again, more motion: no gap, no overlap.
  auto steps = merged(repaint(kBox, 2000, 3000, 100), repaint({300, 200, 64, 64}, 5000, 5400, 100));
  const auto segs = record(640, 360, steps, 7000, options());
  const auto samples = mtest::check_segments(segs);
  auto expected = every(2200, 3000, 200);
  expected.insert(expected.begin(), 0);
  const auto more = every(5200, 5400, 200);
  expected.insert(expected.end(), more.begin(), more.end());
  EXPECT_EQ(times(samples), expected);
  EXPECT_EQ(samples.back().dts + samples.back().duration, 7000);
}

TEST_F(ScriptedRecorderTest, ARecordingAcrossResizesDownloadsAsOnePlayableMp4) {
  // 640x360 -> 800x600 -> 480x270 -> 640x360: four segments, three formats.
  std::vector<ScriptStep> steps = merged(repaint(kBox, 100, 3900, 100), {{1000, {}, {}, std::pair{800, 600}},
                                                                          {2000, {}, {}, std::pair{480, 270}},
                                                                          {3000, {}, {}, std::pair{640, 360}}});
  const auto segs = record(640, 360, steps, 4500, options());
  ASSERT_EQ(segs.size(), 4u);
  const auto samples = mtest::check_segments(segs);

  std::map<std::int64_t, std::string> files;
  std::vector<media::PlaylistSegment> indexed;
  for (const auto& s : segs) {
    files[s.seq] = mtest::read_all(s.path);
    auto idx = media::index_segment_file(s.path);
    ASSERT_TRUE(idx) << idx.error().message;
    indexed.push_back({s.seq, std::move(*idx)});
  }
  const auto& first = files.at(0);
  const auto init = std::as_bytes(std::span(first.data(), indexed[0].index.init_size));
  auto refused = media::build_download_plan(init, indexed);
  ASSERT_FALSE(refused) << "without a reader the format change cannot be followed";
  EXPECT_EQ(refused.error().code, Errc::unprocessable);

  const media::SegmentReader read = [&](std::int64_t seq, std::uint64_t offset,
                                        std::uint64_t size) -> Result<std::string> {
    return files.at(seq).substr(offset, size);
  };
  auto plan = media::build_download_plan(init, indexed, read);
  ASSERT_TRUE(plan) << plan.error().message;
  std::string bytes;
  for (const auto& p : plan->pieces) bytes += p.seq ? files.at(*p.seq).substr(p.offset, p.size) : p.inline_bytes;
  ASSERT_EQ(bytes.size(), plan->total_size);
  const auto whole = dir_ / "download.mp4";
  std::ofstream(whole, std::ios::binary) << bytes;

  // Our own validator accepts it, ffmpeg decodes it without a complaint, and
  // every frame is there, at its time, sizes switching where the screen did.
  auto again = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->start_ms() + again->duration_ms(), 4500);
  EXPECT_EQ(mtest::decode_errors(whole), "");
  const auto p = mtest::probe(whole);
  EXPECT_EQ(p.errors, "");
  ASSERT_EQ(p.packets.size(), samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(p.packets[i].pts, samples[i].dts);
  const auto [code, sizes] = mtest::run("ffprobe -v error -select_streams v:0 -show_entries frame=width,height "
                                        "-of csv=p=0 '" + whole.string() + "' | grep -E '^[0-9]+,[0-9]+$' | uniq");
  EXPECT_EQ(code, 0);
  EXPECT_EQ(sizes, "640,360\n800,600\n480,270\n640,360\n");
  const auto [dcode, duration] = mtest::run("ffprobe -v error -show_entries format=duration -of csv=p=0 '" +
                                            whole.string() + "'");
  EXPECT_EQ(dcode, 0);
  EXPECT_EQ(duration, "4.500000\n");
}

// Event-triggered recording: the armed recorder writes nothing and keeps
// the last seconds in its ring; commit() makes them the recording's start.
TEST_F(ScriptedRecorderTest, AnArmedRecorderWritesNothingAndCommitsThePreEventRingFromAKeyframe) {
  auto o = options();
  o.output_dir.clear();  // no directory is needed until the commit
  o.pre_event = record::PreEventOptions{6000, 2000, 48 << 20};
  start(640, 360, repaint(kBox, 100, 20'000, 100), 20'000, o);
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(120s));
  EXPECT_TRUE(rec_->armed());
  EXPECT_TRUE(fs::is_empty(dir_)) << "nothing is written while no trigger runs";
  EXPECT_TRUE(closed().empty());
  auto info = rec_->commit(record::CommitRequest{[this](auto) { return Result<fs::path>(dir_); }, 0, screen_->clock().now()});
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(rec_->armed());
  // At most 6 s before the trigger, and no more than a ring segment (2 s) less.
  EXPECT_LE(info->pre_event_ms, 6000);
  EXPECT_GE(info->pre_event_ms, 6000 - 2000);
  EXPECT_GE(info->ring_segments, 2);
  EXPECT_EQ(rec_->media_ms_at(screen_->clock().now()), info->pre_event_ms);
  EXPECT_FALSE(rec_->commit(record::CommitRequest{[this](auto) { return Result<fs::path>(dir_); }, 0, screen_->clock().now()})) << "committed once only";
  ASSERT_TRUE(rec_->stop());
  const auto segs = closed();
  ASSERT_GE(segs.size(), 3u);
  EXPECT_EQ(segs[0].seq, 0);
  EXPECT_EQ(segs[0].path, dir_ / "seg-000000.mp4");
  EXPECT_EQ(segs[0].start_offset_ms, 0) << "the recording's time starts at its first frame";
  // Every file starts with a keyframe at its start time, plays without an
  // error, and the files follow each other without a gap.
  const auto samples = mtest::check_segments(segs);
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.front().dts, 0);
  EXPECT_GE(samples.back().dts, info->pre_event_ms);
}

TEST_F(ScriptedRecorderTest, AStillScreenIsCodedAgainAsAKeyframeAtEachRingBoundary) {
  auto o = options();
  o.pre_event = record::PreEventOptions{8000, 2000, 48 << 20};
  start(640, 360, {{100, {kBox}, {}, {}}}, 60'000, o);
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(120s));
  auto info = rec_->commit(record::CommitRequest{[this](auto) { return Result<fs::path>(dir_); }, 0, screen_->clock().now()});
  ASSERT_TRUE(info) << info.error().message;
  // The only change was a minute ago; the recording still begins within the
  // pre-event time, with the picture on screen then.
  EXPECT_LE(info->pre_event_ms, 8000);
  EXPECT_GE(info->pre_event_ms, 8000 - 2000 - 1000);
  ASSERT_TRUE(rec_->stop());
  const auto samples = mtest::check_segments(closed());
  ASSERT_FALSE(samples.empty());
  EXPECT_TRUE(samples.front().sync);
}

TEST_F(ScriptedRecorderTest, AnArmedRecorderStoppedWithoutATriggerLeavesNoFile) {
  auto o = options();
  o.pre_event = record::PreEventOptions{10'000, 0, 48 << 20};
  start(640, 360, repaint(kBox, 100, 5000, 100), 5000, o);
  ASSERT_TRUE(rec_);
  ASSERT_TRUE(screen_->wait_for_end(120s));
  ASSERT_TRUE(rec_->stop());
  EXPECT_TRUE(closed().empty());
  EXPECT_TRUE(fs::is_empty(dir_));
  auto with_audio = options();
  with_audio.pre_event = record::PreEventOptions{};
  with_audio.audio = capture::SoundOptions{};
  EXPECT_FALSE(record::Recorder::start(with_audio, nullptr)) << "the ring holds video only";
}
