#pragma once
// A screen that replays a script instead of reading a display: at given
// virtual times areas are repainted (with new, deterministic content), the
// pointer moves, or the screen size changes. Its captures run on virtual time
// (the screen's clock), which wait() advances straight to the next scripted
// step or deadline, so a recorder driven by it does in milliseconds, and
// exactly the same way every run, what takes seconds on a display. Used by
// the recorder's unit tests and by benchmarks that need a fixed input.
//
// Time stands still at end_ms: a wait() whose deadline lies beyond it blocks
// (real time) until its interrupt is signalled, so everything due up to
// end_ms has been done, and nothing later, when the owner stops the recorder.
//
// Thread safety: the ScriptedScreen may be shared between threads; each
// capture it opens is used by one thread at a time.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "capture/capture.hpp"

namespace deskaudit::capture {

struct ScriptStep {
  std::int64_t at_ms = 0;                // virtual ms after the screen's start
  std::vector<Rect> paint;               // repainted with new content
  std::optional<std::pair<int, int>> pointer;  // the pointer moves to x, y
  std::optional<std::pair<int, int>> resize;   // the screen becomes width x height (all new content)
};

class ScriptedScreen : public std::enable_shared_from_this<ScriptedScreen> {
 public:
  // steps in time order; end_ms >= the last step's time. width/height even, 2..16384.
  static Result<std::shared_ptr<ScriptedScreen>> create(int width, int height, std::vector<ScriptStep> steps,
                                                        std::int64_t end_ms);

  const MonotonicClock& clock() const { return clock_; }
  // Virtual ms since the start.
  std::int64_t now_ms() const;
  // Blocks until a capture has reached end_ms (every step is taken and time
  // stands still) or the real-time timeout passes; true when reached.
  bool wait_for_end(std::chrono::milliseconds timeout) const;
  // A capture of this screen (the pointer drawn as a 12x18 arrow block when
  // draw_cursor). Only one capture at a time.
  std::unique_ptr<ScreenCapture> open(bool draw_cursor = true);

 private:
  friend class ScriptedCapture;
  class VirtualClock final : public MonotonicClock {
   public:
    time_point now() const override;
    void set(time_point t);

   private:
    mutable std::mutex mu_;
    time_point now_{std::chrono::hours(1000)};
  };
  ScriptedScreen() = default;
  std::chrono::steady_clock::time_point at(std::int64_t ms) const { return start_ + std::chrono::milliseconds(ms); }
  void reached_end();

  VirtualClock clock_;
  std::chrono::steady_clock::time_point start_;
  int width_ = 0;
  int height_ = 0;
  std::vector<ScriptStep> steps_;
  std::int64_t end_ms_ = 0;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool at_end_ = false;
};

}  // namespace deskaudit::capture
