#pragma once
// The pre-event ring of event-triggered recording: the last few seconds of
// encoded video, held in memory while no trigger runs, so the recording a
// trigger starts can begin before it. Entries are whole segments (the
// recorder's segment bytes: init segment, then fragments, the first sample a
// keyframe), so any entry can start a recording that plays from its first
// byte; their media times are the recorder's, rebased when written
// (rebase_fragments, segment_files.hpp).
//
// Bounds: entries are dropped oldest first while the newer ones still span
// keep_ms, and while the ring holds more than max_bytes (a busy screen then
// gets less than keep_ms before its trigger). The segment being built is
// not in the ring; it is bounded by the recorder's segment_max_bytes.
// Thread safety: one thread at a time (the recorder's).
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace deskaudit::record {

// What the ring holds at most (the agent's pre_event_seconds is at most
// 120 s; at 15 frames a second of full-screen motion that is ~20 MiB).
inline constexpr std::int64_t kPreEventRingMaxBytes = 48ll << 20;

struct RingSegment {
  std::string bytes;          // init segment + whole fragments
  std::int64_t start_ms = 0;  // media time of its first sample (a keyframe)
  std::int64_t end_ms = 0;    // where its last sample ends
  std::int64_t fragments = 0;
};

class PreEventRing {
 public:
  PreEventRing(std::int64_t keep_ms, std::int64_t max_bytes) : keep_ms_(keep_ms), max_bytes_(max_bytes) {}
  void push(RingSegment segment);
  // Empties the ring; returns the entries that start at or after cutoff_ms,
  // oldest first (the recording then begins at most keep_ms before it).
  std::vector<RingSegment> take_from(std::int64_t cutoff_ms);
  std::size_t size() const { return segments_.size(); }
  std::int64_t bytes() const { return bytes_; }
  // Media time the ring spans (first start to last end); 0 when empty.
  std::int64_t span_ms() const { return segments_.empty() ? 0 : segments_.back().end_ms - segments_.front().start_ms; }
  // Entries dropped to stay within max_bytes (not for age), so far.
  std::int64_t dropped_for_bytes() const { return dropped_for_bytes_; }

 private:
  void drop_front();
  std::int64_t keep_ms_;
  std::int64_t max_bytes_;
  std::deque<RingSegment> segments_;
  std::int64_t bytes_ = 0;
  std::int64_t dropped_for_bytes_ = 0;
};

}  // namespace deskaudit::record
