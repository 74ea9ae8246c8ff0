#pragma once
// The recording notice shown to the user: a message box in the user's session
// that closes itself after a timeout and never holds up recording.
#include <windows.h>

#include <chrono>
#include <future>
#include <string>

#include "common/error.hpp"

namespace deskaudit::agent::windows {

struct Notice {
  std::wstring title;
  std::wstring text;
  std::chrono::seconds timeout{30};  // the box closes itself after this
};

// From the service: WTSSendMessageW into session_id without waiting for an
// answer (bWait FALSE: it returns at once). Errc::unavailable when the message
// could not be sent (Wine 8 implements no WTSSendMessageW): the capture helper
// then shows the notice itself with show_notice_box.
Status send_session_notice(DWORD session_id, const Notice& notice);

enum class NoticeOutcome {
  acknowledged,  // the user pressed OK (or closed the box)
  timed_out,     // closed by the timeout
};

// From a process in the user's session (the capture helper): a MessageBoxW on
// a thread of its own, closed after notice.timeout; returns at once. The
// future tells how it ended (or the error of MessageBoxW).
std::future<Result<NoticeOutcome>> show_notice_box(Notice notice);

}  // namespace deskaudit::agent::windows
