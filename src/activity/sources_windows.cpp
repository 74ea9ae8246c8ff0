// The Windows sources of a Collector (sources.hpp), on the desktop of the
// collector's process (the agent's helper runs on the user's):
// - windows: the window in front (GetForegroundWindow) and its title,
//   checked every kPollInterval. No WinEvent hooks: an out-of-context hook's
//   callback runs on the hooking thread, and under Wine a thread raising an
//   event may wait for it; with hooks set the agent hung once at its capture
//   start (a DXGI probe; windows_agent_wine, 1 start in 9), which a check
//   that waits on nothing cannot do, for microseconds a second. The app is
//   the window's class (as
//   WM_CLASS is on X11), the process its executable's file name
//   ("WINWORD.EXE").
// - idle: input from GetLastInputInfo (the session's last input) and the
//   recorder's screen changes.
// - resolution: the virtual screen's size (every monitor), checked every
//   kPollInterval.
// - apps: the processes of the collector's own session that run as a user
//   (not SYSTEM, LOCAL/NETWORK SERVICE, DWM-n or UMFD-n), found by a
//   Toolhelp snapshot every scan_interval, reported once they have lived
//   kAppMinLifetime (stamped with their creation time, as on Linux) and at
//   their exit (stamped with its time: each is held open; the next scan
//   notices it).
// Lock is not an event here: a locked workstation has no input desktop, so
// the agent's session (desktop_windows.cpp) ends and the recording with it.
#include "activity/sources.hpp"

#include <windows.h>
// After windows.h, which it needs.
#include <tlhelp32.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "common/utf16.hpp"
#include "common/win_handle.hpp"
#include "events/events.hpp"

namespace deskaudit::activity {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPollInterval{1000};
// Processes held open for their exit time; beyond this an exit is seen by the
// next scan and stamped then (Linux: max_pidfds).
constexpr std::size_t kMaxHandles = 512;

std::int64_t filetime_100ns(const FILETIME& ft) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(ft.dwHighDateTime) << 32) | ft.dwLowDateTime);
}

// A wall-clock instant (FILETIME) on the steady clock.
SteadyTime steady_of(const FILETIME& ft) {
  FILETIME now_ft{};
  GetSystemTimePreciseAsFileTime(&now_ft);
  const auto ago = std::chrono::nanoseconds((filetime_100ns(now_ft) - filetime_100ns(ft)) * 100);
  return Clock::now() - std::chrono::duration_cast<SteadyTime::duration>(ago);
}

std::string file_name_of(std::wstring_view path) {
  const auto slash = path.find_last_of(L"\\/");
  return narrow(slash == std::wstring_view::npos ? path : path.substr(slash + 1));
}

// The executable's file name of a process, or "" when it cannot be opened.
std::string process_name(DWORD pid) {
  HandlePtr h(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!h) return {};
  wchar_t path[MAX_PATH * 2];
  DWORD n = static_cast<DWORD>(std::size(path));
  if (!QueryFullProcessImageNameW(h.get(), 0, path, &n)) return {};
  return file_name_of(std::wstring_view(path, n));
}

// SYSTEM, LOCAL SERVICE, NETWORK SERVICE (S-1-5-18/19/20), the desktop window
// manager's and the font driver host's virtual accounts (S-1-5-90-*, S-1-5-96-*).
bool service_account(PSID sid) {
  if (!IsValidSid(sid)) return true;
  const SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  const auto* auth = GetSidIdentifierAuthority(sid);
  if (std::memcmp(auth->Value, nt.Value, sizeof nt.Value) != 0 || *GetSidSubAuthorityCount(sid) < 1) return false;
  const DWORD first = *GetSidSubAuthority(sid, 0);
  return first == 18 || first == 19 || first == 20 || first == 90 || first == 96;
}

// Whether the process runs as a user (its token's user is no service account);
// false when its token cannot be read.
bool runs_as_user(HANDLE process) {
  HANDLE raw = nullptr;
  if (!OpenProcessToken(process, TOKEN_QUERY, &raw)) return false;
  HandlePtr token(raw);
  alignas(TOKEN_USER) unsigned char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
  DWORD n = 0;
  if (!GetTokenInformation(token.get(), TokenUser, buf, sizeof buf, &n)) return false;
  return !service_account(reinterpret_cast<TOKEN_USER*>(buf)->User.Sid);
}

struct ProcessTimes {
  SteadyTime created{};
  std::optional<SteadyTime> exited;
};
std::optional<ProcessTimes> times_of(HANDLE process) {
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!GetProcessTimes(process, &created, &exited, &kernel, &user)) return std::nullopt;
  ProcessTimes t{steady_of(created), std::nullopt};
  if (WaitForSingleObject(process, 0) == WAIT_OBJECT_0) t.exited = steady_of(exited);
  return t;
}

