// capture::SilenceFiller: the silence of a loopback that sends nothing.
#include "capture/silence_filler.hpp"

#include <gtest/gtest.h>

namespace deskaudit::capture {
namespace {

using namespace std::chrono_literals;
using Clock = SilenceFiller::Clock;

const Clock::time_point t0 = Clock::time_point(1h);

TEST(SilenceFillerTest, NothingIsDueBeforeTheQuietTime) {
  SilenceFiller f(t0, 100ms, 20ms);
  EXPECT_EQ(f.due(t0 + 50ms).frames, 0);
  EXPECT_EQ(f.due(t0 + 99ms).frames, 0);
  const auto d = f.due(t0 + 100ms);
  EXPECT_EQ(d.at, t0);
  EXPECT_EQ(d.frames, 80 * 48);  // up to 20 ms before now
  EXPECT_EQ(f.covered_until(), t0 + 80ms);
}

TEST(SilenceFillerTest, SilenceFollowsOnWithoutGapsOrOverlap) {
  SilenceFiller f(t0, 100ms, 20ms);
  std::int64_t frames = 0;
  Clock::time_point next = t0;
  for (auto now = t0; now < t0 + 10s; now += 7ms) {
    const auto d = f.due(now);
    if (d.frames == 0) continue;
    EXPECT_EQ(d.at, next);
    frames += d.frames;
    next = f.covered_until();
  }
  // All of it counted once, up to at most the quiet time, the margin and a
  // step before the end.
  EXPECT_EQ(frames, std::chrono::duration_cast<std::chrono::milliseconds>(f.covered_until() - t0).count() * 48);
  EXPECT_GE(f.covered_until(), t0 + 10s - 127ms);
}

TEST(SilenceFillerTest, SoundPushesTheSilenceAfterIt) {
  SilenceFiller f(t0, 100ms, 20ms);
  // 200 ms of sound captured from t0 + 10 ms, its packets coming until t0 + 250 ms.
  f.on_packet(t0 + 250ms, t0 + 10ms, 200 * 48);
  EXPECT_EQ(f.covered_until(), t0 + 210ms);
  EXPECT_EQ(f.due(t0 + 300ms).frames, 0);  // a packet came 50 ms ago
  const auto d = f.due(t0 + 400ms);
  EXPECT_EQ(d.at, t0 + 210ms);
  EXPECT_EQ(d.frames, 170 * 48);  // to 20 ms before now
  // A packet the resampler kept (no frames) still counts as one.
  f.on_packet(t0 + 450ms, t0 + 440ms, 0);
  EXPECT_EQ(f.due(t0 + 500ms).frames, 0);
  // Sound captured before the silence's end does not move it back.
  f.on_packet(t0 + 600ms, t0 + 370ms, 5 * 48);
  EXPECT_EQ(f.covered_until(), t0 + 380ms);
}

// Two days of silence in 100 ms steps: exactly 48 000 frames a second.
TEST(SilenceFillerTest, LongSilenceHasNoDrift) {
  SilenceFiller f(t0, 100ms, 20ms);
  std::int64_t frames = 0;
  const auto end = t0 + 48h;
  for (auto now = t0 + 100ms; now <= end; now += 100ms) frames += f.due(now).frames;
  EXPECT_EQ(frames, std::chrono::duration_cast<std::chrono::milliseconds>(end - 20ms - t0).count() * 48);
  EXPECT_EQ(f.covered_until(), end - 20ms);
}

}  // namespace
}  // namespace deskaudit::capture
