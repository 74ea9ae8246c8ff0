#pragma once
// A loopback capture (WASAPI's) sends nothing while nothing plays, where a
// PulseAudio monitor sends zeros. SilenceFiller says when and how much
// silence stands for that time, so the sound handed on stays continuous and
// on the capture clock: once neither sound nor a packet came for `quiet`,
// the time from the end of what was handed out up to `margin` before now is
// silence (a late packet of sound still fits after it). Counted in samples
// at 48 kHz from an origin, so hours of silence add no rounding drift.
// Shared (unit-tested on Linux); used by wasapi_capture.cpp.
// Thread safety: one thread at a time.
#include <chrono>
#include <cstdint>

namespace deskaudit::capture {

class SilenceFiller {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::int64_t kRate = 48000;

  SilenceFiller(Clock::time_point start, std::chrono::milliseconds quiet, std::chrono::milliseconds margin)
      : origin_(start), last_packet_(start), quiet_(quiet), margin_(margin) {}

  // A packet came at `now` holding `frames` frames (48 kHz) of sound captured
  // from `captured_at` on. Frames may be 0 (a packet the resampler kept): it
  // still counts as a packet, and covers nothing.
  void on_packet(Clock::time_point now, Clock::time_point captured_at, std::int64_t frames);

  struct Due {
    Clock::time_point at;    // where the silence starts
    std::int64_t frames = 0;  // 0: none is due
  };
  // The silence due at `now`, counted as handed out.
  Due due(Clock::time_point now);

  // The end of what was handed out, sound or silence.
  Clock::time_point covered_until() const;

 private:
  static Clock::duration length_of(std::int64_t frames);

  Clock::time_point origin_;  // covered_until() == origin_ + length_of(samples_)
  std::int64_t samples_ = 0;
  Clock::time_point last_packet_;
  std::chrono::milliseconds quiet_, margin_;
};

}  // namespace deskaudit::capture
