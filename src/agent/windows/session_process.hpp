#pragma once
// A process started in a user's interactive session, on its desktop
// (winsta0\default): the per-session capture helper of the service. A service
// runs in session 0, which has no user desktop; the helper is started with the
// user's token there. The helper is asked to stop through an event whose handle
// it inherits (passed as "--stop-event <handle>"), and its exit is watched.
#include <windows.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "agent/windows/win_util.hpp"
#include "common/error.hpp"

namespace deskaudit::agent::windows {

enum class LaunchPath {
  user_token,    // WTSQueryUserToken + CreateProcessAsUserW (a service, as LocalSystem; Wine too)
  system_token,  // this service's own (SYSTEM) token moved to the session + CreateProcessAsUserW
  own_token,     // CreateProcessW: not a service, the helper runs in this process's own session
};
std::string_view launch_path_name(LaunchPath path) noexcept;  // "user_token", "system_token", "own_token"

// Whose helper it is.
enum class HelperAccount {
  // The signed-in user's: what the user may do, the user's environment.
  user,
  // SYSTEM, on the user's desktop: reaches the protected ProgramData directory
  // (spool, credentials) that the user cannot, and cannot be ended by the user.
  // The recording agent's helper.
  system,
};

struct SessionProcessOptions {
  DWORD session_id = 0;
  HelperAccount account = HelperAccount::user;
  std::wstring exe;        // full path of the helper executable
  std::wstring arguments;  // appended to the quoted exe; " --stop-event <handle>" is appended to them
};

class SessionProcess {
 public:
  // Starts the helper in options.session_id. For HelperAccount::user,
  // ERROR_NO_TOKEN from WTSQueryUserToken (nobody logged on there) is
  // Errc::not_found. Either account without the privilege to act for another
  // session (ERROR_PRIVILEGE_NOT_HELD: this process is no service) falls back
  // to CreateProcessW when this process runs in that session itself
  // (otherwise Errc::permission_denied).
  static Result<SessionProcess> launch(const SessionProcessOptions& options);

  SessionProcess(SessionProcess&&) noexcept;
  SessionProcess& operator=(SessionProcess&&) noexcept;
  ~SessionProcess();  // stops watching; the helper is left running (request_stop first)

  DWORD pid() const { return pid_; }
  LaunchPath path() const { return path_; }
  HANDLE process() const { return process_.get(); }
  // The session the helper really runs in (ProcessIdToSessionId).
  Result<DWORD> session_id() const;

  // Signals the helper's stop event; it finishes its fragment and exits.
  void request_stop();
  // The exit code once the helper has exited within timeout; empty if it still runs.
  Result<std::optional<DWORD>> wait_exit(std::chrono::milliseconds timeout) const;
  // Ends the helper at once (after request_stop and a wait went unanswered).
  Status terminate(UINT exit_code);
  // Calls on_exit(exit code) once, on a thread-pool thread, when the helper
  // exits (stopped, crashed or killed). At most one watch per process.
  Status watch(std::function<void(DWORD exit_code)> on_exit);

 private:
  SessionProcess() = default;
  void unwatch();
  HandlePtr process_;
  HandlePtr stop_event_;
  DWORD pid_ = 0;
  LaunchPath path_ = LaunchPath::user_token;
  HANDLE wait_ = nullptr;
  std::unique_ptr<std::function<void(DWORD)>> on_exit_;
};

// Helper side: the stop event named by "--stop-event <handle>" (inherited).
// Errc::invalid_argument when the value is no number or no usable event handle.
Result<HandlePtr> stop_event_from_argument(std::string_view value);

}  // namespace deskaudit::agent::windows
