#pragma once
// Event-triggered recording (policy mode "events"): which trigger is on now,
// from what the activity collector sees (activity::ActivityState), and when
// a recording starts and ends around the triggers.
// Pure values and functions; TriggerWindow is thread-compatible.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "activity/collector.hpp"
#include "policy/policy.hpp"

namespace deskaudit::agent {

// The first trigger that matches: a running process named by a `process`
// pattern, the active window's class by an `app` pattern, or its title by a
// `window_title` pattern (policy::glob_matches). `what` says why, for the
// log and the recording's events: `process "gimp-2.10" matches "gimp*"`.
struct TriggerMatch {
  policy::Trigger trigger;
  std::string value;  // the process name, class or title that matched
  std::string what() const;
};
std::optional<TriggerMatch> matching_trigger(const std::vector<policy::Trigger>& triggers,
                                             const activity::ActivityState& state);

// When a recording runs in events mode: from the first instant a trigger is
// seen on until post_event after the last instant one was seen on (a trigger
// seen again meanwhile extends it). Fed at each look (about a second apart),
// so the end is exact to one look.
class TriggerWindow {
 public:
  using Time = std::chrono::steady_clock::time_point;
  explicit TriggerWindow(std::chrono::milliseconds post_event) : post_event_(post_event) {}
  void set_post_event(std::chrono::milliseconds post_event) { post_event_ = post_event; }
  // Notes whether a trigger is on at `now`; returns whether the recording
  // should run.
  bool update(Time now, bool trigger_on);
  // The instant the last trigger was last seen on (set once one was).
  std::optional<Time> last_on() const { return last_on_; }

 private:
  std::chrono::milliseconds post_event_;
  std::optional<Time> last_on_;
};

}  // namespace deskaudit::agent
