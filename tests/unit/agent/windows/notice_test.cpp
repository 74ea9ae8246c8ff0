#include "agent/windows/notice.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

// Waits for the top-level window titled `title` (the box) to exist.
HWND wait_for_window(const std::wstring& title) {
  for (;;) {
    if (HWND w = FindWindowW(nullptr, title.c_str())) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The box is shown on a thread of its own: the caller goes on while it is up.
TEST(NoticeTest, TheBoxDoesNotBlockAndTheUserCanCloseIt) {
  const std::wstring title = L"deskaudit notice test " + std::to_wstring(GetCurrentProcessId());
  auto outcome = show_notice_box({title, L"This session is recorded.", std::chrono::seconds(3600)});
  HWND box = wait_for_window(title);
  EXPECT_EQ(outcome.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // The user presses OK.
  PostMessageW(box, WM_COMMAND, IDOK, 0);
  auto r = outcome.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, NoticeOutcome::acknowledged);
}

TEST(NoticeTest, TheBoxClosesItselfAfterTheTimeout) {
  const std::wstring title = L"deskaudit notice timeout " + std::to_wstring(GetCurrentProcessId());
  auto outcome = show_notice_box({title, L"This session is recorded.", std::chrono::seconds(1)});
  auto r = outcome.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, NoticeOutcome::timed_out);
  EXPECT_EQ(FindWindowW(nullptr, title.c_str()), nullptr);
}

// From the service: WTSSendMessageW. Wine 8 does not implement it (the
// helper's box is the fallback there); on Windows the message is sent.
TEST(NoticeTest, SendingToTheSessionWorksOrSaysItIsUnavailable) {
  DWORD session = 0;
  ProcessIdToSessionId(GetCurrentProcessId(), &session);
  auto st = send_session_notice(session, {L"deskaudit session notice", L"This session is recorded.",
                                          std::chrono::seconds(1)});
  if (running_under_wine()) {
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::unavailable);
    EXPECT_NE(st.error().message.find("WTSSendMessageW"), std::string::npos);
  } else {
    EXPECT_TRUE(st) << st.error().message;
  }
}

}  // namespace
}  // namespace deskaudit::agent::windows
