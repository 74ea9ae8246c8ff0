#pragma once
// The agent's activity event sources for one recording, on one thread. On
// Linux (sources_x11.cpp):
// - windows: PropertyNotify of _NET_ACTIVE_WINDOW on the root window, and of
//   _NET_WM_NAME / WM_NAME on the active window (title changes), with its
//   WM_CLASS class, _NET_WM_PID and /proc/PID/comm; the window tree is
//   never polled. Needs a window manager that sets _NET_ACTIVE_WINDOW (EWMH).
// - app.start / app.exit of the session user's processes that live at least
//   kAppMinLifetime (ProcessWatcher).
// - idle / active: no input (the MIT-SCREEN-SAVER extension's idle time) and
//   no screen change (note_screen_change(), fed by the recorder) for
//   idle_after; idle is stamped with the last activity, active with the
//   activity that ended it. No periodic wakeups while active (one when
//   idle_after may have passed); while idle, input is checked every
//   idle_check_interval and a screen change wakes the collector at once.
// - lock / unlock: the X screen saver turning on / off (ScreenSaverNotify),
//   which is what lockers running on it use (xss-lock, xscreensaver,
//   light-locker); a desktop that locks only over its own D-Bus interface
//   (GNOME Shell, KDE) is not seen.
// - resolution: RandR ScreenChangeNotify.
// On Windows (sources_windows.cpp): the window in front and its title
// (checked every second; the app is the window class, the
// process the executable's file name), idle (GetLastInputInfo and screen
// changes), resolution (the virtual screen), and the user processes of the
// collector's own session; no lock events (a locked workstation ends the
// agent's session).
// Others (session, recording state) come in through add().
// Nothing reads keystrokes, the clipboard or command lines.
//
// Thread safety: every public member may be called from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "activity/document.hpp"

namespace deskaudit::activity {

// The least lifetime of a process reported by the agent: programs a user
// starts live longer; a shell's `sleep 2` or one xdotool call are noise in a
// timeline (and most of the bytes of an events document).
inline constexpr std::chrono::milliseconds kAppMinLifetime{3000};

struct CollectorOptions {
  // Linux: the X display (":1"); Windows: any name ("desktop") for the
  // desktop of the collector's process. Empty: no desktop sources (and on
  // Windows no app events).
  std::string display;
  // Linux: whose processes; nullopt: no app events. Windows: not used
  // (app_events_need_uid()).
  std::optional<std::uint32_t> uid;
  std::chrono::milliseconds idle_after{30000};
  // Process scan. Reported are the processes living kAppMinLifetime (or
  // scan_interval if longer): a scan sees every process living that long,
  // and one it saw young is reported at its exit if it lived long enough.
  std::chrono::milliseconds scan_interval{3000};
  // While idle: how often input is checked (MIT-SCREEN-SAVER); a screen
  // change ends idleness at once. While active, the collector wakes only
  // when idle_after has passed since the last activity it knows of.
  std::chrono::milliseconds idle_check_interval{5000};
  // Sees every event as it is collected (any thread that adds one; must not
  // block): the agent's debug log, tests waiting for an event.
  std::function<void(const Event&)> on_event;
};

// What runs and what is in front now, for event-triggered recording
// (agent/triggers.hpp): the session user's processes the app source watches
// (ProcessWatcher::running_names: a process is in it from the first scan
// or once it has lived kAppMinLifetime, until it exits), and the active
// window's class, title and process as in the last window event.
struct ActivityState {
  std::vector<std::string> processes;
  std::string app;
  std::string title;
  std::string process;
};

// Media time of a steady-clock instant (Recorder::media_ms_at).
using MediaClock = std::function<std::optional<std::int64_t>(SteadyTime)>;

// Whether app events need CollectorOptions::uid (Linux); on Windows they are
// the user processes of the collector's session.
bool app_events_need_uid();

class Collector {
 public:
  // A display that cannot be opened is not an error: the X sources are off
  // and sources() says so (the recorder reports the display itself).
  static Result<std::unique_ptr<Collector>> start(CollectorOptions options);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  void stop();
  void add(Event event);
  // The screen changed at t (beyond a clock ticking: the recorder leaves
  // out small areas in constant motion). Cheap: one atomic store.
  void note_screen_change(SteadyTime t);
  void set_idle_after(std::chrono::milliseconds idle_after);

  // Removes and returns the events whose media time is before end_ms (every
  // event when end_ms is nullopt: the recording's last segment), as
  // TimedEvents; a media time before start_ms (an event noticed after its
  // segment closed, e.g. idle stamped with the last activity, or one from
  // before the first frame) becomes start_ms.
  std::vector<TimedEvent> take(const MediaClock& media_of, std::int64_t start_ms, std::optional<std::int64_t> end_ms);

  // Forgets the events collected before t (an armed event-mode agent keeps
  // none from before its pre-event ring).
  void drop_before(SteadyTime t);
  ActivityState state() const;

  // Which sources run ("windows, apps, idle(input+screen), lock, resolution").
  std::string sources() const;
  // CPU time used by the collector's thread so far.
  std::chrono::nanoseconds cpu_time() const;

 private:
  explicit Collector(CollectorOptions options);
  void run();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskaudit::activity
