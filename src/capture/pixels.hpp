#pragma once
// Pixel work shared by the captures (x11, dxgi, gdi, scripted): the check of
// grab()'s picture, rectangles, BGRA -> I420 conversion, and the screen copy
// that captures without change notification compare each read with.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/capture.hpp"

namespace deskaudit::capture {

// grab()'s precondition: the picture has all three planes and the screen's
// size (width x height); invalid_argument naming both sizes otherwise.
Status check_grab_picture(const I420View& frame, int width, int height);

Rect intersect(const Rect& a, const Rect& b);
// r clipped to the screen and grown to even coordinates (I420's chroma is
// 2x2-subsampled, so a change is converted in whole chroma samples).
Rect even_aligned(const Rect& r, int width, int height);
// Converts the BGRA pixels of r (bgra points at r's top-left pixel, rows of
// stride bytes) into the same rectangle of frame. r is even-aligned.
void bgra_to_i420(const std::uint8_t* bgra, int stride, const Rect& r, const I420View& frame);

// The last read of the whole screen (BGRA, rows of width*4 bytes) and the
// tiles (kTile x kTile pixels) that changed since the last take_dirty().
// Changes are kept per tile and reported per cluster, so a clock in a corner
// and a terminal scrolling elsewhere are two areas, as change notification
// would report them, not one band of rows between them (the recorder judges
// motion per area); and a scrolling terminal is one area, not the dozens of
// tiles whose pixels happened to differ in this read (its tiles that stayed
// alike would be left out of its motion and coded carefully each time they
// change: 4x the bytes of X11's damage in bench/record's scrolling phase).
// A tile is one 16x16 macroblock of the encoder: a clock's tick is the few
// macroblocks of its digits (a "small change", grouped while idle), not the
// 16 macroblocks of a 64x64 tile each digit touches. Single-threaded.
class ScreenCopy {
 public:
  static constexpr int kTile = 16;
  // Changed tiles with at most this many unchanged tiles between them are
  // one area (their bounding box).
  static constexpr int kClusterGap = 1;
  // Compares a fresh read of the whole screen with the copy and adopts it;
  // the first read after clear() (or of another size) is all dirty.
  void update(const std::uint8_t* data, int width, int height);
  // The changed areas since the last call: the bounding box of each cluster
  // of changed tiles (clipped to the screen; boxes that overlap are merged,
  // so none do), top to bottom; empty when nothing changed.
  std::vector<Rect> take_dirty();
  bool dirty() const { return dirty_count_ > 0; }
  bool empty() const { return copy_.empty(); }
  void clear();
  const std::uint8_t* data() const { return copy_.data(); }
  std::size_t row_bytes() const { return static_cast<std::size_t>(width_) * 4; }

 private:
  void mark_all();
  std::vector<std::uint8_t> copy_;
  int width_ = 0;
  int height_ = 0;
  int tiles_x_ = 0;
  int tiles_y_ = 0;
  std::vector<std::uint8_t> tiles_;  // tiles_y_ rows of tiles_x_: 1 = changed
  std::size_t dirty_count_ = 0;
};

}  // namespace deskaudit::capture
