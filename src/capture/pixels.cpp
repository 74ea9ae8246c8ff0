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
  // Rects of the previous tile row (indexes into out), to extend downwards.
  std::vector<std::size_t> open_rects;
  for (int ty = 0; ty < tiles_y_; ++ty) {
    std::vector<std::size_t> now;
    const std::uint8_t* tile_row = tiles_.data() + static_cast<std::size_t>(ty) * static_cast<std::size_t>(tiles_x_);
    const int y = ty * kTile;
    const int h = std::min(kTile, height_ - y);
    for (int tx = 0; tx < tiles_x_;) {
      if (tile_row[tx] == 0) {
        ++tx;
        continue;
      }
      const int start = tx;
      while (tx < tiles_x_ && tile_row[tx] != 0) ++tx;
      const int x = start * kTile;
      const int w = std::min(tx * kTile, width_) - x;
      bool joined = false;
      for (const std::size_t k : open_rects) {
        Rect& r = out[k];
        if (r.x == x && r.width == w && r.y + r.height == y) {
          r.height += h;
          now.push_back(k);
          joined = true;
          break;
        }
      }
      if (!joined) {
        out.push_back({x, y, w, h});
        now.push_back(out.size() - 1);
      }
    }
    open_rects = std::move(now);
  }
  std::fill(tiles_.begin(), tiles_.end(), 0);
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