// The session's user processes (the contract of ProcessWatcher, processes.hpp,
// over Toolhelp snapshots and process handles).
class SessionProcesses {
 public:
  explicit SessionProcesses(std::chrono::milliseconds min_lifetime) : min_lifetime_(min_lifetime) {
    if (!ProcessIdToSessionId(GetCurrentProcessId(), &session_)) session_ = 0;
  }

  void scan(SteadyTime now, std::vector<Event>& out) {
    HandlePtr snap(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
    if (!snap || snap.get() == INVALID_HANDLE_VALUE) {
      snap.release();
      spdlog::warn("activity events: CreateToolhelp32Snapshot failed: Windows error {}", GetLastError());
      return;
    }
    std::unordered_set<DWORD> present;
    PROCESSENTRY32W pe{};
    pe.dwSize = sizeof pe;
    const DWORD self = GetCurrentProcessId();
    for (BOOL ok = Process32FirstW(snap.get(), &pe); ok; ok = Process32NextW(snap.get(), &pe)) {
      const DWORD pid = pe.th32ProcessID;
      present.insert(pid);
      if (pid == 0 || pid == self || seen_.contains(pid)) continue;
      DWORD session = 0;
      if (!ProcessIdToSessionId(pid, &session) || session != session_) continue;
      HandlePtr h(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, pid));
      if (!h || !runs_as_user(h.get())) continue;
      auto times = times_of(h.get());
      if (!times) continue;
      Proc p{file_name_of(pe.szExeFile), times->created, nullptr};
      if (held_ < kMaxHandles) {
        p.handle = std::move(h);
        ++held_;
      }
      (first_ ? watched_ : pending_).insert_or_assign(pid, std::move(p));
    }
    first_ = false;
    // Pending ones that lived long enough are reported; one that ended
    // before is reported with its exit when it lived that long.
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto& p = it->second;
      const auto exited = exit_time(it->first, p, present, now);
      const auto lived_until = exited.value_or(now);
      if (lived_until - p.started < min_lifetime_) {
        if (exited) {
          release(p);
          it = pending_.erase(it);
        } else {
          ++it;
        }
        continue;
      }
      out.push_back(Event{p.started, EventType::app_start, {}, {}, p.name, it->first, {}, {}});
      if (exited) {
        out.push_back(Event{*exited, EventType::app_exit, {}, {}, p.name, it->first, {}, {}});
        release(p);
      } else {
        watched_.insert_or_assign(it->first, std::move(p));
      }
      it = pending_.erase(it);
    }
    for (auto it = watched_.begin(); it != watched_.end();) {
      const auto exited = exit_time(it->first, it->second, present, now);
      if (!exited) {
        ++it;
        continue;
      }
      out.push_back(Event{*exited, EventType::app_exit, {}, {}, it->second.name, it->first, {}, {}});
      release(it->second);
      it = watched_.erase(it);
    }
    // A pid that ended is forgotten, so its reuse by a new process is seen.
    seen_ = std::move(present);
  }

  std::vector<std::string> running_names() const {
    std::vector<std::string> out;
    out.reserve(watched_.size());
    for (const auto& [pid, p] : watched_) out.push_back(p.name);
    return out;
  }

 private:
  struct Proc {
    std::string name;
    SteadyTime started{};
    HandlePtr handle;  // none beyond kMaxHandles
  };
  // When the process ended (its own exit time when held), or nullopt while it runs.
  static std::optional<SteadyTime> exit_time(DWORD pid, const Proc& p, const std::unordered_set<DWORD>& present,
                                             SteadyTime now) {
    if (p.handle) {
      if (WaitForSingleObject(p.handle.get(), 0) != WAIT_OBJECT_0) return std::nullopt;
      if (auto t = times_of(p.handle.get()); t && t->exited) return *t->exited;
      return now;
    }
    return present.contains(pid) ? std::nullopt : std::optional<SteadyTime>(now);
  }
  void release(Proc& p) {
    if (p.handle) --held_;
    p.handle.reset();
  }

  std::chrono::milliseconds min_lifetime_;
  DWORD session_ = 0;
  bool first_ = true;
  std::size_t held_ = 0;
  std::unordered_set<DWORD> seen_;  // every pid of the last scan (any session)
  std::unordered_map<DWORD, Proc> pending_;
  std::unordered_map<DWORD, Proc> watched_;
};

class WindowsSources final : public Sources {
 public:
  explicit WindowsSources(const CollectorOptions& o) : options_(o), desktop_(!o.display.empty()) {
    if (desktop_) {
      procs_.emplace(std::max(kAppMinLifetime, options_.scan_interval));
      width_ = GetSystemMetrics(SM_CXVIRTUALSCREEN);
      height_ = GetSystemMetrics(SM_CYVIRTUALSCREEN);
    }
  }

  std::string describe() const override {
    if (!desktop_) return "none";
    return "windows, idle(input+screen), resolution, apps";
  }

  void begin(SteadyTime now, EventSink& sink) override {
    sink_ = &sink;
    if (!desktop_) return;
    // The window in front when recording starts.
    check_foreground(now);
    next_poll_ = now + kPollInterval;
    next_scan_ = now;
  }

