#include "activity/processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

namespace deskaudit::activity {
namespace {

std::optional<pid_t> pid_of(const char* name) {
  pid_t pid = 0;
  const char* end = name + std::char_traits<char>::length(name);
  auto [p, ec] = std::from_chars(name, end, pid);
  if (ec != std::errc() || p != end || pid <= 0) return std::nullopt;
  return pid;
}

std::chrono::nanoseconds clock_ns(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcStat s;
  s.comm = std::string(text.substr(open + 1, close - open - 1));
  // After the name: state (field 3), ppid (4), ... starttime (22).
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j == i) break;
    ++field;
    const auto token = rest.substr(i, j - i);
    if (field == 4) {
      if (std::from_chars(token.data(), token.data() + token.size(), s.ppid).ec != std::errc()) return std::nullopt;
    } else if (field == 22) {
      if (std::from_chars(token.data(), token.data() + token.size(), s.start_ticks).ec != std::errc())
        return std::nullopt;
      return s;
    }
    i = j;
  }
  return std::nullopt;
}

ProcessWatcher::ProcessWatcher(ProcessWatcherOptions options)
    : options_(std::move(options)), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (const long t = ::sysconf(_SC_CLK_TCK); t > 0) ticks_per_second_ = t;
}

std::optional<ProcStat> ProcessWatcher::read_stat(pid_t pid) const {
  UniqueFd fd(::open((options_.proc / std::to_string(pid) / "stat").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return std::nullopt;
  return parse_proc_stat(std::string_view(buf, static_cast<std::size_t>(n)));
}

SteadyTime ProcessWatcher::start_time(unsigned long long ticks) const {
  // starttime counts from boot on CLOCK_BOOTTIME; the steady clock is
  // CLOCK_MONOTONIC, which stands still while suspended: subtract the gap.
  const auto since_boot = std::chrono::nanoseconds(static_cast<std::int64_t>(ticks) * 1'000'000'000 / ticks_per_second_);
  const auto gap = clock_ns(CLOCK_BOOTTIME) - clock_ns(CLOCK_MONOTONIC);
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(since_boot - gap));
}

UniqueFd ProcessWatcher::open_pidfd(pid_t pid) {
  UniqueFd fd;
  if (watched_.size() + pending_.size() >= options_.max_pidfds || !epoll_) return fd;
  fd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(pid);
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) fd.reset();
  }
  return fd;
}

void ProcessWatcher::watch(pid_t pid, std::string comm) {
  Watched w{std::move(comm), open_pidfd(pid)};
  watched_.insert_or_assign(pid, std::move(w));
}

void ProcessWatcher::scan(SteadyTime now, std::vector<Event>& out) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir(options_.proc.c_str()));
  if (!dir) return;
  std::unordered_set<pid_t> present;
  present.reserve(seen_.size() + 16);
  const pid_t self = ::getpid();
  while (const dirent* d = ::readdir(dir.get())) {
    const auto pid = pid_of(d->d_name);
    if (!pid) continue;
    present.insert(*pid);
    if (seen_.contains(*pid) || *pid == self) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir.get()), d->d_name, &st, 0) != 0 || st.st_uid != options_.uid) continue;
    auto s = read_stat(*pid);
    if (!s || s->ppid == 2 || *pid == 2) continue;  // gone, or a kernel thread
    if (first_) {
      watch(*pid, std::move(s->comm));
    } else {
      auto fd = open_pidfd(*pid);
      pending_.insert_or_assign(*pid, Pending{s->start_ticks, std::move(s->comm), std::move(fd)});
    }
  }
  first_ = false;
  // Pending processes that have lived long enough are reported, with the
  // name they have now (a fork that exec'd since carries the program's).
  for (auto it = pending_.begin(); it != pending_.end();) {
    const pid_t pid = it->first;
    if (!present.contains(pid) && it->second.pidfd) {
      ++it;  // gone: its pidfd tells reap() when, and whether it lived long enough
      continue;
    }
    auto s = present.contains(pid) ? read_stat(pid) : std::nullopt;
    if (!s || s->start_ticks != it->second.start_ticks) {
      it = pending_.erase(it);
      continue;
    }
    const SteadyTime started = start_time(s->start_ticks);
    if (now - started < options_.min_lifetime) {
      it->second.comm = std::move(s->comm);
      ++it;
      continue;
    }
    Event e;
    e.at = started;
    e.type = EventType::app_start;
    e.process = s->comm;
    e.pid = pid;
    out.push_back(std::move(e));
    // Its pidfd (if any) now reports the exit of a watched process.
    watched_.insert_or_assign(pid, Watched{std::move(s->comm), std::move(it->second.pidfd)});
    it = pending_.erase(it);
  }
  // Exits the pidfds did not report (none could be opened): seen now.
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    if (!it->second.pidfd) {
      Event e;
      e.at = now;
      e.type = EventType::app_exit;
      e.process = it->second.comm;
      e.pid = it->first;
      out.push_back(std::move(e));
      it = watched_.erase(it);
    } else {
      ++it;  // its pidfd reports it (reap)
    }
  }
  seen_ = std::move(present);
}

void ProcessWatcher::reap(SteadyTime now, std::vector<Event>& out) {
  if (!epoll_) return;
  epoll_event evs[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), evs, 64, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const auto pid = static_cast<pid_t>(evs[i].data.u64);
      if (auto p = pending_.find(pid); p != pending_.end()) {
        // Seen young by a scan and gone before the next one: reported when
        // it lived min_lifetime after all.
        const SteadyTime started = start_time(p->second.start_ticks);
        if (now - started >= options_.min_lifetime) {
          out.push_back(Event{started, EventType::app_start, {}, {}, p->second.comm, pid, {}, {}});
          out.push_back(Event{now, EventType::app_exit, {}, {}, p->second.comm, pid, {}, {}});
        }
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p->second.pidfd.get(), nullptr);
        pending_.erase(p);
        continue;
      }
      auto it = watched_.find(pid);
      if (it == watched_.end()) continue;
      Event e;
      e.at = now;
      e.type = EventType::app_exit;
      e.process = it->second.comm;
      e.pid = pid;
      out.push_back(std::move(e));
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.pidfd.get(), nullptr);
      watched_.erase(it);
    }
    if (n < 64) return;
  }
}

std::vector<std::string> ProcessWatcher::running_names() const {
  std::vector<std::string> out;
  out.reserve(watched_.size());
  for (const auto& [pid, w] : watched_) out.push_back(w.comm);
  return out;
}

}  // namespace deskaudit::activity
