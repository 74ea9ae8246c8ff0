#include "agent/windows/service.hpp"

#include <tlhelp32.h>
#include <wtsapi32.h>

#include <array>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

// The SCM calls ServiceMain and the control handler as plain functions: the
// one service of this process keeps its state here.
struct ServiceState {
  std::wstring name;
  ServiceCallbacks callbacks;
  SERVICE_STATUS_HANDLE status_handle = nullptr;
  std::mutex mutex;  // SetServiceStatus from the service and the control threads
  SERVICE_STATUS status{};
  std::stop_source stop;
  int exit_code = 0;
};
ServiceState* g_service = nullptr;

void report(ServiceState& s, DWORD state, DWORD wait_hint_ms = 0) {
  std::lock_guard lock(s.mutex);
  s.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  s.status.dwCurrentState = state;
  s.status.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_SESSIONCHANGE : 0;
  s.status.dwWaitHint = wait_hint_ms;
  if (state == SERVICE_RUNNING || state == SERVICE_STOPPED)
    s.status.dwCheckPoint = 0;
  else
    ++s.status.dwCheckPoint;
  if (state == SERVICE_STOPPED && s.exit_code != 0) {
    s.status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
    s.status.dwServiceSpecificExitCode = static_cast<DWORD>(s.exit_code);
  } else {
    s.status.dwWin32ExitCode = NO_ERROR;
    s.status.dwServiceSpecificExitCode = 0;
  }
  if (!SetServiceStatus(s.status_handle, &s.status)) spdlog::warn("{}", win_error("SetServiceStatus"));
}

DWORD WINAPI control_handler(DWORD control, DWORD event_type, void* event_data, void* context) {
  auto& s = *static_cast<ServiceState*>(context);
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      report(s, SERVICE_STOP_PENDING, 30000);
      s.stop.request_stop();
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    case SERVICE_CONTROL_SESSIONCHANGE: {
      if (auto event = session_event_from(event_type, event_data); event && s.callbacks.on_session_change)
        s.callbacks.on_session_change(*event);
      return NO_ERROR;
    }
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI service_main(DWORD /*argc*/, wchar_t** /*argv*/) {
  auto& s = *g_service;
  s.status_handle = RegisterServiceCtrlHandlerExW(s.name.c_str(), control_handler, &s);
  if (s.status_handle == nullptr) {
    spdlog::error("{}", win_error("RegisterServiceCtrlHandlerExW"));
    s.exit_code = 1;
    return;
  }
  report(s, SERVICE_START_PENDING, 10000);
  report(s, SERVICE_RUNNING);
  try {
    s.exit_code = s.callbacks.run(s.stop.get_token());
  } catch (const std::exception& e) {
    spdlog::error("the service stopped on an unexpected error: {}", e.what());
    s.exit_code = 1;
  }
  report(s, SERVICE_STOPPED);
}

Result<ServiceHandlePtr> open_manager(DWORD access) {
  ServiceHandlePtr scm(OpenSCManagerW(nullptr, nullptr, access));
  if (!scm) {
    const DWORD e = GetLastError();
    return fail(e == ERROR_ACCESS_DENIED ? Errc::permission_denied : Errc::unavailable,
                win_error("OpenSCManagerW (administrator rights are needed)", e));
  }
  return scm;
}

Result<ServiceHandlePtr> open_service(SC_HANDLE scm, const std::wstring& name, DWORD access) {
  ServiceHandlePtr service(OpenServiceW(scm, name.c_str(), access));
  if (!service) {
    const DWORD e = GetLastError();
    const Errc code = e == ERROR_SERVICE_DOES_NOT_EXIST ? Errc::not_found
                      : e == ERROR_ACCESS_DENIED        ? Errc::permission_denied
                                                        : Errc::unavailable;
    return fail(code, win_error("OpenServiceW " + narrow(name), e));
  }
  return service;
}

}  // namespace

std::string_view session_change_name(SessionChange change) noexcept {
  switch (change) {
    case SessionChange::console_connect: return "console_connect";
    case SessionChange::console_disconnect: return "console_disconnect";
    case SessionChange::remote_connect: return "remote_connect";
    case SessionChange::remote_disconnect: return "remote_disconnect";
    case SessionChange::logon: return "logon";
    case SessionChange::logoff: return "logoff";
    case SessionChange::lock: return "lock";
    case SessionChange::unlock: return "unlock";
  }
  return "unknown";
}

