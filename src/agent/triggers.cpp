#include "agent/triggers.hpp"

namespace deskaudit::agent {

std::string TriggerMatch::what() const {
  const char* subject = trigger.kind == policy::TriggerKind::process ? "process"
                        : trigger.kind == policy::TriggerKind::app   ? "window class"
                                                                     : "window title";
  return std::string(subject) + " \"" + value + "\" matches \"" + trigger.pattern + "\"";
}

std::optional<TriggerMatch> matching_trigger(const std::vector<policy::Trigger>& triggers,
                                             const activity::ActivityState& state) {
  for (const auto& t : triggers) {
    switch (t.kind) {
      case policy::TriggerKind::process:
        for (const auto& name : state.processes) {
          if (policy::glob_matches(t.pattern, name)) return TriggerMatch{t, name};
        }
        break;
      case policy::TriggerKind::app:
        if (!state.app.empty() && policy::glob_matches(t.pattern, state.app)) return TriggerMatch{t, state.app};
        break;
      case policy::TriggerKind::window_title:
        // No active window (or one without a title) is not a title "".
        if (!state.title.empty() && policy::glob_matches(t.pattern, state.title)) {
          return TriggerMatch{t, state.title};
        }
        break;
    }
  }
  return std::nullopt;
}

bool TriggerWindow::update(Time now, bool trigger_on) {
  if (trigger_on) last_on_ = now;
  return last_on_ && now - *last_on_ < post_event_;
}

}  // namespace deskaudit::agent
