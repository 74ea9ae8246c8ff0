// The Windows sources of activity::Collector (src/activity/sources_windows.cpp),
// in agent_windows_test.exe under Wine (tests/integration/windows): windows of
// this process brought to the front and renamed, a user process of the
// session started and ended, idleness.
#include <windows.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "../agent/windows/probe_exe.hpp"
#include "activity/collector.hpp"

namespace deskaudit::activity {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every event the collector saw, as it saw it.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Event> events;

  std::function<void(const Event&)> sink() {
    return [this](const Event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
      cv.notify_all();
    };
  }
  // The first event from `from` on that matches, waiting up to `timeout`.
  std::optional<Event> wait_for(const std::function<bool(const Event&)>& match, std::chrono::milliseconds timeout,
                                std::size_t from = 0) {
    std::unique_lock lock(mu);
    std::optional<Event> found;
    cv.wait_for(lock, timeout, [&] {
      for (std::size_t i = from; i < events.size(); ++i) {
        if (match(events[i])) {
          found = events[i];
          return true;
        }
      }
      return false;
    });
    return found;
  }
};

constexpr UINT kToFront = WM_APP + 1;

// A top-level window on a thread of its own, pumping its messages.
class TestWindow {
 public:
  explicit TestWindow(const std::wstring& title) {
    std::promise<HWND> made;
    auto hwnd = made.get_future();
    thread_ = std::thread([this, title, &made] {
      static const ATOM cls = [] {
        WNDCLASSW wc{};
        wc.lpfnWndProc = &proc;
        wc.hInstance = GetModuleHandleW(nullptr);
        wc.lpszClassName = L"DeskauditTestWindow";
        return RegisterClassW(&wc);
      }();
      (void)cls;
      HWND w = CreateWindowExW(0, L"DeskauditTestWindow", title.c_str(), WS_OVERLAPPEDWINDOW | WS_VISIBLE, 40, 40, 400,
                               300, nullptr, nullptr, GetModuleHandleW(nullptr), nullptr);
      made.set_value(w);
      MSG msg;
      while (GetMessageW(&msg, nullptr, 0, 0) > 0) {
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
      }
    });
    hwnd_ = hwnd.get();
  }
  ~TestWindow() {
    if (hwnd_ != nullptr) PostMessageW(hwnd_, WM_CLOSE, 0, 0);
    thread_.join();
  }
  HWND hwnd() const { return hwnd_; }
  // From the window's own thread (which may take the foreground).
  void to_front() { PostMessageW(hwnd_, kToFront, 0, 0); }
  void set_title(const std::wstring& t) { SetWindowTextW(hwnd_, t.c_str()); }

 private:
  static LRESULT CALLBACK proc(HWND w, UINT msg, WPARAM wp, LPARAM lp) {
    if (msg == kToFront) {
      SetForegroundWindow(w);
      return 0;
    }
    if (msg == WM_DESTROY) {
      PostQuitMessage(0);
      return 0;
    }
    return DefWindowProcW(w, msg, wp, lp);
  }
  std::thread thread_;
  HWND hwnd_ = nullptr;
};

