#include "capture/pixels.hpp"

#include <algorithm>
#include <cstring>

#include <libyuv/convert_from_argb.h>

namespace deskaudit::capture {

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

void ScreenCopy::update(const std::uint8_t* data, int width, int height) {
  const std::size_t row = static_cast<std::size_t>(width) * 4;
  const std::size_t bytes = row * static_cast<std::size_t>(height);
  if (width != width_ || height != height_ || copy_.size() != bytes) {
    width_ = width;
    height_ = height;
    copy_.assign(data, data + bytes);
    dirty_ = {0, 0, width, height};
    return;
  }
  int first = -1;
  int last = -1;
  for (int y = 0; y < height; ++y) {
    if (std::memcmp(data + y * row, copy_.data() + y * row, row) != 0) {
      if (first < 0) first = y;
      last = y;
    }
  }
  if (first < 0) return;
  std::memcpy(copy_.data() + first * row, data + first * row, (last - first + 1) * row);
  const Rect band{0, first, width, last - first + 1};
  if (dirty_.width == 0) {
    dirty_ = band;
  } else {
    const int y0 = std::min(dirty_.y, band.y);
    const int y1 = std::max(dirty_.y + dirty_.height, band.y + band.height);
    dirty_ = {0, y0, width, y1 - y0};
  }
}

Rect ScreenCopy::take_dirty() { return std::exchange(dirty_, Rect{}); }

void ScreenCopy::clear() {
  copy_.clear();
  width_ = height_ = 0;
  dirty_ = {};
}

}  // namespace deskaudit::capture
