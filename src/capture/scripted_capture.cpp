#include "capture/scripted_capture.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "capture/pixels.hpp"

namespace deskaudit::capture {

using TimePoint = std::chrono::steady_clock::time_point;

namespace {

Rect clip(const Rect& r, int width, int height) {
  const int x0 = std::clamp(r.x, 0, width), y0 = std::clamp(r.y, 0, height);
  const int x1 = std::clamp(r.x + r.width, x0, width), y1 = std::clamp(r.y + r.height, y0, height);
  return {x0, y0, x1 - x0, y1 - y0};
}

std::uint32_t mix(std::uint32_t a, std::uint32_t b) {
  std::uint32_t h = a * 0x9e3779b1u ^ (b + 0x7f4a7c15u + (a << 6) + (a >> 2));
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return h;
}

constexpr int kCursorW = 12;
constexpr int kCursorH = 18;

}  // namespace

class ScriptedCapture final : public ScreenCapture {
 public:
  ScriptedCapture(std::shared_ptr<ScriptedScreen> screen, bool draw_cursor)
      : screen_(std::move(screen)), draw_cursor_(draw_cursor) {
    adopt(screen_->width_, screen_->height_);
    pointer_ = {width_ / 2, height_ / 2};
  }

  std::string_view backend() const override { return "scripted"; }
  int width() const override { return width_; }
  int height() const override { return height_; }
  bool changed() const override { return full_refresh_ || !pending_.empty() || cursor_moved_; }

  Result<CaptureStatus> wait(TimePoint deadline, WaitFor until, const Wakeup* interrupt) override {
    auto& s = *screen_;
    for (;;) {
      if (size_changed_) return CaptureStatus::reinit;
      if (until == WaitFor::change && changed()) return CaptureStatus::ok;
      const TimePoint now = s.clock_.now();
      if (now >= deadline) return changed() ? CaptureStatus::ok : CaptureStatus::timeout;
      if (next_ < s.steps_.size() && s.at(s.steps_[next_].at_ms) <= deadline) {
        s.clock_.set(std::max(now, s.at(s.steps_[next_].at_ms)));
        apply(s.steps_[next_++]);
        continue;
      }
      if (deadline <= s.at(s.end_ms_)) {
        s.clock_.set(deadline);
        continue;
      }
      s.clock_.set(std::max(now, s.at(s.end_ms_)));
      s.reached_end();
      if (interrupt == nullptr)
        return fail(Errc::unavailable, "scripted screen: time stands still at its end and no interrupt was given");
      if (auto st = interrupt->wait(); !st) return std::unexpected(st.error());
      return CaptureStatus::interrupted;
    }
  }

  Result<CaptureStatus> grab(const I420View& frame) override {
    if (size_changed_) return CaptureStatus::reinit;
    if (auto st = check_grab_picture(frame, width_, height_); !st) return std::unexpected(st.error());
    std::vector<Rect> rects;
    if (full_refresh_) {
      rects.push_back({0, 0, width_, height_});
    } else {
      rects = std::move(pending_);
    }
    pending_.clear();
    if (draw_cursor_ && (cursor_moved_ || full_refresh_)) {
      if (drawn_cursor_.width > 0) rects.push_back(drawn_cursor_);
      drawn_cursor_ = cursor_rect();
      rects.push_back(drawn_cursor_);
    }
    full_refresh_ = false;
    cursor_moved_ = false;
    last_rects_.clear();
    last_pixels_ = 0;
    for (const auto& r : rects) {
      const Rect a = even_aligned(r, width_, height_);
      if (a.width == 0) continue;
      copy(a, frame);
      last_rects_.push_back(a);
      last_pixels_ += static_cast<std::int64_t>(a.width) * a.height;
    }
    if (draw_cursor_ && drawn_cursor_.width > 0) {
      const Rect c = drawn_cursor_;
      for (int y = c.y; y < c.y + c.height; ++y)
        for (int x = c.x; x < c.x + c.width; ++x) {
          const bool edge = x == c.x || y == c.y || x == c.x + c.width - 1 || y == c.y + c.height - 1;
          frame.y[static_cast<std::ptrdiff_t>(y) * frame.stride_y + x] = edge ? 16 : 235;
        }
    }
    return last_rects_.empty() ? CaptureStatus::timeout : CaptureStatus::ok;
  }

  Status reinit() override {
    if (!size_changed_) return {};
    size_changed_ = false;
    adopt(new_size_.first, new_size_.second);
    pointer_ = {std::min(pointer_.first, width_ - 1), std::min(pointer_.second, height_ - 1)};
    drawn_cursor_ = {};
    return {};
  }

  std::int64_t last_grab_pixels() const override { return last_pixels_; }
  std::vector<Rect> last_grab_rects() const override { return last_rects_; }

 private:
  void adopt(int width, int height) {
    width_ = width;
    height_ = height;
    y_.assign(static_cast<std::size_t>(width) * height, 0);
    u_.assign(static_cast<std::size_t>((width + 1) / 2) * ((height + 1) / 2), 128);
    v_ = u_;
    paint({0, 0, width, height});
    pending_.clear();
    full_refresh_ = true;
  }

  Rect cursor_rect() const { return clip({pointer_.first, pointer_.second, kCursorW, kCursorH}, width_, height_); }

