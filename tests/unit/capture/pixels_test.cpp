#include "capture/pixels.hpp"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

using namespace deskaudit;
using capture::Rect;

namespace {
bool same(const Rect& a, const Rect& b) {
  return a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height;
}
}  // namespace

TEST(ScreenCopyTest, FirstReadIsAllDirtyThenOnlyChangedRows) {
  const int w = 8, h = 6;
  std::vector<std::uint8_t> screen(static_cast<std::size_t>(w) * h * 4, 0x10);
  capture::ScreenCopy copy;
  EXPECT_TRUE(copy.empty());
  copy.update(screen.data(), w, h);
  EXPECT_TRUE(copy.dirty());
  EXPECT_TRUE(same(copy.take_dirty(), {0, 0, w, h}));
  EXPECT_FALSE(copy.dirty());

  copy.update(screen.data(), w, h);
  EXPECT_FALSE(copy.dirty());

  screen[(2 * w + 3) * 4] = 0xff;  // row 2
  copy.update(screen.data(), w, h);
  screen[(4 * w + 0) * 4 + 1] = 0xff;  // row 4, in a later read: the band grows
  copy.update(screen.data(), w, h);
  EXPECT_TRUE(same(copy.take_dirty(), {0, 2, w, 3}));
  EXPECT_EQ(copy.data()[(2 * w + 3) * 4], 0xff);
  EXPECT_EQ(copy.data()[(4 * w + 0) * 4 + 1], 0xff);
}

TEST(ScreenCopyTest, AnotherSizeIsAllDirty) {
  std::vector<std::uint8_t> small(4 * 4 * 4, 0), large(6 * 4 * 4, 0);
  capture::ScreenCopy copy;
  copy.update(small.data(), 4, 4);
  copy.take_dirty();
  copy.update(large.data(), 6, 4);
  EXPECT_TRUE(same(copy.take_dirty(), {0, 0, 6, 4}));
}

TEST(PixelsTest, EvenAlignedGrowsToWholeChromaSamplesWithinTheScreen) {
  EXPECT_TRUE(same(capture::even_aligned({3, 5, 2, 2}, 100, 100), {2, 4, 4, 4}));
  EXPECT_TRUE(same(capture::even_aligned({97, 0, 10, 1}, 99, 50), {96, 0, 3, 2}));
  EXPECT_EQ(capture::even_aligned({200, 200, 5, 5}, 100, 100).width, 0);
}
