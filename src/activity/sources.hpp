#pragma once
// The platform half of a Collector (collector.hpp), private to the library:
// the desktop's event sources (the window in front and its title, input
// idleness, lock, resolution, the user's processes) and the wait of the
// collector's thread on them. collector.cpp holds everything else once (the
// events, the state, the idle rule, the loop); sources_x11.cpp (X11 and /proc)
// and sources_windows.cpp (Win32) are the two platforms.
//
// Thread safety: a Sources is made by Collector::start() and then used only
// by the collector's thread (open() may run on another thread, before it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "activity/collector.hpp"
#include "common/wakeup.hpp"

namespace deskaudit::activity {

// Where sources put what they see (Collector's state and event list).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void push(Event e) = 0;
  // The names of the user's processes running now (ActivityState::processes).
  virtual void set_processes(std::vector<std::string> names) = 0;
};

class Sources {
 public:
  // Opens what the options ask for; a source that cannot be opened is off
  // (and logged), never an error: describe() says what runs.
  static std::unique_ptr<Sources> open(const CollectorOptions& options);
  virtual ~Sources() = default;

  // "windows, idle(input+screen), lock, resolution, apps" for what runs;
  // "idle(screen)" when nothing but the recorder's screen changes.
  virtual std::string describe() const = 0;

  // On the collector's thread, before the loop: the sink every later call
  // pushes to, and the state at the start (the window in front).
  virtual void begin(SteadyTime now, EventSink& sink) = 0;

  // Work due at `now` (a process scan); returns when it is next due
  // (SteadyTime::max(): never).
  virtual SteadyTime tick(SteadyTime now) = 0;

  // Whether input idleness is known (input_idle_ms() answers).
  virtual bool has_input_idle() const = 0;
  // Milliseconds since the last input; nullopt when not known (now).
  virtual std::optional<std::int64_t> input_idle_ms() = 0;

  enum class Woken { deadline, stop, wake };
  // Blocks until `stop` or `wake` is signalled (stop first), or until
  // `deadline`, handling what the sources report meanwhile (their events
  // are pushed to begin()'s sink). The wakeups are not reset here.
  virtual Woken wait(const Wakeup& stop, const Wakeup& wake, SteadyTime deadline) = 0;
};

// The CPU clock of the calling thread, readable from any thread while that
// thread runs: CPU time used so far, 0 if it cannot be read.
using ThreadCpuClock = std::function<std::chrono::nanoseconds()>;
ThreadCpuClock this_thread_cpu_clock();

}  // namespace deskaudit::activity
