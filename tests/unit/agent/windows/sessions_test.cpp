#include "agent/windows/sessions.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace deskaudit::agent::windows {
namespace {

using K = SessionUpdate::Kind;

TEST(SessionTrackerTest, EventsStartLockAndEndSessions) {
  SessionTracker t;
  EXPECT_EQ(t.apply({SessionChange::logon, 2}), (std::vector<SessionUpdate>{{K::started, 2}}));
  EXPECT_TRUE(t.apply({SessionChange::logon, 2}).empty());
  EXPECT_EQ(t.apply({SessionChange::lock, 2}), (std::vector<SessionUpdate>{{K::locked, 2}}));
  EXPECT_TRUE(t.apply({SessionChange::lock, 2}).empty());
  EXPECT_EQ(t.apply({SessionChange::unlock, 2}), (std::vector<SessionUpdate>{{K::unlocked, 2}}));
  EXPECT_EQ(t.apply({SessionChange::remote_disconnect, 2}), (std::vector<SessionUpdate>{{K::disconnected, 2}}));
  EXPECT_EQ(t.apply({SessionChange::remote_connect, 2}), (std::vector<SessionUpdate>{{K::connected, 2}}));
  EXPECT_EQ(t.apply({SessionChange::logoff, 2}), (std::vector<SessionUpdate>{{K::ended, 2}}));
  EXPECT_TRUE(t.apply({SessionChange::logoff, 2}).empty());
  EXPECT_TRUE(t.sessions().empty());
}

TEST(SessionTrackerTest, AnEventOfAnUnknownSessionStartsItExceptAConnect) {
  SessionTracker t;
  // A connect may be a logon screen: no session until a logon or a poll says so.
  EXPECT_TRUE(t.apply({SessionChange::remote_connect, 3}).empty());
  // The service started after this user's logon: the lock tells of the session.
  EXPECT_EQ(t.apply({SessionChange::lock, 3}), (std::vector<SessionUpdate>{{K::started, 3}, {K::locked, 3}}));
  EXPECT_EQ(t.apply({SessionChange::console_disconnect, 4}),
            (std::vector<SessionUpdate>{{K::started, 4}, {K::disconnected, 4}}));
  ASSERT_EQ(t.sessions().size(), 2u);
}

TEST(SessionTrackerTest, APollStartsAndEndsSessionsAndFollowsTheirState) {
  SessionTracker t;
  EXPECT_EQ(t.reconcile({{{1, true, std::nullopt}, {5, false, true}}, SessionSource::enumeration}),
            (std::vector<SessionUpdate>{{K::started, 1}, {K::started, 5}, {K::disconnected, 5}, {K::locked, 5}}));
  EXPECT_TRUE(t.reconcile({{{1, true, std::nullopt}, {5, false, true}}, SessionSource::enumeration}).empty());
  // An unknown lock state keeps what the events said.
  EXPECT_EQ(t.apply({SessionChange::lock, 1}), (std::vector<SessionUpdate>{{K::locked, 1}}));
  EXPECT_TRUE(t.reconcile({{{1, true, std::nullopt}, {5, false, true}}, SessionSource::enumeration}).empty());
  EXPECT_EQ(t.reconcile({{{1, true, false}, {5, true, false}}, SessionSource::enumeration}),
            (std::vector<SessionUpdate>{{K::unlocked, 1}, {K::connected, 5}, {K::unlocked, 5}}));
  EXPECT_EQ(t.reconcile({{{5, true, false}}, SessionSource::enumeration}),
            (std::vector<SessionUpdate>{{K::ended, 1}}));
  EXPECT_EQ(t.reconcile({{}, SessionSource::console_fallback}), (std::vector<SessionUpdate>{{K::ended, 5}}));
}

// The sessions of this machine: on Windows the enumeration lists the session
// this test runs in; Wine 8 enumerates none, and the console session stands in.
TEST(EnumerateSessionsTest, TheSessionOfThisProcessIsListed) {
  DWORD own = 0;
  ASSERT_TRUE(ProcessIdToSessionId(GetCurrentProcessId(), &own));
  auto snapshot = enumerate_sessions();
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  std::cout << "session source: "
            << (snapshot->source == SessionSource::enumeration ? "enumeration" : "console_fallback")
            << ", own session " << own << "\n";
  bool found = false;
  for (const auto& s : snapshot->sessions) found = found || s.id == own;
  EXPECT_TRUE(found);
}

// Collects updates from the watcher's thread.
struct Updates {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<SessionUpdate> seen;
  void add(const SessionUpdate& u) {
    std::lock_guard lock(mutex);
    seen.push_back(u);
    cv.notify_all();
  }
  // Waits for `u` to have been seen (the test's own timeout bounds it).
  void wait_for(const SessionUpdate& u) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return std::find(seen.begin(), seen.end(), u) != seen.end(); });
  }
};

TEST(SessionWatcherTest, AppliesPostedEventsAndPolls) {
  std::mutex m;
  SessionSnapshot current{{{1, true, std::nullopt}}, SessionSource::console_fallback};
  Updates updates;
  SessionWatcher watcher(
      [&]() -> Result<SessionSnapshot> {
        std::lock_guard lock(m);
        return current;
      },
      [&](const SessionUpdate& u) { updates.add(u); }, std::chrono::milliseconds(50));
  std::jthread thread([&](std::stop_token stop) { watcher.run(stop); });
  updates.wait_for({K::started, 1});  // the first poll
  EXPECT_EQ(watcher.last_source(), SessionSource::console_fallback);
  watcher.post({SessionChange::lock, 1});
  updates.wait_for({K::locked, 1});
  {
    std::lock_guard lock(m);
    current.sessions.clear();
  }
  updates.wait_for({K::ended, 1});  // a later poll
  thread.request_stop();
  thread.join();
  std::lock_guard lock(updates.mutex);
  EXPECT_EQ(updates.seen, (std::vector<SessionUpdate>{{K::started, 1}, {K::locked, 1}, {K::ended, 1}}));
}

}  // namespace
}  // namespace deskaudit::agent::windows
