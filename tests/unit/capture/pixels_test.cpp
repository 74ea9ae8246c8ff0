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
// One pixel's first byte at (x, y) of a BGRA screen w pixels wide.
std::size_t at(int w, int x, int y) { return (static_cast<std::size_t>(y) * w + x) * 4; }
}  // namespace

TEST(ScreenCopyTest, FirstReadIsAllDirtyThenOnlyChangedTiles) {
  constexpr int T = capture::ScreenCopy::kTile;
  const int w = 3 * T + 10, h = 2 * T + 6;  // partial tiles at the right and bottom edges
  std::vector<std::uint8_t> screen(static_cast<std::size_t>(w) * h * 4, 0x10);
  capture::ScreenCopy copy;
  EXPECT_TRUE(copy.empty());
  copy.update(screen.data(), w, h);
  EXPECT_TRUE(copy.dirty());
  auto d = copy.take_dirty();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(same(d[0], {0, 0, w, h}));
  EXPECT_FALSE(copy.dirty());

  copy.update(screen.data(), w, h);
  EXPECT_FALSE(copy.dirty());
  EXPECT_TRUE(copy.take_dirty().empty());

  screen[at(w, 3, 2)] = 0xff;  // tile (0, 0)
  copy.update(screen.data(), w, h);
  screen[at(w, T + 1, T + 3) + 1] = 0xff;  // tile (1, 1), in a later read: both are kept
  copy.update(screen.data(), w, h);
  d = copy.take_dirty();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(same(d[0], {0, 0, T, T}));
  EXPECT_TRUE(same(d[1], {T, T, T, T}));
  EXPECT_EQ(copy.data()[at(w, 3, 2)], 0xff);
  EXPECT_EQ(copy.data()[at(w, T + 1, T + 3) + 1], 0xff);
}

TEST(ScreenCopyTest, ChangesFarApartAreSeparateAreasNotABandOfRows) {
  // A clock ticking in the top right corner while a window scrolls at the
  // bottom left: two areas, as change notification would report them.
  constexpr int T = capture::ScreenCopy::kTile;
  const int w = 8 * T, h = 6 * T;
  std::vector<std::uint8_t> screen(static_cast<std::size_t>(w) * h * 4, 0);
  capture::ScreenCopy copy;
  copy.update(screen.data(), w, h);
  copy.take_dirty();
  screen[at(w, w - 5, 5)] = 1;  // the clock: tile (7, 0)
  for (int y = 3 * T; y < 5 * T; ++y)
    for (int x = 0; x < 2 * T; ++x) screen[at(w, x, y)] = 2;  // tiles (0..1, 3..4)
  copy.update(screen.data(), w, h);
  const auto d = copy.take_dirty();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(same(d[0], {7 * T, 0, T, T}));
  EXPECT_TRUE(same(d[1], {0, 3 * T, 2 * T, 2 * T}));  // runs of the same columns joined downwards
}

TEST(ScreenCopyTest, AnotherSizeIsAllDirty) {
  std::vector<std::uint8_t> small(4 * 4 * 4, 0), large(6 * 4 * 4, 0);
  capture::ScreenCopy copy;
  copy.update(small.data(), 4, 4);
  copy.take_dirty();
  copy.update(large.data(), 6, 4);
  const auto d = copy.take_dirty();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(same(d[0], {0, 0, 6, 4}));
}

TEST(PixelsTest, EvenAlignedGrowsToWholeChromaSamplesWithinTheScreen) {
  EXPECT_TRUE(same(capture::even_aligned({3, 5, 2, 2}, 100, 100), {2, 4, 4, 4}));
  EXPECT_TRUE(same(capture::even_aligned({97, 0, 10, 1}, 99, 50), {96, 0, 3, 2}));
  EXPECT_EQ(capture::even_aligned({200, 200, 5, 5}, 100, 100).width, 0);
}
