#pragma once
// Idle detection: a stretch without input and without screen change of at
// least idle_after is idle. Pure state machine over times the caller gives
// (tests inject them); not thread-safe.
#include <chrono>
#include <optional>

#include "activity/document.hpp"

namespace deskaudit::activity {

struct IdleChange {
  EventType type = EventType::idle;  // idle or active
  SteadyTime at{};                   // idle: the last activity; active: the activity that ended it
};

class IdleTracker {
 public:
  explicit IdleTracker(std::chrono::milliseconds idle_after) : idle_after_(idle_after) {}
  void set_idle_after(std::chrono::milliseconds idle_after) { idle_after_ = idle_after; }
  bool idle() const { return idle_; }

  // now: the current time; last_activity: the latest input or screen change
  // known (the later of both). Returns the change this sample makes, if any.
  std::optional<IdleChange> update(SteadyTime now, SteadyTime last_activity);
  // When update() should be called next to notice idleness on time (while
  // not idle: last_activity + idle_after).
  SteadyTime next_check(SteadyTime last_activity) const { return last_activity + idle_after_; }

 private:
  std::chrono::milliseconds idle_after_;
  bool idle_ = false;
  SteadyTime idle_since_{};
};

}  // namespace deskaudit::activity
