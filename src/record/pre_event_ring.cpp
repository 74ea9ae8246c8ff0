#include "record/pre_event_ring.hpp"

namespace deskaudit::record {

void PreEventRing::drop_front() {
  bytes_ -= static_cast<std::int64_t>(segments_.front().bytes.size());
  segments_.pop_front();
}

void PreEventRing::push(RingSegment segment) {
  bytes_ += static_cast<std::int64_t>(segment.bytes.size());
  segments_.push_back(std::move(segment));
  // The oldest goes once the others alone still reach keep_ms back.
  while (segments_.size() > 1 && segments_[1].start_ms <= segments_.back().end_ms - keep_ms_) drop_front();
  while (!segments_.empty() && bytes_ > max_bytes_) {
    drop_front();
    ++dropped_for_bytes_;
  }
}

std::vector<RingSegment> PreEventRing::take_from(std::int64_t cutoff_ms) {
  std::vector<RingSegment> out;
  for (auto& s : segments_) {
    if (s.start_ms >= cutoff_ms) out.push_back(std::move(s));
  }
  segments_.clear();
  bytes_ = 0;
  return out;
}

}  // namespace deskaudit::record
