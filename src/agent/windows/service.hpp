#pragma once
// The Windows service life cycle of the agent: running under the service
// control manager (SCM), and installing/uninstalling the service.
#include <windows.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "common/error.hpp"

namespace deskaudit::agent::windows {

// A session change the SCM reports (SERVICE_CONTROL_SESSIONCHANGE, WTS_* codes).
enum class SessionChange {
  console_connect,
  console_disconnect,
  remote_connect,
  remote_disconnect,
  logon,
  logoff,
  lock,
  unlock,
};
std::string_view session_change_name(SessionChange change) noexcept;  // "logon", ...

struct SessionEvent {
  SessionChange change = SessionChange::logon;
  DWORD session_id = 0;
};

// The event of a SERVICE_CONTROL_SESSIONCHANGE control (event_type: WTS_*,
// event_data: WTSSESSION_NOTIFICATION); empty for the codes the agent does not
// use (remote control, session create/terminate) or without data.
std::optional<SessionEvent> session_event_from(DWORD event_type, const void* event_data);

struct ServiceCallbacks {
  // The service's work: runs on the service thread after the SCM was told
  // RUNNING, until it returns; stop is requested on STOP/SHUTDOWN. Its return
  // value is the service's exit code (0: stopped cleanly; otherwise reported
  // as a service-specific error, which the failure actions act on).
  std::function<int(std::stop_token stop)> run;
  // Called on the SCM's control thread for each session change; keep it short
  // (hand the event over to the run thread). May be empty.
  std::function<void(const SessionEvent&)> on_session_change;
};

// Runs this process as the service `name` (SERVICE_WIN32_OWN_PROCESS): blocks
// in StartServiceCtrlDispatcherW until the service has stopped and returns
// run's exit code. Reports START_PENDING, RUNNING (accepting STOP, SHUTDOWN
// and SESSIONCHANGE), STOP_PENDING and STOPPED. One service per process.
// Errc::unavailable when the process was not started by the SCM
// (ERROR_FAILED_SERVICE_CONTROLLER_CONNECT): the caller runs in the foreground.
Result<int> run_as_service(const std::wstring& name, ServiceCallbacks callbacks);

// True when the service control manager started this process (its parent is
// services.exe): `run` then runs as the service, otherwise in the foreground.
// Cheaper than trying StartServiceCtrlDispatcherW, which Wine answers only
// after seconds in a console process.
bool started_by_service_manager();

struct ServiceConfig {
  std::wstring name;          // e.g. L"deskaudit-agent"
  std::wstring display_name;  // shown in services.msc
  std::wstring description;
  std::wstring command_line;  // the quoted exe path and arguments, e.g. "\"C:\\...\\deskaudit-agent.exe\" run"
};

// Creates an auto-start LocalSystem service with the description and failure
// actions (restart after 5 s, 10 s, 60 s; the count resets after a day, and a
// non-zero exit code counts as a failure). Errc::conflict when a service of
// that name exists, Errc::permission_denied without administrator rights.
Status install_service(const ServiceConfig& config);

// Stops the service when it runs (waiting up to stop_timeout for STOPPED) and
// deletes it. Errc::not_found when no such service is installed.
Status uninstall_service(const std::wstring& name, std::chrono::milliseconds stop_timeout);

// Starts an installed service (StartServiceW) without waiting for RUNNING.
Status start_service(const std::wstring& name);

// The service's current state (SERVICE_RUNNING, SERVICE_STOPPED, ...).
Result<DWORD> query_service_state(const std::wstring& name);

// The command line of this executable with `arguments`: "\"<path of this exe>\" <arguments>".
Result<std::wstring> own_command_line(std::wstring_view arguments);

}  // namespace deskaudit::agent::windows
