#pragma once
// The service's work on Windows: a service runs in session 0, which has no
// user desktop, so it starts the recording agent as a helper on the desktop of
// the user's session (SessionProcess, as SYSTEM so that it reaches the
// protected spool) and supervises it: started when the session starts,
// restarted when it dies while the session lasts, stopped when the session ends
// or the service stops.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/windows/session_process.hpp"
#include "agent/windows/sessions.hpp"

namespace deskaudit::agent::windows {

struct SupervisorOptions {
  std::wstring helper_exe;        // full path
  std::wstring helper_arguments;  // " --stop-event <handle>" is appended by SessionProcess
  HelperAccount account = HelperAccount::system;
  std::chrono::milliseconds poll_interval{5000};  // session polling fallback
  std::chrono::milliseconds restart_delay{5000};  // after the helper died while its session lasts
  std::chrono::milliseconds stop_timeout{60000};  // for the helper to finish its fragment and upload
};

// One helper at a time: in the first session that starts (a multi-session host
// records that one session; docs/windows.md), the next one when it ends. The
// sessions signed in but not recorded are logged as a warning (and so reach
// the Event Log) whenever they change, so no user goes unrecorded unnoticed.
class SessionSupervisor {
 public:
  SessionSupervisor(SupervisorOptions options, SessionWatcher::Enumerate enumerate);
  // From the control handler; thread-safe, returns at once.
  void post(const SessionEvent& event);
  // Until stop; then the helper is asked to stop and waited for (ended after
  // stop_timeout). Launch failures are logged and retried after restart_delay.
  void run(std::stop_token stop);
  // For tests: the pid of the current helper (0: none) and how many were started.
  DWORD helper_pid() const;
  int helpers_started() const;
  // The sessions started and not ended that no helper records (ascending).
  std::vector<DWORD> unrecorded_sessions() const;

 private:
  void on_update(const SessionUpdate& update);
  void stop_helper();

  SupervisorOptions options_;
  SessionWatcher watcher_;
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::deque<SessionUpdate> updates_;
  bool helper_exited_ = false;
  std::optional<DWORD> session_;  // the recorded session
  std::optional<SessionProcess> helper_;
  DWORD helper_pid_ = 0;
  int helpers_started_ = 0;
  std::set<DWORD> unrecorded_;
};

}  // namespace deskaudit::agent::windows
