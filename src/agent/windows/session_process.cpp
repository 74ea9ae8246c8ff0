#include "agent/windows/session_process.hpp"

#include <userenv.h>
#include <wtsapi32.h>

#include <charconv>
#include <cstdint>
#include <vector>

namespace deskaudit::agent::windows {
namespace {

struct EnvironmentDestroyer {
  void operator()(void* env) const noexcept { DestroyEnvironmentBlock(env); }
};
using EnvironmentPtr = std::unique_ptr<void, EnvironmentDestroyer>;

struct AttributeListDeleter {
  void operator()(LPPROC_THREAD_ATTRIBUTE_LIST list) const noexcept {
    DeleteProcThreadAttributeList(list);
    delete[] reinterpret_cast<std::byte*>(list);
  }
};
using AttributeListPtr = std::unique_ptr<std::remove_pointer_t<LPPROC_THREAD_ATTRIBUTE_LIST>, AttributeListDeleter>;

// An attribute list that lets the child inherit exactly `handle`.
Result<AttributeListPtr> inherit_only(HANDLE* handle) {
  SIZE_T size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
  if (size == 0) return fail(Errc::internal, win_error("InitializeProcThreadAttributeList"));
  auto* raw = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(new std::byte[size]);
  if (!InitializeProcThreadAttributeList(raw, 1, 0, &size)) {
    const DWORD e = GetLastError();
    delete[] reinterpret_cast<std::byte*>(raw);
    return fail(Errc::internal, win_error("InitializeProcThreadAttributeList", e));
  }
  AttributeListPtr list(raw);
  if (!UpdateProcThreadAttribute(list.get(), 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handle, sizeof(HANDLE), nullptr,
                                 nullptr))
    return fail(Errc::internal, win_error("UpdateProcThreadAttribute(HANDLE_LIST)"));
  return list;
}

}  // namespace

std::string_view launch_path_name(LaunchPath path) noexcept {
  switch (path) {
    case LaunchPath::user_token: return "user_token";
    case LaunchPath::system_token: return "system_token";
    case LaunchPath::own_token: return "own_token";
  }
  return "unknown";
}

namespace {

// A primary token for a process in session_id: the user's, or this process's
// own (SYSTEM for a service) moved to that session. Empty with the Windows
// error when it cannot be had.
std::pair<HandlePtr, DWORD> session_token(HelperAccount account, DWORD session_id) {
  HANDLE raw = nullptr;
  if (account == HelperAccount::user) {
    if (!WTSQueryUserToken(session_id, &raw)) return {nullptr, GetLastError()};
    return {HandlePtr(raw), ERROR_SUCCESS};
  }
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_DUPLICATE | TOKEN_QUERY, &raw)) return {nullptr, GetLastError()};
  HandlePtr own(raw);
  raw = nullptr;
  if (!DuplicateTokenEx(own.get(), MAXIMUM_ALLOWED, nullptr, SecurityImpersonation, TokenPrimary, &raw))
    return {nullptr, GetLastError()};
  HandlePtr token(raw);
  // Needs SeTcbPrivilege, which LocalSystem holds.
  DWORD id = session_id;
  if (!SetTokenInformation(token.get(), TokenSessionId, &id, sizeof(id))) return {nullptr, GetLastError()};
  return {std::move(token), ERROR_SUCCESS};
}

}  // namespace

Result<SessionProcess> SessionProcess::launch(const SessionProcessOptions& options) {
  SessionProcess out;
  auto [token, e] = session_token(options.account, options.session_id);
  if (token) {
    out.path_ = options.account == HelperAccount::user ? LaunchPath::user_token : LaunchPath::system_token;
  } else {
    if (e == ERROR_NO_TOKEN)
      return fail(Errc::not_found, "no user is logged on to session " + std::to_string(options.session_id));
    DWORD own = 0;
    if (e != ERROR_PRIVILEGE_NOT_HELD || !ProcessIdToSessionId(GetCurrentProcessId(), &own) ||
        own != options.session_id)
      return fail(e == ERROR_PRIVILEGE_NOT_HELD ? Errc::permission_denied : Errc::unavailable,
                  win_error("a token for session " + std::to_string(options.session_id) +
                                " (the service runs as LocalSystem)",
                            e));
    out.path_ = LaunchPath::own_token;
  }

  // Manual reset: once asked to stop, the helper stays asked.
  SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  out.stop_event_.reset(CreateEventW(&inheritable, TRUE, FALSE, nullptr));
  if (!out.stop_event_) return fail(Errc::internal, win_error("CreateEventW"));
  HANDLE inherited = out.stop_event_.get();
  auto attributes = inherit_only(&inherited);
  if (!attributes) return std::unexpected(attributes.error());

  std::wstring command = L"\"" + options.exe + L"\"";
  if (!options.arguments.empty()) command += L" " + options.arguments;
  command += L" --stop-event " + std::to_wstring(reinterpret_cast<std::uintptr_t>(inherited));

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof(si);
  std::wstring desktop = L"winsta0\\default";
  si.StartupInfo.lpDesktop = desktop.data();
  si.lpAttributeList = attributes->get();
  PROCESS_INFORMATION pi{};
  DWORD flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW;
  BOOL ok = FALSE;
  if (out.path_ != LaunchPath::own_token) {
    // The token's environment (the user's profile paths and TEMP for a user).
    void* env_raw = nullptr;
    if (!CreateEnvironmentBlock(&env_raw, token.get(), FALSE))
      return fail(Errc::unavailable, win_error("CreateEnvironmentBlock"));
    EnvironmentPtr env(env_raw);
    ok = CreateProcessAsUserW(token.get(), options.exe.c_str(), command.data(), nullptr, nullptr, TRUE,
                              flags | CREATE_UNICODE_ENVIRONMENT, env.get(), nullptr, &si.StartupInfo, &pi);
  } else {
    ok = CreateProcessW(options.exe.c_str(), command.data(), nullptr, nullptr, TRUE, flags, nullptr, nullptr,
                        &si.StartupInfo, &pi);
  }
  if (!ok) {
    const DWORD e = GetLastError();
    return fail(e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? Errc::not_found : Errc::unavailable,
                win_error(std::string(out.path_ != LaunchPath::own_token ? "CreateProcessAsUserW " : "CreateProcessW ") +
                              narrow(options.exe),
                          e));
  }
  CloseHandle(pi.hThread);
  out.process_.reset(pi.hProcess);
  out.pid_ = pi.dwProcessId;
  return out;
}

