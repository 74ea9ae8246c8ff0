#include "agent/windows/supervisor.hpp"

#include <gtest/gtest.h>

#include "probe_exe.hpp"

#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

namespace deskaudit::agent::windows {
namespace {

// Waits for a positive condition (the test's own timeout bounds it).
void wait_until(const std::function<bool()>& condition) {
  while (!condition()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

DWORD exit_code_of(const HandlePtr& process) {
  WaitForSingleObject(process.get(), INFINITE);
  DWORD code = 0;
  GetExitCodeProcess(process.get(), &code);
  return code;
}

// The sessions the supervisor's enumeration lists, changed by the test while
// it runs.
struct ListedSessions {
  std::mutex m;
  SessionSnapshot current;
  SessionWatcher::Enumerate enumerate() {
    return [this]() -> Result<SessionSnapshot> {
      std::lock_guard lock(m);
      return current;
    };
  }
  void change(const std::function<void(std::vector<SessionInfo>&)>& edit) {
    std::lock_guard lock(m);
    edit(current.sessions);
  }
};

// A helper that exits 4 when asked to stop; polls every 50 ms, restarts after 100.
SupervisorOptions probe_helper() {
  return {probe_exe(),
          L"helper 4",
          HelperAccount::system,
          std::chrono::milliseconds(50),
          std::chrono::milliseconds(100),
          std::chrono::seconds(60)};
}

// The helper follows its session: started with it, restarted when it dies,
// asked to stop (exit code 4: the probe's answer to its stop event) when the
// session ends and when the service stops.
TEST(SessionSupervisorTest, TheHelperFollowsItsSession) {
  DWORD own = 0;
  ASSERT_TRUE(ProcessIdToSessionId(GetCurrentProcessId(), &own));
  ListedSessions listed;
  listed.current = {{{own, true, std::nullopt}}, SessionSource::console_fallback};
  SessionSupervisor supervisor(probe_helper(), listed.enumerate());
  std::jthread thread([&](std::stop_token stop) { supervisor.run(stop); });

  wait_until([&] { return supervisor.helper_pid() != 0; });
  const DWORD first = supervisor.helper_pid();
  HandlePtr first_process(
      OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, first));
  ASSERT_TRUE(first_process);
  // Killed mid-session: a new helper.
  ASSERT_TRUE(TerminateProcess(first_process.get(), 9));
  wait_until([&] { return supervisor.helper_pid() != 0 && supervisor.helper_pid() != first; });
  EXPECT_EQ(supervisor.helpers_started(), 2);
  const DWORD second = supervisor.helper_pid();
  HandlePtr second_process(OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, second));
  ASSERT_TRUE(second_process);

  // The session ends (a poll no longer lists it): the helper is asked to stop.
  listed.change([](auto& sessions) { sessions.clear(); });
  EXPECT_EQ(exit_code_of(second_process), 4u);
  wait_until([&] { return supervisor.helper_pid() == 0; });

  // A new session, then the service stops: its helper is asked to stop too.
  listed.change([&](auto& sessions) { sessions.push_back({own, true, std::nullopt}); });
  wait_until([&] { return supervisor.helpers_started() == 3 && supervisor.helper_pid() != 0; });
  HandlePtr third_process(OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, supervisor.helper_pid()));
  ASSERT_TRUE(third_process);
  thread.request_stop();
  thread.join();
  EXPECT_EQ(exit_code_of(third_process), 4u);
  EXPECT_EQ(supervisor.helper_pid(), 0u);
}

// Two sessions signed in (a multi-session host): one is recorded, the other
// is named as not recorded until it ends.
TEST(SessionSupervisorTest, ASecondSessionIsNamedAsNotRecorded) {
  DWORD own = 0;
  ASSERT_TRUE(ProcessIdToSessionId(GetCurrentProcessId(), &own));
  const DWORD other = own + 100;  // listed only: the helper goes to the first (own) session
  ListedSessions listed;
  listed.current = {{{own, true, std::nullopt}, {other, true, std::nullopt}}, SessionSource::enumeration};
  SessionSupervisor supervisor(probe_helper(), listed.enumerate());
  std::jthread thread([&](std::stop_token stop) { supervisor.run(stop); });
  wait_until([&] { return supervisor.helper_pid() != 0; });
  wait_until([&] { return supervisor.unrecorded_sessions() == std::vector<DWORD>{other}; });
  // The other session signs out: nothing left unrecorded.
  listed.change([](auto& sessions) { sessions.pop_back(); });
  wait_until([&] { return supervisor.unrecorded_sessions().empty(); });
  EXPECT_NE(supervisor.helper_pid(), 0u);
  EXPECT_EQ(supervisor.helpers_started(), 1);
  thread.request_stop();
  thread.join();
}

}  // namespace
}  // namespace deskaudit::agent::windows
