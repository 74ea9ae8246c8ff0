#include "agent/windows/service.hpp"

#include <wtsapi32.h>

#include <gtest/gtest.h>

namespace deskaudit::agent::windows {
namespace {

TEST(ServiceTest, AConsoleProcessIsNotAService) {
  auto r = run_as_service(L"deskaudit-not-started-by-scm", {[](std::stop_token) { return 0; }, {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("service control manager"), std::string::npos);
}

TEST(ServiceTest, ATestIsNotStartedByTheServiceManager) { EXPECT_FALSE(started_by_service_manager()); }

TEST(ServiceTest, SessionChangeControlsBecomeEvents) {
  WTSSESSION_NOTIFICATION n{sizeof(n), 7};
  const std::pair<DWORD, SessionChange> cases[] = {
      {WTS_CONSOLE_CONNECT, SessionChange::console_connect}, {WTS_CONSOLE_DISCONNECT, SessionChange::console_disconnect},
      {WTS_REMOTE_CONNECT, SessionChange::remote_connect},   {WTS_REMOTE_DISCONNECT, SessionChange::remote_disconnect},
      {WTS_SESSION_LOGON, SessionChange::logon},             {WTS_SESSION_LOGOFF, SessionChange::logoff},
      {WTS_SESSION_LOCK, SessionChange::lock},               {WTS_SESSION_UNLOCK, SessionChange::unlock},
  };
  for (const auto& [code, change] : cases) {
    auto e = session_event_from(code, &n);
    ASSERT_TRUE(e) << code;
    EXPECT_EQ(e->change, change);
    EXPECT_EQ(e->session_id, 7u);
  }
  EXPECT_FALSE(session_event_from(WTS_SESSION_REMOTE_CONTROL, &n));
  EXPECT_FALSE(session_event_from(WTS_SESSION_LOGON, nullptr));
}

TEST(ServiceTest, UninstallingAServiceThatIsNotInstalledIsNotFound) {
  auto st = uninstall_service(L"deskaudit-no-such-service", std::chrono::seconds(1));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::not_found);
}

TEST(ServiceTest, OwnCommandLineQuotesThisExecutable) {
  auto c = own_command_line(L"run");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_GE(c->size(), 6u);
  EXPECT_EQ(c->front(), L'"');
  EXPECT_TRUE(c->ends_with(L".exe\" run"));
}

}  // namespace
}  // namespace deskaudit::agent::windows
