// The activity events' pure parts: strings cut on UTF-8 boundaries and
// cleaned, the per-segment document, the idle state machine on an injected
// clock, /proc/PID/stat parsing; and the process watcher on this machine's
// /proc with a child process of our own.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>

#include <gtest/gtest.h>

#include "common/text.hpp"
#include "activity/collector.hpp"
#include "activity/document.hpp"
#include "activity/idle.hpp"
#include "activity/processes.hpp"
#include "events/events.hpp"

extern char** environ;

using namespace deskaudit;
using namespace deskaudit::activity;
using namespace std::chrono_literals;

TEST(EventText, CutOnACharacterBoundaryAndCleaned) {
  // 511 ASCII bytes then a 2-byte character: 513 bytes, cut to 511, never
  // inside the character.
  const std::string title = std::string(511, 'a') + "\xc3\xa9";
  const auto cut = clean_text(title, events::kMaxTitleBytes);
  EXPECT_EQ(cut.size(), 511u);
  EXPECT_TRUE(is_valid_utf8(cut));
  // A 4-byte character straddling the limit goes whole.
  const std::string emoji = std::string(62, 'p') + "\xf0\x9f\x98\x80";
  EXPECT_EQ(clean_text(emoji, events::kMaxProcessBytes), std::string(62, 'p'));
  // Control characters (C0, DEL, C1) become spaces; invalid bytes U+FFFD.
  EXPECT_EQ(clean_text("a\nb\tc\x7f" "d\xc2\x85" "e", 100), "a b c d e");
  EXPECT_EQ(clean_text("x\xff y", 100), "x\xef\xbf\xbd y");
  EXPECT_EQ(clean_text("caf\xc3\xa9", 100), "caf\xc3\xa9");
}

TEST(EventDocument, SortedTypedAndCutToTheContractLimits) {
  Event w;
  w.type = EventType::window;
  w.title = std::string(600, 't');
  w.app = "XTerm";
  w.process = "xterm";
  w.pid = 4242;
  Event idle;
  idle.type = EventType::idle;
  Event res;
  res.type = EventType::resolution;
  res.width = 1280;
  res.height = 720;
  const auto doc = build_document(3, {{5000, w}, {1200, idle}, {5000, res}});
  const auto j = nlohmann::json::parse(doc.json);
  EXPECT_EQ(j["format"], "deskaudit-events/2");
  EXPECT_EQ(j["seq"], 3);
  EXPECT_EQ(j["recording_id"], "");  // set at upload (with_recording_id)
  ASSERT_EQ(j["events"].size(), 3u);
  EXPECT_EQ(j["events"][0], (nlohmann::json::array({1200, "i"})));
  EXPECT_EQ(j["events"][1][1], "w");  // equal times keep their order
  EXPECT_EQ(j["events"][1][0], 3800);  // times are deltas
  EXPECT_EQ(j["events"][1][2].get<std::string>().size(), events::kMaxTitleBytes);
  EXPECT_EQ(j["events"][1][3], "XTerm");
  EXPECT_EQ(j["events"][1][5], 4242);
  EXPECT_EQ(j["events"][2], (nlohmann::json::array({0, "z", 1280, 720})));

  // Types as the contract names them.
  EXPECT_EQ(to_string(EventType::app_start), "app.start");
  EXPECT_EQ(to_string(EventType::session_disconnect), "session.disconnect");
  EXPECT_EQ(to_string(EventType::recording_resume), "recording.resume");

  // The server's id is added without touching the events.
  auto with_id = with_recording_id(doc.json, "rec-abc");
  ASSERT_TRUE(with_id);
  const auto k = nlohmann::json::parse(*with_id);
  EXPECT_EQ(k["recording_id"], "rec-abc");
  EXPECT_EQ(k["events"], j["events"]);
  // What the server checks uploads with accepts it.
  auto parsed = events::parse_document(*with_id, "rec-abc", 3);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->events.size(), 3u);
  EXPECT_EQ(parsed->events[1].t_ms, 5000);
  EXPECT_EQ(parsed->events[1].pid, 4242);
  EXPECT_EQ(parsed->events[2].width, 1280);
  // A version 1 document an older agent left in the spool gets its id too.
  const std::string v1 = events::to_json(events::Document{"", 3, parsed->events}).dump();
  auto v1_with_id = with_recording_id(v1, "rec-abc");
  ASSERT_TRUE(v1_with_id);
  auto v1_parsed = events::parse_document(*v1_with_id, "rec-abc", 3);
  ASSERT_TRUE(v1_parsed) << v1_parsed.error().message;
  EXPECT_EQ(v1_parsed->events, parsed->events);
  // Every type's wire name is one the codec knows.
  for (int t = 0; t <= static_cast<int>(EventType::resolution); ++t)
    EXPECT_TRUE(events::is_event_type(to_string(static_cast<EventType>(t)))) << t;
  EXPECT_FALSE(with_recording_id("{}", "rec-abc"));
}

