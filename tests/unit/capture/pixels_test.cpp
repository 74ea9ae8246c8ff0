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

// A black w x h screen that a ScreenCopy has read once (its all-dirty first
// read taken); set() changes a pixel, read() gives the changed areas.
struct ReadScreen {
  ReadScreen(int width, int height) : w(width), h(height), pixels(static_cast<std::size_t>(width) * height * 4, 0) {
    read();
  }
  void set(int x, int y, std::uint8_t v) { pixels[at(w, x, y)] = v; }
  std::vector<Rect> read() {
    copy.update(pixels.data(), w, h);
    return copy.take_dirty();
  }
  int w, h;
  std::vector<std::uint8_t> pixels;
  capture::ScreenCopy copy;
};
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
  d = copy.take_dirty();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(same(d[0], {0, 0, T, T}));
  screen[at(w, T + 1, T + 3) + 1] = 0xff;  // tile (1, 1)
  copy.update(screen.data(), w, h);
  screen[at(w, w - 1, h - 1) + 2] = 0xff;  // tile (3, 2), partial, in a later read: both are kept
  copy.update(screen.data(), w, h);
  d = copy.take_dirty();
  ASSERT_EQ(d.size(), 1u);  // one tile apart: one area, clipped to the screen
  EXPECT_TRUE(same(d[0], {T, T, w - T, h - T}));
  EXPECT_EQ(copy.data()[at(w, T + 1, T + 3) + 1], 0xff);
  EXPECT_EQ(copy.data()[at(w, w - 1, h - 1) + 2], 0xff);
}

TEST(ScreenCopyTest, AScrollingWindowWithTilesAlikeInThisReadIsOneArea) {
  // Text scrolled by a line: most tiles differ, some (blank, or the same
  // glyphs) do not. Change notification reports the window's whole area; so
  // does the copy, or the recorder would see holes in the window's motion.
  constexpr int T = capture::ScreenCopy::kTile;
  ReadScreen screen(12 * T, 10 * T);
  for (int ty = 1; ty < 8; ++ty)
    for (int tx = 1; tx < 9; ++tx)
      if ((tx + ty) % 3 != 0) screen.set(tx * T + 2, ty * T + 2, 7);  // every third tile alike
  auto d = screen.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(same(d[0], {T, T, 8 * T, 7 * T}));
  // Two unchanged tiles between changes: two areas.
  screen.set(0, 0, 9);      // tile (0, 0)
  screen.set(3 * T, 0, 9);  // tile (3, 0)
  d = screen.read();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(same(d[0], {0, 0, T, T}));
  EXPECT_TRUE(same(d[1], {3 * T, 0, T, T}));
  // Boxes that overlap (an L around a block) are merged: no area overlaps another.
  for (int tx = 0; tx < 12; ++tx) screen.set(tx * T, 9 * T, 5);   // row 9
  for (int ty = 0; ty < 10; ++ty) screen.set(11 * T, ty * T, 5);  // column 11: an L
  screen.set(5 * T, 4 * T, 5);                                    // tile (5, 4): three tiles from the L
  screen.set(5 * T, 1 * T, 5);                                    // tile (5, 1): its own cluster, inside the L's box
  d = screen.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(same(d[0], {0, 0, screen.w, screen.h}));
}

TEST(ScreenCopyTest, ChangesFarApartAreSeparateAreasNotABandOfRows) {
  // A clock ticking in the top right corner while a window scrolls at the
  // bottom left: two areas, as change notification would report them.
  constexpr int T = capture::ScreenCopy::kTile;
  ReadScreen screen(8 * T, 6 * T);
  screen.set(screen.w - 5, 5, 1);  // the clock: tile (7, 0)
  for (int y = 3 * T; y < 5 * T; ++y)
    for (int x = 0; x < 2 * T; ++x) screen.set(x, y, 2);  // tiles (0..1, 3..4)
  const auto d = screen.read();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(same(d[0], {7 * T, 0, T, T}));
  EXPECT_TRUE(same(d[1], {0, 3 * T, 2 * T, 2 * T}));
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