SessionProcess::SessionProcess(SessionProcess&& other) noexcept { *this = std::move(other); }

SessionProcess& SessionProcess::operator=(SessionProcess&& other) noexcept {
  if (this != &other) {
    unwatch();
    process_ = std::move(other.process_);
    stop_event_ = std::move(other.stop_event_);
    pid_ = other.pid_;
    path_ = other.path_;
    // The callback's context is the heap-held function, so a watch survives the move.
    wait_ = std::exchange(other.wait_, nullptr);
    on_exit_ = std::move(other.on_exit_);
  }
  return *this;
}

SessionProcess::~SessionProcess() { unwatch(); }

void SessionProcess::unwatch() {
  // INVALID_HANDLE_VALUE: waits for a running callback to finish.
  if (wait_ != nullptr) UnregisterWaitEx(wait_, INVALID_HANDLE_VALUE);
  wait_ = nullptr;
  on_exit_.reset();
}

Result<DWORD> SessionProcess::session_id() const {
  DWORD id = 0;
  if (!ProcessIdToSessionId(pid_, &id)) return fail(Errc::unavailable, win_error("ProcessIdToSessionId"));
  return id;
}

void SessionProcess::request_stop() {
  if (stop_event_) SetEvent(stop_event_.get());
}

Result<std::optional<DWORD>> SessionProcess::wait_exit(std::chrono::milliseconds timeout) const {
  const DWORD r = WaitForSingleObject(process_.get(), static_cast<DWORD>(timeout.count()));
  if (r == WAIT_TIMEOUT) return std::optional<DWORD>{};
  if (r != WAIT_OBJECT_0) return fail(Errc::internal, win_error("WaitForSingleObject (helper process)"));
  DWORD code = 0;
  if (!GetExitCodeProcess(process_.get(), &code)) return fail(Errc::internal, win_error("GetExitCodeProcess"));
  return std::optional<DWORD>{code};
}

Status SessionProcess::terminate(UINT exit_code) {
  if (!TerminateProcess(process_.get(), exit_code) && GetLastError() != ERROR_ACCESS_DENIED)
    return fail(Errc::internal, win_error("TerminateProcess"));
  return {};
}

Status SessionProcess::watch(std::function<void(DWORD exit_code)> on_exit) {
  if (wait_ != nullptr) return fail(Errc::conflict, "the helper is watched already");
  on_exit_ = std::make_unique<std::function<void(DWORD)>>(std::move(on_exit));
  // The callback gets the process handle through a duplicate owned by the
  // callback's function object, so it never reads this (movable) object.
  HANDLE dup = nullptr;
  if (!DuplicateHandle(GetCurrentProcess(), process_.get(), GetCurrentProcess(), &dup, 0, FALSE,
                       DUPLICATE_SAME_ACCESS))
    return fail(Errc::internal, win_error("DuplicateHandle"));
  auto shared = std::make_shared<HandlePtr>(dup);
  auto inner = std::move(*on_exit_);
  *on_exit_ = [shared, inner = std::move(inner)](DWORD) {
    DWORD code = 0;
    GetExitCodeProcess(shared->get(), &code);
    inner(code);
  };
  if (!RegisterWaitForSingleObject(
          &wait_, dup,
          [](void* context, BOOLEAN) { (*static_cast<std::function<void(DWORD)>*>(context))(0); },
          on_exit_.get(), INFINITE, WT_EXECUTEONLYONCE)) {
    wait_ = nullptr;
    on_exit_.reset();
    return fail(Errc::internal, win_error("RegisterWaitForSingleObject"));
  }
  return {};
}

Result<HandlePtr> stop_event_from_argument(std::string_view value) {
  std::uintptr_t number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc{} || end != value.data() + value.size() || number == 0)
    return fail(Errc::invalid_argument, "--stop-event: not a handle number: " + std::string(value));
  auto* handle = reinterpret_cast<HANDLE>(number);
  const DWORD r = WaitForSingleObject(handle, 0);
  if (r != WAIT_OBJECT_0 && r != WAIT_TIMEOUT)
    return fail(Errc::invalid_argument, win_error("--stop-event " + std::string(value) + ": not an event handle"));
  return HandlePtr(handle);
}

}  // namespace deskaudit::agent::windows