TEST(EventDocument, AStormIsCutToTheEventAndByteLimits) {
  std::vector<TimedEvent> many;
  for (int i = 0; i < 25000; ++i) many.push_back({i, Event{{}, EventType::active, {}, {}, {}, {}, {}, {}}});
  const auto doc = build_document(0, many);
  EXPECT_EQ(doc.events, events::kMaxEventsPerDocument);
  EXPECT_EQ(doc.dropped, 5000u);
  // Long titles: the byte limit comes first.
  std::vector<TimedEvent> big;
  Event w;
  w.type = EventType::window;
  w.title = std::string(events::kMaxTitleBytes, 'x');
  for (int i = 0; i < 5000; ++i) big.push_back({i, w});
  const auto doc2 = build_document(0, big);
  EXPECT_LE(doc2.json.size() + 256, events::kMaxDocumentBytes);
  EXPECT_TRUE(events::parse_document(*with_recording_id(doc2.json, "rec-storm"), "rec-storm", 0));
  EXPECT_GT(doc2.dropped, 0u);
  EXPECT_EQ(doc2.events + doc2.dropped, 5000u);
}

TEST(IdleTracker, IdleAfterTheQuietStretchStampedWithTheLastActivityThenActive) {
  const SteadyTime t0{};
  IdleTracker idle(30s);
  // Activity at 10 s; checked every second: nothing until 40 s.
  for (int s = 11; s < 40; ++s) EXPECT_FALSE(idle.update(t0 + std::chrono::seconds(s), t0 + 10s)) << s;
  auto c = idle.update(t0 + 40s, t0 + 10s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, EventType::idle);
  EXPECT_EQ(c->at, t0 + 10s);
  EXPECT_TRUE(idle.idle());
  // Still idle: no repeat.
  EXPECT_FALSE(idle.update(t0 + 90s, t0 + 10s));
  // Input at 95 s ends it, stamped then.
  c = idle.update(t0 + 96s, t0 + 95s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, EventType::active);
  EXPECT_EQ(c->at, t0 + 95s);
  EXPECT_FALSE(idle.update(t0 + 97s, t0 + 96s));
  // A policy change takes effect at the next check.
  idle.set_idle_after(10s);
  c = idle.update(t0 + 106s, t0 + 96s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, EventType::idle);
  EXPECT_EQ(c->at, t0 + 96s);
}

TEST(ProcStat, NameWithSpacesAndParenthesesAndTheStartTime) {
  const std::string text =
      "4242 (my (odd) prog) S 17 4242 4242 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
      "18446744073709551615\n";
  const auto s = parse_proc_stat(text);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->comm, "my (odd) prog");
  EXPECT_EQ(s->ppid, 17);
  EXPECT_EQ(s->start_ticks, 987654u);
  EXPECT_FALSE(parse_proc_stat("4242 (short) S 1 2"));
  EXPECT_FALSE(parse_proc_stat("garbage"));
}

TEST(ProcessWatcher, ReportsAChildThatStartedAndItsExit) {
  ProcessWatcher w(ProcessWatcherOptions{::getuid(), 0ms});
  std::vector<Event> out;
  w.scan(std::chrono::steady_clock::now(), out);
  EXPECT_TRUE(out.empty());  // what ran before is not "started"
  pid_t pid = -1;
  const char* argv[] = {"sleep", "30", nullptr};
  ASSERT_EQ(::posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Our child is a fork until it has exec'd: scan until it carries the name.
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 200 && out.empty(); ++i) {
    std::vector<Event> batch;
    w.scan(std::chrono::steady_clock::now(), batch);
    for (auto& e : batch) {
      if (e.pid == pid && e.process == "sleep") out.push_back(e);
    }
    if (out.empty()) ::usleep(10000);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, EventType::app_start);
  // Stamped with the process's own start time (ticks of 10 ms), not the scan's.
  EXPECT_LE(out[0].at, before + 20ms);
  // Running now, for event-triggered recording.
  EXPECT_TRUE(w.watching(pid));
  EXPECT_GE(std::ranges::count(w.running_names(), std::string("sleep")), 1);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Other processes of our user (root on a shared machine) may exit too: ours is the one looked at.
  std::vector<Event> exits;
  for (int i = 0; i < 100 && exits.empty(); ++i) {
    pollfd fd{w.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&fd, 1, 10000), 1);
    std::vector<Event> batch;
    w.reap(std::chrono::steady_clock::now(), batch);
    for (auto& e : batch)
      if (e.pid == pid) exits.push_back(e);
  }
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].type, EventType::app_exit);
  EXPECT_EQ(exits[0].pid, pid);
  EXPECT_EQ(exits[0].process, "sleep");
  EXPECT_FALSE(w.watching(pid));
}

