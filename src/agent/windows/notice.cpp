#include "agent/windows/notice.hpp"

#include <wtsapi32.h>

#include <atomic>
#include <thread>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

// The box's thread: which box the timer closes, and whether it did.
struct BoxThread {
  std::wstring title;
  std::atomic<bool> timed_out{false};
};
thread_local BoxThread* t_box = nullptr;

BOOL CALLBACK close_box(HWND window, LPARAM /*param*/) {
  wchar_t title[256] = {};
  GetWindowTextW(window, title, 256);
  if (t_box != nullptr && t_box->title == title) {
    t_box->timed_out = true;
    // A message box ends on IDCANCEL/close even with only an OK button.
    PostMessageW(window, WM_CLOSE, 0, 0);
  }
  return TRUE;
}

// A thread timer: MessageBoxW's modal loop dispatches its WM_TIMER to this.
void CALLBACK on_timeout(HWND, UINT, UINT_PTR, DWORD) { EnumThreadWindows(GetCurrentThreadId(), close_box, 0); }

}  // namespace

Status send_session_notice(DWORD session_id, const Notice& notice) {
  std::wstring title = notice.title;
  std::wstring text = notice.text;
  DWORD response = 0;
  if (!WTSSendMessageW(WTS_CURRENT_SERVER_HANDLE, session_id, title.data(),
                       static_cast<DWORD>(title.size() * sizeof(wchar_t)), text.data(),
                       static_cast<DWORD>(text.size() * sizeof(wchar_t)), MB_OK | MB_ICONINFORMATION | MB_SETFOREGROUND,
                       static_cast<DWORD>(notice.timeout.count()), &response, FALSE))
    return fail(Errc::unavailable, win_error("WTSSendMessageW to session " + std::to_string(session_id)));
  return {};
}

std::future<Result<NoticeOutcome>> show_notice_box(Notice notice) {
  std::promise<Result<NoticeOutcome>> promise;
  auto future = promise.get_future();
  std::thread([notice = std::move(notice), promise = std::move(promise)]() mutable {
    BoxThread box;
    box.title = notice.title;
    t_box = &box;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(notice.timeout).count();
    const UINT_PTR timer = SetTimer(nullptr, 0, static_cast<UINT>(ms), on_timeout);
    const int r = MessageBoxW(nullptr, notice.text.c_str(), notice.title.c_str(),
                              MB_OK | MB_ICONINFORMATION | MB_SETFOREGROUND | MB_TOPMOST);
    const DWORD e = GetLastError();
    if (timer != 0) KillTimer(nullptr, timer);
    t_box = nullptr;
    if (r == 0)
      promise.set_value(fail(Errc::unavailable, win_error("MessageBoxW", e)));
    else
      promise.set_value(box.timed_out ? NoticeOutcome::timed_out : NoticeOutcome::acknowledged);
  }).detach();
  return future;
}

}  // namespace deskaudit::agent::windows
