#pragma once
// Which interactive sessions exist, from the service control handler's session
// change events, with a polling fallback: the SCM's events are not guaranteed
// (a service that starts after a logon hears nothing of it; Wine sends none).
#include <windows.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "agent/windows/service.hpp"
#include "common/error.hpp"

namespace deskaudit::agent::windows {

struct SessionInfo {
  DWORD id = 0;
  bool connected = true;       // someone is attached (console or remote); false: disconnected, still logged on
  std::optional<bool> locked;  // empty: unknown (Windows 7+ report it; Wine does not)
};

enum class SessionSource {
  enumeration,       // WTSEnumerateSessionsW: the logged-on sessions
  console_fallback,  // enumeration gave nothing: the active console session (Wine 8 enumerates 0 sessions)
};

struct SessionSnapshot {
  std::vector<SessionInfo> sessions;
  SessionSource source = SessionSource::enumeration;
};

// The logged-on interactive sessions now: WTSEnumerateSessionsW without
// session 0 and without sessions that have no user (a logon screen), the lock
// state from WTSQuerySessionInformationW(WTSSessionInfoEx) where it answers.
// When the enumeration lists no session at all, the active console session
// (WTSGetActiveConsoleSessionId) stands for the one user: source
// console_fallback. No console session either: an empty snapshot.
Result<SessionSnapshot> enumerate_sessions();

struct SessionUpdate {
  enum class Kind { started, ended, locked, unlocked, connected, disconnected };
  Kind kind = Kind::started;
  DWORD session_id = 0;
  friend bool operator==(const SessionUpdate&, const SessionUpdate&) = default;
};
std::string_view session_update_name(SessionUpdate::Kind kind) noexcept;

// The known sessions and what changed. Not thread-safe (SessionWatcher
// serialises it).
class SessionTracker {
 public:
  // An event from the control handler. A logon starts a session, a logoff ends
  // it; lock/unlock/connect/disconnect of a session not known yet start it
  // first (the service may have started after its logon), except a connect,
  // which may be a logon screen (the logon event or the next poll says).
  std::vector<SessionUpdate> apply(const SessionEvent& event);
  // A poll: sessions not seen before start, sessions gone end, connection and
  // (when the snapshot knows it) lock state follow the snapshot.
  std::vector<SessionUpdate> reconcile(const SessionSnapshot& snapshot);
  std::vector<SessionInfo> sessions() const;

 private:
  std::vector<SessionUpdate> start(DWORD id, SessionInfo info);
  std::map<DWORD, SessionInfo> sessions_;
};

// Runs a SessionTracker on the caller's thread: applies the events posted by
// the control handler as they come, and polls every poll_interval (and once at
// the start). Updates go to on_update on that thread.
class SessionWatcher {
 public:
  using Enumerate = std::function<Result<SessionSnapshot>()>;
  using OnUpdate = std::function<void(const SessionUpdate&)>;
  SessionWatcher(Enumerate enumerate, OnUpdate on_update, std::chrono::milliseconds poll_interval);
  // Thread-safe; returns at once.
  void post(const SessionEvent& event);
  // Until stop is requested.
  void run(std::stop_token stop);
  // The source of the last successful poll (empty before the first).
  std::optional<SessionSource> last_source() const;

 private:
  Enumerate enumerate_;
  OnUpdate on_update_;
  std::chrono::milliseconds poll_interval_;
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::deque<SessionEvent> events_;
  std::optional<SessionSource> last_source_;
  SessionTracker tracker_;
};

}  // namespace deskaudit::agent::windows