TEST(Collector, StateFollowsTheWindowEventsAndOldEventsCanBeDropped) {
  // No display and no user: only what add() brings.
  auto c = Collector::start(CollectorOptions{});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ((*c)->state().title, "");
  const auto t0 = std::chrono::steady_clock::now();
  (*c)->add(Event{t0, EventType::window, "payroll.xlsx - Calc", "libreoffice-calc", "soffice.bin", 42, {}, {}});
  (*c)->add(Event{t0 + 5s, EventType::lock, {}, {}, {}, {}, {}, {}});
  const auto s = (*c)->state();
  EXPECT_EQ(s.title, "payroll.xlsx - Calc");
  EXPECT_EQ(s.app, "libreoffice-calc");
  EXPECT_EQ(s.process, "soffice.bin");
  (*c)->drop_before(t0 + 1s);
  auto left = (*c)->take([&](SteadyTime t) { return std::optional<std::int64_t>((t - t0) / 1ms); }, 0, std::nullopt);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].event.type, EventType::lock);
  EXPECT_EQ((*c)->state().title, "payroll.xlsx - Calc") << "dropping events keeps what is in front";
  (*c)->stop();
}

// A scan saw it young and the next scan comes after its exit: its pidfd
// reports it, with its start, when it lived the least lifetime.
TEST(ProcessWatcher, AProcessSeenYoungThatLivedLongEnoughIsReportedAtItsExit) {
  ProcessWatcher w(ProcessWatcherOptions{::getuid(), 2s});
  std::vector<Event> out;
  w.scan(std::chrono::steady_clock::now(), out);
  pid_t pid = -1;
  const char* argv[] = {"sleep", "30", nullptr};
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(::posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Once it has exec'd, a scan sees it (young: not reported yet).
  for (int i = 0; i < 500; ++i) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    if (comm == "sleep") break;
    ::usleep(10000);
  }
  w.scan(std::chrono::steady_clock::now(), out);
  for (const auto& e : out) ASSERT_NE(e.pid, pid);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pollfd fd{w.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&fd, 1, 10000), 1);
  // Noticed as if 5 s had passed since its start: it lived the 2 s.
  const auto exit_at = before + 5s;
  w.reap(exit_at, out);
  std::vector<Event> mine;
  for (const auto& e : out)
    if (e.pid == pid) mine.push_back(e);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].type, EventType::app_start);
  EXPECT_EQ(mine[0].process, "sleep");
  EXPECT_LE(mine[0].at, before + 20ms);  // its own start time
  EXPECT_EQ(mine[1].type, EventType::app_exit);
  EXPECT_EQ(mine[1].at, exit_at);
  // Gone from the watcher: a later scan or reap says nothing more of it.
  out.clear();
  w.scan(exit_at, out);
  w.reap(exit_at, out);
  for (const auto& e : out) EXPECT_NE(e.pid, pid);
}

TEST(ProcessWatcher, AProcessShorterThanTheLeastLifetimeIsNotReported) {
  ProcessWatcher w(ProcessWatcherOptions{::getuid(), 3600s});
  std::vector<Event> out;
  w.scan(std::chrono::steady_clock::now(), out);
  pid_t pid = -1;
  const char* argv[] = {"sleep", "30", nullptr};
  ASSERT_EQ(::posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  w.scan(std::chrono::steady_clock::now(), out);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  w.scan(std::chrono::steady_clock::now(), out);
  w.reap(std::chrono::steady_clock::now(), out);
  for (const auto& e : out) EXPECT_NE(e.pid, pid) << to_string(e.type);
}

// Idleness without periodic checks: the collector wakes when idle_after has
// passed (the check interval, for input while idle, is an hour here), and a
// screen change while idle wakes it at once.
TEST(Collector, IdleIsNoticedWhenDueAndAScreenChangeEndsItAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Event> seen;
  CollectorOptions o;
  o.idle_after = 1s;
  o.idle_check_interval = 3600s;
  o.on_event = [&](const Event& e) {
    std::lock_guard lock(mu);
    seen.push_back(e);
    cv.notify_all();
  };
  const auto start = std::chrono::steady_clock::now();
  auto c = Collector::start(o);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ((*c)->sources(), "none");
  const auto wait_for = [&](std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 30s, [&] { return seen.size() >= n; });
  };
  ASSERT_TRUE(wait_for(1));
  EXPECT_EQ(seen[0].type, EventType::idle);
  EXPECT_LE(seen[0].at, start + 1s);  // stamped with the last activity (the start)
  const auto change = std::chrono::steady_clock::now();
  (*c)->note_screen_change(change);
  ASSERT_TRUE(wait_for(2));
  EXPECT_EQ(seen[1].type, EventType::active);
  EXPECT_EQ(seen[1].at, change);
  (*c)->stop();
}
