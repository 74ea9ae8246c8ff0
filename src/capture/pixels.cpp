#include "capture/pixels.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

#include <libyuv/convert_from_argb.h>

namespace deskaudit::capture {

Status check_grab_picture(const I420View& frame, int width, int height) {
  if (frame.width == width && frame.height == height && frame.y != nullptr && frame.u != nullptr && frame.v != nullptr)
    return {};
  return fail(Errc::invalid_argument, "grab: picture is " + std::to_string(frame.width) + "x" +
                                          std::to_string(frame.height) + ", screen is " + std::to_string(width) + "x" +
                                          std::to_string(height));
}

Rect intersect(const Rect& a, const Rect& b) {
  const int x0 = std::max(a.x, b.x);
  const int y0 = std::max(a.y, b.y);
  const int x1 = std::min(a.x + a.width, b.x + b.width);
  const int y1 = std::min(a.y + a.height, b.y + b.height);
  if (x1 <= x0 || y1 <= y0) return {};
  return {x0, y0, x1 - x0, y1 - y0};
}

Rect even_aligned(const Rect& r, int width, int height) {
  const Rect c = intersect(r, {0, 0, width, height});
  if (c.width == 0) return {};
  const int x0 = c.x & ~1;
  const int y0 = c.y & ~1;
  const int x1 = std::min(width, (c.x + c.width + 1) & ~1);
  const int y1 = std::min(height, (c.y + c.height + 1) & ~1);
  return {x0, y0, x1 - x0, y1 - y0};
}

void bgra_to_i420(const std::uint8_t* bgra, int stride, const Rect& r, const I420View& f) {
  libyuv::ARGBToI420(bgra, stride, f.y + static_cast<std::ptrdiff_t>(r.y) * f.stride_y + r.x, f.stride_y,
                     f.u + static_cast<std::ptrdiff_t>(r.y / 2) * f.stride_u + r.x / 2, f.stride_u,
                     f.v + static_cast<std::ptrdiff_t>(r.y / 2) * f.stride_v + r.x / 2, f.stride_v, r.width, r.height);
}

void ScreenCopy::mark_all() {
  tiles_x_ = (width_ + kTile - 1) / kTile;
  tiles_y_ = (height_ + kTile - 1) / kTile;
  tiles_.assign(static_cast<std::size_t>(tiles_x_) * static_cast<std::size_t>(tiles_y_), 1);
  dirty_count_ = tiles_.size();
}

void ScreenCopy::update(const std::uint8_t* data, int width, int height) {
  const std::size_t row = static_cast<std::size_t>(width) * 4;
  const std::size_t bytes = row * static_cast<std::size_t>(height);
  if (width != width_ || height != height_ || copy_.size() != bytes) {
    width_ = width;
    height_ = height;
    copy_.assign(data, data + bytes);
    mark_all();
    return;
  }
  const std::size_t tile_bytes = static_cast<std::size_t>(kTile) * 4;
  for (int y = 0; y < height; ++y) {
    const std::size_t at = static_cast<std::size_t>(y) * row;
    // Most rows are unchanged: one comparison of the row first.
    if (std::memcmp(data + at, copy_.data() + at, row) == 0) continue;
    std::uint8_t* tile_row = tiles_.data() + static_cast<std::size_t>(y / kTile) * static_cast<std::size_t>(tiles_x_);
    for (int tx = 0; tx < tiles_x_; ++tx) {
      const std::size_t off = at + static_cast<std::size_t>(tx) * tile_bytes;
      const std::size_t n = std::min(tile_bytes, row - static_cast<std::size_t>(tx) * tile_bytes);
      if (std::memcmp(data + off, copy_.data() + off, n) == 0) continue;
      std::memcpy(copy_.data() + off, data + off, n);
      if (tile_row[tx] == 0) {
        tile_row[tx] = 1;
        ++dirty_count_;
      }
    }
  }
}

std::vector<Rect> ScreenCopy::take_dirty() {
  std::vector<Rect> out;
  if (dirty_count_ == 0) return out;
  // Clusters of changed tiles at most kClusterGap unchanged tiles apart, each
  // as its bounding box: a scrolling window whose text leaves some tiles
  // alike from one read to the next is one area, as change notification
  // reports it (the recorder judges motion per area: holes would keep parts
  // of a moving window out of it). Tiles inside a box that did not change
  // cost the encoder nothing.
  constexpr int kReach = kClusterGap + 1;
  struct Box {
    int x0, y0, x1, y1;  // tiles, inclusive
  };
  // A tile is cleared as its cluster takes it: every tile ends clear.
  std::vector<Box> boxes;
  std::vector<int> stack;
  for (int start = 0; start < static_cast<int>(tiles_.size()); ++start) {
    if (tiles_[static_cast<std::size_t>(start)] == 0) continue;
    Box b{start % tiles_x_, start / tiles_x_, start % tiles_x_, start / tiles_x_};
    tiles_[static_cast<std::size_t>(start)] = 0;
    stack.assign(1, start);
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      const int tx = i % tiles_x_, ty = i / tiles_x_;
      b = {std::min(b.x0, tx), std::min(b.y0, ty), std::max(b.x1, tx), std::max(b.y1, ty)};
      for (int ny = std::max(0, ty - kReach); ny <= std::min(tiles_y_ - 1, ty + kReach); ++ny)
        for (int nx = std::max(0, tx - kReach); nx <= std::min(tiles_x_ - 1, tx + kReach); ++nx) {
          const auto n =
              static_cast<std::size_t>(ny) * static_cast<std::size_t>(tiles_x_) + static_cast<std::size_t>(nx);
          if (tiles_[n] == 0) continue;
          tiles_[n] = 0;
          stack.push_back(static_cast<int>(n));
        }
    }
    boxes.push_back(b);
  }
  // Boxes of two clusters can overlap (an L beside a block): one area then.
  for (bool merged = true; merged;) {
    merged = false;
    for (std::size_t i = 0; i < boxes.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < boxes.size() && !merged; ++j) {
        const Box& a = boxes[i];
        const Box& c = boxes[j];
        if (a.x0 > c.x1 || c.x0 > a.x1 || a.y0 > c.y1 || c.y0 > a.y1) continue;
        boxes[i] = {std::min(a.x0, c.x0), std::min(a.y0, c.y0), std::max(a.x1, c.x1), std::max(a.y1, c.y1)};
        boxes.erase(boxes.begin() + static_cast<std::ptrdiff_t>(j));
        merged = true;
      }
  }
  std::sort(boxes.begin(), boxes.end(),
            [](const Box& a, const Box& c) { return std::tie(a.y0, a.x0) < std::tie(c.y0, c.x0); });
  for (const Box& b : boxes) {
    const int x = b.x0 * kTile, y = b.y0 * kTile;
    out.push_back({x, y, std::min((b.x1 + 1) * kTile, width_) - x, std::min((b.y1 + 1) * kTile, height_) - y});
  }
  dirty_count_ = 0;
  return out;
}

void ScreenCopy::clear() {
  copy_.clear();
  width_ = height_ = 0;
  tiles_x_ = tiles_y_ = 0;
  tiles_.clear();
  dirty_count_ = 0;
}

}  // namespace deskaudit::capture
