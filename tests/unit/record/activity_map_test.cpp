#include <algorithm>

#include <gtest/gtest.h>

#include "record/activity_map.hpp"

using namespace deskaudit;
using capture::Rect;

TEST(ActivityMap, AreasMovingFrameAfterFrameAreCodedCoarserThenRefined) {
  record::ActivityMap map(1920, 1080, {});
  const Rect video{900, 500, 640, 360};
  const Rect once{0, 0, 100, 20};
  // The first two frames of motion are coded normally.
  EXPECT_TRUE(map.plan(std::vector<Rect>{video}, 0).empty());
  EXPECT_TRUE(map.plan(std::vector<Rect>{video, once}, 200).empty());
  // The third in a row: coarser, as one rectangle covering whole macroblocks.
  auto r = map.plan(std::vector<Rect>{video}, 400);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].x, 896);
  EXPECT_EQ(r[0].y, 496);
  EXPECT_EQ(r[0].width, 1552 - 896);
  EXPECT_EQ(r[0].height, 864 - 496);
  EXPECT_EQ(r[0].qp_offset, record::ActivityOptions{}.hot_qp_offset);
  EXPECT_EQ(map.refinement_due_ms(), 1400);
  // Still, but not long enough: nothing; then refined once, finer.
  EXPECT_TRUE(map.plan(std::vector<Rect>{once}, 900).empty());
  r = map.plan({}, 1400);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].qp_offset, -2);
  EXPECT_EQ(r[0].width, 1552 - 896);
  EXPECT_FALSE(map.refinement_due_ms());
  EXPECT_TRUE(map.plan({}, 3000).empty());
}

// A page scrolled twice a second is in motion whether or not a clock's tick
// (or any other change) was coded between two of its pages; a stop longer
// than hot_gap_ms ends the row even so.
TEST(ActivityMap, FramesCodedForSomethingElseWithinTheGapDoNotBreakTheRow) {
  const Rect page{0, 100, 640, 400};
  const Rect tick{1828, 22, 60, 14};
  for (const std::int64_t gap : {std::int64_t{1000}, std::int64_t{0}}) {
    SCOPED_TRACE(gap);
    record::ActivityOptions o;
    o.hot_gap_ms = gap;
    record::ActivityMap map(1920, 1080, o);
    EXPECT_TRUE(map.plan(std::vector<Rect>{page}, 0).empty());
    map.plan(std::vector<Rect>{tick}, 250);
    EXPECT_TRUE(map.plan(std::vector<Rect>{page}, 500).empty());
    map.plan(std::vector<Rect>{tick}, 750);
    const auto third = map.plan(std::vector<Rect>{page}, 1000);
    // 0: the rule in coded frames only (each tick ended the row).
    if (gap == 0) {
      EXPECT_EQ(map.hot_mbs(), 0);
      continue;
    }
    ASSERT_EQ(third.size(), 1u);
    EXPECT_EQ(third[0].qp_offset, o.hot_qp_offset);
    EXPECT_EQ(map.hot_mbs(), 40 * 26);  // rows 6..31: y 96..512
    // Still for the gap: a tick then ends the row (and the page is refined).
    const auto refined = map.plan(std::vector<Rect>{tick}, 2000);
    EXPECT_EQ(std::count_if(refined.begin(), refined.end(), [](const auto& r) { return r.qp_offset < 0; }), 1);
    EXPECT_TRUE(map.plan(std::vector<Rect>{page}, 2100).empty());
    EXPECT_EQ(map.hot_mbs(), 0);
  }
}

TEST(ActivityMap, SmallAndHotNeedsFewMacroblocksAllInConstantMotion) {
  record::ActivityMap map(1920, 1080, {});
  const Rect digits{1828, 22, 60, 14};  // 4 x 2 macroblocks
  EXPECT_FALSE(map.small_and_hot(std::vector<Rect>{digits}, 12)) << "not moving yet";
  map.plan(std::vector<Rect>{digits}, 0);
  EXPECT_FALSE(map.small_and_hot(std::vector<Rect>{digits}, 12)) << "this would be its second change only";
  map.plan(std::vector<Rect>{digits}, 1000);
  EXPECT_TRUE(map.small_and_hot(std::vector<Rect>{digits}, 12)) << "the third change in a row";
  EXPECT_FALSE(map.small_and_hot(std::vector<Rect>{digits}, 7)) << "more macroblocks than allowed";
  EXPECT_FALSE(map.small_and_hot(std::vector<Rect>{digits, {0, 0, 16, 16}}, 12)) << "a macroblock not in motion";
  EXPECT_FALSE(map.small_and_hot({}, 12));
  // A held-back tick and the next one of the same digits: still 8 macroblocks.
  EXPECT_TRUE(map.small_and_hot(std::vector<Rect>{digits, digits, {1830, 24, 20, 10}}, 8));
  EXPECT_FALSE(map.small_and_hot(std::vector<Rect>{digits, digits}, 7));
}

TEST(ActivityMap, HotMacroblocksOfTheLastPlanAreCounted) {
  record::ActivityMap map(640, 480, {});
  const Rect box{0, 0, 64, 32};  // 4 x 2 macroblocks
  map.plan(std::vector<Rect>{box}, 0);
  map.plan(std::vector<Rect>{box}, 200);
  EXPECT_EQ(map.hot_mbs(), 0) << "two changes in a row are not motion yet";
  map.plan(std::vector<Rect>{box, {320, 320, 16, 16}}, 400);
  EXPECT_EQ(map.hot_mbs(), 8) << "the third is; the new macroblock is not";
  map.plan({}, 1400);
  EXPECT_EQ(map.hot_mbs(), 0) << "a refinement codes nothing coarser";
}

TEST(ActivityMap, OffTurnsEverythingOff) {
  record::ActivityOptions o;
  o.hot_qp_offset = 0;
  record::ActivityMap map(640, 480, o);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(map.plan(std::vector<Rect>{{0, 0, 640, 480}}, i * 200).empty());
  EXPECT_FALSE(map.refinement_due_ms());
}

TEST(ActivityMap, OutOfRangeRectanglesAreClipped) {
  record::ActivityMap map(100, 100, {});
  for (int i = 0; i < 3; ++i) map.plan(std::vector<Rect>{{-50, -50, 1000, 1000}}, i * 200);
  const auto r = map.plan(std::vector<Rect>{{-50, -50, 1000, 1000}}, 600);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].x, 0);
  EXPECT_EQ(r[0].width, 112);  // whole macroblocks; the encoder clips to the picture
}
