#include "activity/idle.hpp"

namespace deskaudit::activity {

std::optional<IdleChange> IdleTracker::update(SteadyTime now, SteadyTime last_activity) {
  if (!idle_) {
    if (now - last_activity < idle_after_) return std::nullopt;
    idle_ = true;
    idle_since_ = last_activity;
    return IdleChange{EventType::idle, last_activity};
  }
  if (last_activity <= idle_since_) return std::nullopt;
  idle_ = false;
  return IdleChange{EventType::active, last_activity};
}

}  // namespace deskaudit::activity
