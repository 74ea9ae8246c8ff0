// Windows side of the agent's platform seam (desktop.hpp): the "display" is
// the interactive desktop of the agent's own session (what the GDI capture
// reads), its user the one signed in to that session, the notice a message
// box. A service in session 0 has no such desktop: there the service host
// starts the agent in the user's session (src/agent/windows, docs/windows.md).
#include <windows.h>
#include <knownfolders.h>
#include <shlobj.h>
#include <wtsapi32.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent/desktop.hpp"
#include "agent/state.hpp"
#include "agent/windows/notice.hpp"
#include "common/text.hpp"
#include "common/utf16.hpp"

namespace deskaudit::agent {
namespace {

// Set when Windows ends the session (logoff, shutdown): WM_ENDSESSION to our
// hidden top-level window. The session is over for good for this process.
std::atomic<bool> g_session_ending{false};
// The agent has closed the session's recording (display_session_closed()).
std::mutex g_closed_mu;
std::condition_variable g_closed_cv;
bool g_closed = false;
// How long WM_ENDSESSION waits for that: Windows ends a process that holds
// a logoff up for longer (WaitToKillAppTimeout's default is 5 s).
constexpr auto kEndSessionWait = std::chrono::milliseconds(4500);

LRESULT CALLBACK session_window_proc(HWND window, UINT message, WPARAM wparam, LPARAM lparam) {
  if (message == WM_QUERYENDSESSION) return TRUE;  // recording never holds a logoff up
  if (message == WM_ENDSESSION) {
    if (wparam != 0) {
      // Once this returns the process may be ended: wait until the agent has
      // closed the recording (its last fragment is then on disk and the
      // spool says "complete"; the upload goes on at the next start).
      std::unique_lock lock(g_closed_mu);
      g_closed = false;
      g_session_ending = true;
      g_closed_cv.wait_for(lock, kEndSessionWait, [] { return g_closed; });
    }
    return 0;
  }
  return DefWindowProcW(window, message, wparam, lparam);
}

// A hidden top-level window on a thread of its own, so the process learns of
// the session's end as every application in the session does.
void watch_session_end() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::thread([] {
      WNDCLASSW wc{};
      wc.lpfnWndProc = session_window_proc;
      wc.hInstance = GetModuleHandleW(nullptr);
      wc.lpszClassName = L"deskaudit-session";
      if (RegisterClassW(&wc) == 0) return;
      HWND window = CreateWindowExW(0, wc.lpszClassName, L"deskaudit", 0, 0, 0, 0, 0, nullptr, nullptr, wc.hInstance,
                                    nullptr);
      if (window == nullptr) return;
      MSG msg;
      while (GetMessageW(&msg, nullptr, 0, 0) > 0) {
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
      }
    }).detach();
  });
}

}  // namespace

Result<int> display_number(std::string_view d) {
  if (d == "desktop") return 0;
  return fail(Errc::invalid_argument,
              "display '" + std::string(d.substr(0, 64)) +
                  "': the Windows agent records the desktop of its session (give \"desktop\")",
              "display");
}

std::string default_display() { return "desktop"; }

std::filesystem::path default_state_dir() {
  wchar_t* path = nullptr;
  std::filesystem::path dir = L"C:\\ProgramData";
  if (SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &path) == S_OK && path != nullptr) dir = path;
  if (path != nullptr) CoTaskMemFree(path);
  return dir / "deskaudit";
}

Result<std::string> display_owner(int /*number*/) {
  DWORD session = 0;
  if (!ProcessIdToSessionId(GetCurrentProcessId(), &session)) {
    return fail(Errc::not_found, "the agent's session is unknown (error " + std::to_string(GetLastError()) + ")");
  }
  wchar_t* name = nullptr;
  DWORD bytes = 0;
  std::string user;
  if (WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, session, WTSUserName, &name, &bytes) && name != nullptr) {
    user = narrow(name);
  }
  if (name != nullptr) WTSFreeMemory(name);
  if (user.empty()) {
    return fail(Errc::not_found, "no user is signed in to session " + std::to_string(session) + ": pass --user");
  }
  return user;
}

bool display_present(int /*number*/) {
  watch_session_end();
  if (g_session_ending) return false;
  // The desktop that receives input: absent in session 0 and while the
  // workstation is locked (the secure desktop then has it).
  HDESK desk = OpenInputDesktop(0, FALSE, DESKTOP_READOBJECTS);
  if (desk == nullptr) return false;
  CloseDesktop(desk);
  return true;
}

void display_session_closed() {
  if (!g_session_ending) return;
  {
    std::lock_guard lock(g_closed_mu);
    g_closed = true;
  }
  g_closed_cv.notify_all();
}

std::string host_name() {
  wchar_t buf[256] = {};
  DWORD size = 255;
  if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &size) || size == 0) return "unknown";
  return utf8_truncate(narrow(std::wstring_view(buf, size)), kMaxNameBytes);
}

std::string os_name() {
  // GetVersionEx lies to programs without a manifest; ntdll's RtlGetVersion does not.
  using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
  OSVERSIONINFOW v{};
  v.dwOSVersionInfoSize = sizeof v;
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  const auto get = ntdll != nullptr
                       ? reinterpret_cast<RtlGetVersionFn>(reinterpret_cast<void*>(GetProcAddress(ntdll, "RtlGetVersion")))
                       : nullptr;
  if (get == nullptr || get(&v) != 0) return "Windows";
  return utf8_truncate("Windows " + std::to_string(v.dwMajorVersion) + "." + std::to_string(v.dwMinorVersion) + "." +
                           std::to_string(v.dwBuildNumber),
                       kMaxNameBytes);
}

std::optional<std::uint32_t> local_user_id(const std::string& /*username*/) { return std::nullopt; }

Status NoticeShower::show(const std::string& /*display*/, const std::string& message, int timeout_s) {
  // A message box on a thread of its own, closed after the timeout
  // (agent/windows/notice.hpp): recording goes on and a stopping agent need
  // not wait. Nobody waits for its outcome either.
  windows::show_notice_box({L"deskaudit", widen(message.empty() ? std::string("This session is recorded.") : message),
                            std::chrono::seconds(std::max(timeout_s, 1))});
  return {};
}

void NoticeShower::reap() {}

NoticeShower::~NoticeShower() = default;

}  // namespace deskaudit::agent
