#include "agent/windows/session_process.hpp"

#include <gtest/gtest.h>

#include "probe_exe.hpp"

#include <filesystem>
#include <future>

namespace deskaudit::agent::windows {
namespace {

DWORD own_session() {
  DWORD id = 0;
  ProcessIdToSessionId(GetCurrentProcessId(), &id);
  return id;
}

// The helper runs in the session asked for, is asked to stop through its
// event, and its exit (with its exit code) is seen by the watch.
TEST(SessionProcessTest, TheHelperStartsInTheSessionAndStopsWhenAsked) {
  auto helper = SessionProcess::launch({own_session(), HelperAccount::user, probe_exe(), L"helper 7"});
  ASSERT_TRUE(helper) << helper.error().message;
  // A service (LocalSystem) takes user_token; a console test on Windows lacks
  // SeTcbPrivilege and takes own_token; Wine grants the token to anyone.
  std::cout << "launch path: " << launch_path_name(helper->path()) << "\n";
  auto session = helper->session_id();
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ(*session, own_session());
  std::promise<DWORD> exited;
  ASSERT_TRUE(helper->watch([&](DWORD code) { exited.set_value(code); }));
  // Still running until asked: the exit is only seen after request_stop.
  auto still = helper->wait_exit(std::chrono::milliseconds(0));
  ASSERT_TRUE(still);
  EXPECT_FALSE(still->has_value());
  helper->request_stop();
  EXPECT_EQ(exited.get_future().get(), 7u);
  auto code = helper->wait_exit(std::chrono::milliseconds(INFINITE));
  ASSERT_TRUE(code && code->has_value());
  EXPECT_EQ(**code, 7u);
}

// The recording agent's helper: this process's own token moved to the
// session (SYSTEM under a service; under Wine any process may).
TEST(SessionProcessTest, ASystemHelperStartsInTheSession) {
  SessionProcessOptions options{own_session(), HelperAccount::system, probe_exe(), L"helper 5"};
  auto helper = SessionProcess::launch(options);
  ASSERT_TRUE(helper) << helper.error().message;
  std::cout << "launch path: " << launch_path_name(helper->path()) << "\n";
  EXPECT_NE(helper->path(), LaunchPath::user_token);
  auto session = helper->session_id();
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ(*session, own_session());
  helper->request_stop();
  auto code = helper->wait_exit(std::chrono::milliseconds(INFINITE));
  ASSERT_TRUE(code && code->has_value());
  EXPECT_EQ(**code, 5u);
}

// A helper killed (or crashed) is seen by the watch as well, also after the
// SessionProcess was moved.
TEST(SessionProcessTest, AKilledHelperIsSeen) {
  auto helper = SessionProcess::launch({own_session(), HelperAccount::user, probe_exe(), L"helper 0"});
  ASSERT_TRUE(helper) << helper.error().message;
  std::promise<DWORD> exited;
  ASSERT_TRUE(helper->watch([&](DWORD code) { exited.set_value(code); }));
  SessionProcess moved = std::move(*helper);
  ASSERT_TRUE(moved.terminate(99));
  EXPECT_EQ(exited.get_future().get(), 99u);
}

TEST(SessionProcessTest, AMissingHelperIsNotFound) {
  auto helper = SessionProcess::launch({own_session(), HelperAccount::user, L"C:\\no\\such\\helper.exe", L""});
  ASSERT_FALSE(helper);
  EXPECT_EQ(helper.error().code, Errc::not_found);
}

TEST(SessionProcessTest, TheStopEventArgumentIsChecked) {
  EXPECT_EQ(stop_event_from_argument("").error().code, Errc::invalid_argument);
  EXPECT_EQ(stop_event_from_argument("12x").error().code, Errc::invalid_argument);
  EXPECT_EQ(stop_event_from_argument("0").error().code, Errc::invalid_argument);
  // A number that is no handle of this process.
  EXPECT_EQ(stop_event_from_argument("123456").error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace deskaudit::agent::windows
