#include "capture/silence_filler.hpp"

namespace deskaudit::capture {

SilenceFiller::Clock::duration SilenceFiller::length_of(std::int64_t frames) {
  // 1e9 / 48000 = 62500 / 3 ns a frame (no overflow for 97 years of frames).
  static_assert(kRate == 48000);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(frames * 62500 / 3));
}

SilenceFiller::Clock::time_point SilenceFiller::covered_until() const { return origin_ + length_of(samples_); }

void SilenceFiller::on_packet(Clock::time_point now, Clock::time_point captured_at, std::int64_t frames) {
  last_packet_ = now;
  const auto end = captured_at + length_of(frames);
  if (frames > 0 && end > covered_until()) {
    origin_ = end;
    samples_ = 0;
  }
}

SilenceFiller::Due SilenceFiller::due(Clock::time_point now) {
  const auto covered = covered_until();
  if (now - covered < quiet_ || now - last_packet_ < quiet_) return {};
  const auto target = now - margin_;
  // 48 frames a millisecond; in microseconds no overflow for millennia.
  const std::int64_t total = std::chrono::duration_cast<std::chrono::microseconds>(target - origin_).count() * 48 / 1000;
  const std::int64_t frames = total - samples_;
  if (frames <= 0) return {};
  samples_ = total;
  return {covered, frames};
}

}  // namespace deskaudit::capture
