#include "record/activity_map.hpp"

#include <algorithm>

namespace deskaudit::record {

ActivityMap::ActivityMap(int width, int height, ActivityOptions options)
    : mb_w_((width + 15) / 16), mb_h_((height + 15) / 16), options_(options) {
  const auto n = static_cast<std::size_t>(mb_w_) * static_cast<std::size_t>(mb_h_);
  streak_.assign(n, 0);
  coarse_.assign(n, 0);
  last_change_ms_.assign(n, 0);
  changed_.assign(n, 0);
  offset_.assign(n, 0);
}

std::vector<encode::QualityRegion> ActivityMap::plan(std::span<const capture::Rect> changed, std::int64_t t_ms) {
  std::vector<encode::QualityRegion> out;
  hot_mbs_ = 0;
  if (options_.hot_qp_offset == 0) return out;
  std::fill(changed_.begin(), changed_.end(), 0);
  for (const auto& r : changed) {
    if (r.width <= 0 || r.height <= 0) continue;
    const int x0 = std::clamp(r.x / 16, 0, mb_w_), x1 = std::clamp((r.x + r.width + 15) / 16, 0, mb_w_);
    const int y0 = std::clamp(r.y / 16, 0, mb_h_), y1 = std::clamp((r.y + r.height + 15) / 16, 0, mb_h_);
    for (int y = y0; y < y1; ++y) std::fill_n(changed_.begin() + y * mb_w_ + x0, x1 - x0, 1);
  }
  for (std::size_t i = 0; i < changed_.size(); ++i) {
    offset_[i] = 0;
    if (changed_[i] != 0) {
      streak_[i] = static_cast<std::uint8_t>(std::min(255, streak_[i] + 1));
      last_change_ms_[i] = t_ms;
      const bool hot = streak_[i] >= options_.hot_frames;
      coarse_[i] = hot ? 1 : 0;
      if (hot) {
        offset_[i] = static_cast<std::int8_t>(options_.hot_qp_offset);
        ++hot_mbs_;
      }
    } else {
      if (t_ms - last_change_ms_[i] >= options_.hot_gap_ms) streak_[i] = 0;
      if (coarse_[i] != 0 && t_ms - last_change_ms_[i] >= options_.refine_after_ms) {
        offset_[i] = static_cast<std::int8_t>(options_.refine_qp_offset);
        coarse_[i] = 0;
      }
    }
  }
  // Row runs of equal offsets, merged with the run right above when it has
  // the same columns: a few rectangles per moving window.
  struct Open {
    int x0, x1, y0, offset;
  };
  std::vector<Open> above, current;
  auto emit = [&](const Open& o, int y_end) {
    out.push_back({o.x0 * 16, o.y0 * 16, (o.x1 - o.x0) * 16, (y_end - o.y0) * 16, o.offset});
  };
  for (int y = 0; y <= mb_h_; ++y) {
    current.clear();
    if (y < mb_h_) {
      for (int x = 0; x < mb_w_;) {
        const int off = offset_[static_cast<std::size_t>(y) * mb_w_ + x];
        int e = x + 1;
        while (e < mb_w_ && offset_[static_cast<std::size_t>(y) * mb_w_ + e] == off) ++e;
        if (off != 0) current.push_back({x, e, y, off});
        x = e;
      }
    }
    for (const auto& a : above) {
      auto it = std::find_if(current.begin(), current.end(),
                             [&](const Open& c) { return c.x0 == a.x0 && c.x1 == a.x1 && c.offset == a.offset; });
      if (it != current.end()) {
        it->y0 = a.y0;  // continues downwards
      } else {
        emit(a, y);
      }
    }
    above.swap(current);
  }
  return out;
}

bool ActivityMap::small_and_hot(std::span<const capture::Rect> changed, int max_mbs) const {
  if (options_.hot_qp_offset == 0 || changed.empty()) return false;
  // Distinct macroblocks: a held-back change and the next one of the same
  // area (the clock's next tick) overlap and are still one small change.
  std::vector<std::size_t> mbs;
  for (const auto& r : changed) {
    if (r.width <= 0 || r.height <= 0) continue;
    const int x0 = std::clamp(r.x / 16, 0, mb_w_), x1 = std::clamp((r.x + r.width + 15) / 16, 0, mb_w_);
    const int y0 = std::clamp(r.y / 16, 0, mb_h_), y1 = std::clamp((r.y + r.height + 15) / 16, 0, mb_h_);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        const auto i = static_cast<std::size_t>(y) * mb_w_ + x;
        if (std::find(mbs.begin(), mbs.end(), i) != mbs.end()) continue;
        if (static_cast<int>(mbs.size()) >= max_mbs || streak_[i] + 1 < options_.hot_frames) return false;
        mbs.push_back(i);
      }
  }
  return !mbs.empty();
}

std::optional<std::int64_t> ActivityMap::refinement_due_ms() const {
  std::optional<std::int64_t> due;
  for (std::size_t i = 0; i < coarse_.size(); ++i)
    if (coarse_[i] != 0) due = std::max(due.value_or(0), last_change_ms_[i] + options_.refine_after_ms);
  return due;
}

}  // namespace deskaudit::record