std::unique_ptr<Collector> start(CollectorOptions o) {
  auto c = Collector::start(std::move(o));
  EXPECT_TRUE(c) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

TEST(WindowsCollector, TheWindowInFrontItsTitleAndItsProcessAreEvents) {
  Seen seen;
  CollectorOptions o;
  o.display = "desktop";
  o.idle_after = 3600s;
  o.on_event = seen.sink();
  auto c = start(o);
  ASSERT_TRUE(c);
  std::printf("sources: %s\n", c->sources().c_str());
  EXPECT_EQ(c->sources().rfind("windows,", 0), 0u) << c->sources();

  TestWindow a(L"deskaudit window A");
  ASSERT_NE(a.hwnd(), nullptr);
  const auto t0 = Clock::now();
  a.to_front();
  const auto is_title = [](std::string t) {
    return [t](const Event& e) { return e.type == EventType::window && e.title == t; };
  };
  auto ea = seen.wait_for(is_title("deskaudit window A"), 10s);
  ASSERT_TRUE(ea) << "no window event for A";
  std::printf("A in front seen after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
  EXPECT_EQ(ea->app, "DeskauditTestWindow");
  EXPECT_EQ(ea->process, "agent_windows_test.exe");
  EXPECT_EQ(ea->pid, static_cast<std::int64_t>(GetCurrentProcessId()));

  // A title change of the window in front (UTF-16 to UTF-8).
  const auto t1 = Clock::now();
  a.set_title(L"payroll \u00e9t\u00e9 2026.xlsx");
  auto renamed = seen.wait_for(is_title("payroll \xc3\xa9t\xc3\xa9 2026.xlsx"), 10s);
  ASSERT_TRUE(renamed) << "no window event for the new title";
  std::printf("title change seen after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t1).count()));

  TestWindow b(L"deskaudit window B");
  b.to_front();
  ASSERT_TRUE(seen.wait_for(is_title("deskaudit window B"), 10s)) << "no window event for B";
  EXPECT_EQ(c->state().title, "deskaudit window B");
  EXPECT_EQ(c->state().process, "agent_windows_test.exe");

  // The same window and title again is no new event.
  std::this_thread::sleep_for(1500ms);
  {
    std::lock_guard lock(seen.mu);
    int bs = 0;
    for (const auto& e : seen.events) bs += e.type == EventType::window && e.title == "deskaudit window B";
    EXPECT_EQ(bs, 1);
  }
  c->stop();
  // Printed, not judged: Wine counts thread CPU in 10 ms ticks, and a
  // check a second is less.
  std::printf("collector CPU: %lld us\n", static_cast<long long>(c->cpu_time().count() / 1000));
}

TEST(WindowsCollector, AUserProcessOfTheSessionIsReportedWithItsStartAndExit) {
  Seen seen;
  CollectorOptions o;
  o.display = "desktop";
  o.idle_after = 3600s;
  o.scan_interval = 200ms;  // the least lifetime stays kAppMinLifetime (3 s)
  o.on_event = seen.sink();
  auto c = start(o);
  ASSERT_TRUE(c);
  // The first scan learns what runs: let it pass before the child starts.
  std::this_thread::sleep_for(500ms);

  const std::wstring exe = agent::windows::probe_exe();
  std::wstring cmd = L"\"" + exe + L"\" hold";
  STARTUPINFOW si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  const auto before = Clock::now();
  ASSERT_TRUE(
      CreateProcessW(exe.c_str(), cmd.data(), nullptr, nullptr, FALSE, CREATE_NO_WINDOW, nullptr, nullptr, &si, &pi));
  CloseHandle(pi.hThread);
  const auto pid = static_cast<std::int64_t>(pi.dwProcessId);
  const auto is = [pid](EventType t) { return [pid, t](const Event& e) { return e.type == t && e.pid == pid; }; };

  // Not before it has lived kAppMinLifetime; then stamped with its start.
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(seen.wait_for(is(EventType::app_start), 0ms)) << "reported before it lived 3 s";
  auto started = seen.wait_for(is(EventType::app_start), 10s);
  ASSERT_TRUE(started) << "no app.start for the probe";
  EXPECT_EQ(started->process, "agent_windows_probe.exe");
  EXPECT_GE(started->at, before - 1s);
  EXPECT_LE(started->at, before + 1s);
  const auto names = c->state().processes;
  EXPECT_NE(std::find(names.begin(), names.end(), "agent_windows_probe.exe"), names.end());

  const auto killed = Clock::now();
  TerminateProcess(pi.hProcess, 9);
  WaitForSingleObject(pi.hProcess, 10000);
  CloseHandle(pi.hProcess);
  auto exited = seen.wait_for(is(EventType::app_exit), 10s);
  ASSERT_TRUE(exited) << "no app.exit for the probe";
  EXPECT_EQ(exited->process, "agent_windows_probe.exe");
  // Stamped with its exit, not with the scan that noticed it.
  EXPECT_GE(exited->at, killed - 1s);
  EXPECT_LE(exited->at, killed + 1s);
  c->stop();
  // This process itself is never reported.
  std::lock_guard lock(seen.mu);
  for (const auto& e : seen.events) {
    if (e.type == EventType::app_start || e.type == EventType::app_exit) {
      EXPECT_NE(e.pid, static_cast<std::int64_t>(GetCurrentProcessId()));
    }
  }
}

TEST(WindowsCollector, IdleWithoutInputOrScreenChangeAndActiveAgainOnAChange) {
  Seen seen;
  CollectorOptions o;
  o.display = "desktop";
  o.idle_after = 1s;
  o.idle_check_interval = 100ms;
  o.on_event = seen.sink();
  auto c = start(o);
  ASSERT_TRUE(c);
  const auto type_is = [](EventType t) { return [t](const Event& e) { return e.type == t; }; };
  ASSERT_TRUE(seen.wait_for(type_is(EventType::idle), 15s)) << "never idle";
  const auto change = Clock::now();
  c->note_screen_change(change);
  auto active = seen.wait_for(type_is(EventType::active), 10s);
  ASSERT_TRUE(active);
  EXPECT_GE(active->at, change);
  c->stop();
}

}  // namespace
}  // namespace deskaudit::activity