std::optional<SessionEvent> session_event_from(DWORD event_type, const void* event_data) {
  if (event_data == nullptr) return std::nullopt;
  const DWORD id = static_cast<const WTSSESSION_NOTIFICATION*>(event_data)->dwSessionId;
  switch (event_type) {
    case WTS_CONSOLE_CONNECT: return SessionEvent{SessionChange::console_connect, id};
    case WTS_CONSOLE_DISCONNECT: return SessionEvent{SessionChange::console_disconnect, id};
    case WTS_REMOTE_CONNECT: return SessionEvent{SessionChange::remote_connect, id};
    case WTS_REMOTE_DISCONNECT: return SessionEvent{SessionChange::remote_disconnect, id};
    case WTS_SESSION_LOGON: return SessionEvent{SessionChange::logon, id};
    case WTS_SESSION_LOGOFF: return SessionEvent{SessionChange::logoff, id};
    case WTS_SESSION_LOCK: return SessionEvent{SessionChange::lock, id};
    case WTS_SESSION_UNLOCK: return SessionEvent{SessionChange::unlock, id};
    default: return std::nullopt;
  }
}

bool started_by_service_manager() {
  HandlePtr snapshot(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (!snapshot || snapshot.get() == INVALID_HANDLE_VALUE) {
    snapshot.release();
    return false;
  }
  const DWORD self = GetCurrentProcessId();
  DWORD parent = 0;
  PROCESSENTRY32W entry{};
  entry.dwSize = sizeof(entry);
  for (BOOL more = Process32FirstW(snapshot.get(), &entry); more; more = Process32NextW(snapshot.get(), &entry))
    if (entry.th32ProcessID == self) parent = entry.th32ParentProcessID;
  if (parent == 0) return false;
  entry.dwSize = sizeof(entry);
  for (BOOL more = Process32FirstW(snapshot.get(), &entry); more; more = Process32NextW(snapshot.get(), &entry))
    if (entry.th32ProcessID == parent) return _wcsicmp(entry.szExeFile, L"services.exe") == 0;
  return false;
}

Result<int> run_as_service(const std::wstring& name, ServiceCallbacks callbacks) {
  if (g_service != nullptr) return fail(Errc::internal, "run_as_service: a service already runs in this process");
  ServiceState state;
  state.name = name;
  state.callbacks = std::move(callbacks);
  g_service = &state;
  std::array<SERVICE_TABLE_ENTRYW, 2> table{};
  table[0].lpServiceName = state.name.data();
  table[0].lpServiceProc = service_main;
  const BOOL ok = StartServiceCtrlDispatcherW(table.data());
  const DWORD e = GetLastError();
  g_service = nullptr;
  if (!ok) {
    if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      return fail(Errc::unavailable, "not started by the service control manager");
    return fail(Errc::internal, win_error("StartServiceCtrlDispatcherW", e));
  }
  return state.exit_code;
}

Status install_service(const ServiceConfig& config) {
  auto scm = open_manager(SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
  if (!scm) return std::unexpected(scm.error());
  ServiceHandlePtr service(CreateServiceW(scm->get(), config.name.c_str(), config.display_name.c_str(),
                                          SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                          SERVICE_ERROR_NORMAL, config.command_line.c_str(), nullptr, nullptr,
                                          nullptr, nullptr /* LocalSystem */, nullptr));
  if (!service) {
    const DWORD e = GetLastError();
    const Errc code = e == ERROR_SERVICE_EXISTS        ? Errc::conflict
                      : e == ERROR_ACCESS_DENIED       ? Errc::permission_denied
                      : e == ERROR_DUPLICATE_SERVICE_NAME ? Errc::conflict
                                                          : Errc::unavailable;
    return fail(code, win_error("CreateServiceW " + narrow(config.name), e));
  }
  // A service half-configured is removed again: install is all or nothing.
  auto undo = [&](std::string message) -> Status {
    DeleteService(service.get());
    return fail(Errc::unavailable, std::move(message));
  };
  std::wstring description = config.description;
  SERVICE_DESCRIPTIONW desc{description.data()};
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_DESCRIPTION, &desc))
    return undo(win_error("ChangeServiceConfig2W (description)"));
  std::array<SC_ACTION, 3> actions{{{SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 10000}, {SC_ACTION_RESTART, 60000}}};
  SERVICE_FAILURE_ACTIONSW failure{};
  failure.dwResetPeriod = 24 * 60 * 60;
  failure.cActions = static_cast<DWORD>(actions.size());
  failure.lpsaActions = actions.data();
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS, &failure))
    return undo(win_error("ChangeServiceConfig2W (failure actions)"));
  SERVICE_FAILURE_ACTIONS_FLAG flag{TRUE};
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag)) {
    const DWORD e = GetLastError();
    // Wine 8's SCM knows no such level: the restarts then follow crashes only.
    if (e != ERROR_INVALID_LEVEL) return undo(win_error("ChangeServiceConfig2W (failure actions on a non-zero exit)", e));
    spdlog::warn("this service control manager restarts the service after a crash only, not after an error exit ({})",
                 win_error("ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG)", e));
  }
  return {};
}