  // New content: lines of glyph-like 8x16 cells on a light background, in a
  // tint of its own, so the encoder sees text-like detail that differs every time.
  void paint(const Rect& area) {
    const Rect r = even_aligned(area, width_, height_);
    if (r.width == 0) return;
    const std::uint32_t seed = ++paints_;
    for (int y = r.y; y < r.y + r.height; ++y) {
      for (int x = r.x; x < r.x + r.width; ++x) {
        const std::uint32_t cell = mix(seed, static_cast<std::uint32_t>((y / 16) * 4096 + x / 8));
        const bool ink = (cell % 3) != 0 && (y % 16) < 12 &&
                         ((mix(cell, static_cast<std::uint32_t>(y % 16)) >> (x % 8)) & 1u) != 0;
        y_[static_cast<std::size_t>(y) * width_ + x] = ink ? 40 : 225;
      }
    }
    const int cw = (width_ + 1) / 2;
    const auto tint_u = static_cast<std::uint8_t>(128 + static_cast<int>(seed % 5) * 6 - 12);
    const auto tint_v = static_cast<std::uint8_t>(128 - static_cast<int>(seed % 7) * 4 + 12);
    for (int y = r.y / 2; y < (r.y + r.height) / 2; ++y) {
      std::memset(&u_[static_cast<std::size_t>(y) * cw + r.x / 2], tint_u, static_cast<std::size_t>(r.width / 2));
      std::memset(&v_[static_cast<std::size_t>(y) * cw + r.x / 2], tint_v, static_cast<std::size_t>(r.width / 2));
    }
    pending_.push_back(r);
  }

  void copy(const Rect& r, const I420View& frame) const {
    for (int y = r.y; y < r.y + r.height; ++y)
      std::memcpy(frame.y + static_cast<std::ptrdiff_t>(y) * frame.stride_y + r.x,
                  &y_[static_cast<std::size_t>(y) * width_ + r.x], static_cast<std::size_t>(r.width));
    const int cw = (width_ + 1) / 2;
    for (int y = r.y / 2; y < (r.y + r.height + 1) / 2; ++y) {
      std::memcpy(frame.u + static_cast<std::ptrdiff_t>(y) * frame.stride_u + r.x / 2,
                  &u_[static_cast<std::size_t>(y) * cw + r.x / 2], static_cast<std::size_t>((r.width + 1) / 2));
      std::memcpy(frame.v + static_cast<std::ptrdiff_t>(y) * frame.stride_v + r.x / 2,
                  &v_[static_cast<std::size_t>(y) * cw + r.x / 2], static_cast<std::size_t>((r.width + 1) / 2));
    }
  }

  void apply(const ScriptStep& step) {
    for (const auto& r : step.paint) paint(r);
    if (step.pointer && *step.pointer != pointer_) {
      pointer_ = *step.pointer;
      cursor_moved_ = draw_cursor_;
    }
    if (step.resize) {
      new_size_ = *step.resize;
      size_changed_ = true;
    }
  }

  std::shared_ptr<ScriptedScreen> screen_;
  bool draw_cursor_;
  std::size_t next_ = 0;
  int width_ = 0;
  int height_ = 0;
  std::vector<std::uint8_t> y_, u_, v_;  // the screen without the pointer
  std::vector<Rect> pending_;
  bool full_refresh_ = true;
  bool size_changed_ = false;
  std::pair<int, int> new_size_;
  std::pair<int, int> pointer_;
  bool cursor_moved_ = false;
  Rect drawn_cursor_;
  std::uint32_t paints_ = 0;
  std::vector<Rect> last_rects_;
  std::int64_t last_pixels_ = 0;
};

TimePoint ScriptedScreen::VirtualClock::now() const {
  std::lock_guard lock(mu_);
  return now_;
}

void ScriptedScreen::VirtualClock::set(TimePoint t) {
  std::lock_guard lock(mu_);
  now_ = t;
}

Result<std::shared_ptr<ScriptedScreen>> ScriptedScreen::create(int width, int height, std::vector<ScriptStep> steps,
                                                               std::int64_t end_ms) {
  auto size_ok = [](int w, int h) { return w >= 2 && h >= 2 && w <= 16384 && h <= 16384 && w % 2 == 0 && h % 2 == 0; };
  if (!size_ok(width, height)) return fail(Errc::invalid_argument, "scripted screen size must be even, 2..16384");
  std::int64_t prev = 0;
  for (const auto& s : steps) {
    if (s.at_ms < prev) return fail(Errc::invalid_argument, "script steps out of time order");
    if (s.resize && !size_ok(s.resize->first, s.resize->second))
      return fail(Errc::invalid_argument, "scripted resize must be even, 2..16384");
    prev = s.at_ms;
  }
  if (end_ms < prev) return fail(Errc::invalid_argument, "script ends before its last step");
  std::shared_ptr<ScriptedScreen> s(new ScriptedScreen());
  s->start_ = s->clock_.now();
  s->width_ = width;
  s->height_ = height;
  s->steps_ = std::move(steps);
  s->end_ms_ = end_ms;
  return s;
}

std::int64_t ScriptedScreen::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start_).count();
}

void ScriptedScreen::reached_end() {
  std::lock_guard lock(mu_);
  at_end_ = true;
  cv_.notify_all();
}

bool ScriptedScreen::wait_for_end(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return at_end_; });
}

std::unique_ptr<ScreenCapture> ScriptedScreen::open(bool draw_cursor) {
  return std::make_unique<ScriptedCapture>(shared_from_this(), draw_cursor);
}

const MonotonicClock& steady_clock() {
  class Steady final : public MonotonicClock {
   public:
    time_point now() const override { return std::chrono::steady_clock::now(); }
  };
  static const Steady clock;
  return clock;
}

}  // namespace deskaudit::capture