  SteadyTime tick(SteadyTime now) override {
    if (!desktop_) return SteadyTime::max();
    if (now >= next_poll_) {
      check_foreground(now);
      check_resolution(now);
      next_poll_ = now + kPollInterval;
    }
    if (now >= next_scan_) {
      procs_->scan(now, batch_);
      for (auto& e : batch_) sink_->push(std::move(e));
      batch_.clear();
      sink_->set_processes(procs_->running_names());
      next_scan_ = now + options_.scan_interval;
    }
    return std::min(next_poll_, next_scan_);
  }

  bool has_input_idle() const override { return desktop_; }

  std::optional<std::int64_t> input_idle_ms() override {
    if (!desktop_) return std::nullopt;
    LASTINPUTINFO li{};
    li.cbSize = sizeof li;
    if (!GetLastInputInfo(&li)) return std::nullopt;
    // Tick counts wrap after 49.7 days; the difference in 32 bits does not.
    return static_cast<std::int64_t>(static_cast<DWORD>(GetTickCount() - li.dwTime));
  }

  Woken wait(const Wakeup& stop, const Wakeup& wake, SteadyTime deadline) override {
    const HANDLE handles[2] = {static_cast<HANDLE>(stop.native()), static_cast<HANDLE>(wake.native())};
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const DWORD timeout =
        deadline == SteadyTime::max() ? INFINITE : static_cast<DWORD>(std::clamp<std::int64_t>(left, 0, 3'600'000));
    const DWORD r = WaitForMultipleObjects(2, handles, FALSE, timeout);
    if (r == WAIT_OBJECT_0 + 1) return Woken::wake;
    if (r == WAIT_TIMEOUT) return Woken::deadline;
    if (r != WAIT_OBJECT_0)
      spdlog::warn("activity events: WaitForMultipleObjects failed: Windows error {}", GetLastError());
    return Woken::stop;
  }

 private:
  static std::string title_of(HWND w) {
    // Room for the longest title kept plus a character being cut. Never a
    // message to the window (a hung one would block the collector).
    wchar_t buf[events::kMaxTitleBytes + 8];
    const int n = InternalGetWindowText(w, buf, static_cast<int>(std::size(buf)));
    return n > 0 ? narrow(std::wstring_view(buf, static_cast<std::size_t>(n))) : std::string();
  }

  void check_foreground(SteadyTime now) {
    HWND w = GetForegroundWindow();
    if (w == nullptr) {  // nothing in front: the next window event says what comes
      active_ = nullptr;
      active_title_.clear();
      return;
    }
    auto title = title_of(w);
    if (w == active_ && title == active_title_) return;
    active_ = w;
    active_title_ = std::move(title);
    Event e;
    e.at = now;
    e.type = EventType::window;
    e.title = active_title_;
    wchar_t cls[256];
    if (const int n = GetClassNameW(w, cls, static_cast<int>(std::size(cls))); n > 0) {
      e.app = narrow(std::wstring_view(cls, static_cast<std::size_t>(n)));
    }
    DWORD pid = 0;
    GetWindowThreadProcessId(w, &pid);
    if (pid != 0) {
      e.pid = pid;
      e.process = process_name(pid);
    }
    sink_->push(std::move(e));
  }

  void check_resolution(SteadyTime now) {
    const int w = GetSystemMetrics(SM_CXVIRTUALSCREEN);
    const int h = GetSystemMetrics(SM_CYVIRTUALSCREEN);
    if (w <= 0 || h <= 0 || (w == width_ && h == height_)) return;
    width_ = w;
    height_ = h;
    sink_->push(resolution_event(now, w, h));
  }

  CollectorOptions options_;
  bool desktop_;
  EventSink* sink_ = nullptr;
  HWND active_ = nullptr;
  std::string active_title_;
  int width_ = 0, height_ = 0;
  std::optional<SessionProcesses> procs_;
  std::vector<Event> batch_;
  SteadyTime next_poll_{}, next_scan_{};
};

}  // namespace

std::unique_ptr<Sources> Sources::open(const CollectorOptions& options) {
  return std::make_unique<WindowsSources>(options);
}

bool app_events_need_uid() { return false; }

ThreadCpuClock this_thread_cpu_clock() {
  HANDLE h = nullptr;
  // GetCurrentThread() is a pseudo handle meaning "the caller": a real one
  // for other threads to read.
  if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(), &h,
                       THREAD_QUERY_LIMITED_INFORMATION, FALSE, 0)) {
    return [] { return std::chrono::nanoseconds(0); };
  }
  std::shared_ptr<void> thread(h, CloseHandle);
  return [thread] {
    FILETIME created{}, exited{}, kernel{}, user{};
    if (!GetThreadTimes(thread.get(), &created, &exited, &kernel, &user)) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds((filetime_100ns(kernel) + filetime_100ns(user)) * 100);
  };
}

}  // namespace deskaudit::activity