Status uninstall_service(const std::wstring& name, std::chrono::milliseconds stop_timeout) {
  auto scm = open_manager(SC_MANAGER_CONNECT);
  if (!scm) return std::unexpected(scm.error());
  auto service = open_service(scm->get(), name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
  if (!service) return std::unexpected(service.error());
  SERVICE_STATUS status{};
  if (!QueryServiceStatus(service->get(), &status)) return fail(Errc::unavailable, win_error("QueryServiceStatus"));
  if (status.dwCurrentState != SERVICE_STOPPED) {
    if (!ControlService(service->get(), SERVICE_CONTROL_STOP, &status) && GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
      return fail(Errc::unavailable, win_error("ControlService (stop) " + narrow(name)));
    // The SCM offers no wait for a state: ask it again until STOPPED.
    const auto deadline = std::chrono::steady_clock::now() + stop_timeout;
    while (status.dwCurrentState != SERVICE_STOPPED) {
      if (std::chrono::steady_clock::now() >= deadline)
        return fail(Errc::unavailable, "the service " + narrow(name) + " did not stop within " +
                                           std::to_string(stop_timeout.count()) + " ms; not deleted");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!QueryServiceStatus(service->get(), &status))
        return fail(Errc::unavailable, win_error("QueryServiceStatus"));
    }
  }
  if (!DeleteService(service->get()) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE)
    return fail(Errc::unavailable, win_error("DeleteService " + narrow(name)));
  return {};
}

Status start_service(const std::wstring& name) {
  auto scm = open_manager(SC_MANAGER_CONNECT);
  if (!scm) return std::unexpected(scm.error());
  auto service = open_service(scm->get(), name, SERVICE_START);
  if (!service) return std::unexpected(service.error());
  if (!StartServiceW(service->get(), 0, nullptr) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING)
    return fail(Errc::unavailable, win_error("StartServiceW " + narrow(name)));
  return {};
}

Result<DWORD> query_service_state(const std::wstring& name) {
  auto scm = open_manager(SC_MANAGER_CONNECT);
  if (!scm) return std::unexpected(scm.error());
  auto service = open_service(scm->get(), name, SERVICE_QUERY_STATUS);
  if (!service) return std::unexpected(service.error());
  SERVICE_STATUS status{};
  if (!QueryServiceStatus(service->get(), &status)) return fail(Errc::unavailable, win_error("QueryServiceStatus"));
  return status.dwCurrentState;
}

Result<std::wstring> own_command_line(std::wstring_view arguments) {
  std::wstring path(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
    if (n == 0) return fail(Errc::internal, win_error("GetModuleFileNameW"));
    if (n < path.size()) {
      path.resize(n);
      break;
    }
    if (path.size() >= 32768) return fail(Errc::internal, "the path of this executable is too long");
    path.resize(path.size() * 2);
  }
  std::wstring out = L"\"" + path + L"\"";
  if (!arguments.empty()) out += L" " + std::wstring(arguments);
  return out;
}

}  // namespace deskaudit::agent::windows
