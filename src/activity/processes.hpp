#pragma once
// Application start/exit of one user's processes from procfs: each scan
// reads the /proc directory and looks only at pids it has not seen before
// (one stat() for the owner, one read of /proc/PID/stat for those of the
// user); exits come from a pidfd per reported process (exact, no polling).
// A process is reported once it has lived min_lifetime (stamped with its
// own start time), or at its exit when it lived that long but no scan saw it
// old enough: a scan that finds a new process watches it with a pidfd too.
// So with scans at most min_lifetime apart every process living that long is
// reported, and the forks of a shell pipeline are not noise in the timeline.
// Only the process name (comm) and pid are read, never the command line.
// Not thread-safe: one thread calls scan() and reap().
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "activity/collector.hpp"  // kAppMinLifetime
#include "activity/document.hpp"
#include "common/fs.hpp"

namespace deskaudit::activity {

// The fields of /proc/PID/stat the watcher uses.
struct ProcStat {
  std::string comm;
  pid_t ppid = 0;
  unsigned long long start_ticks = 0;  // field 22: clock ticks after boot
};
// Parses the text of /proc/PID/stat (the name may hold spaces and ')').
std::optional<ProcStat> parse_proc_stat(std::string_view text);

struct ProcessWatcherOptions {
  uid_t uid = 0;  // whose processes
  std::chrono::milliseconds min_lifetime{1000};
  std::filesystem::path proc = "/proc";
  std::size_t max_pidfds = 512;  // beyond this, exits are noticed by the next scan
};

class ProcessWatcher {
 public:
  explicit ProcessWatcher(ProcessWatcherOptions options);
  // Readable when a reported process has exited: call reap().
  int fd() const { return epoll_.get(); }
  // The first scan learns what runs and reports nothing started (the
  // processes it finds are watched for their exit); later scans report the
  // processes that started since and have lived min_lifetime.
  void scan(SteadyTime now, std::vector<Event>& out);
  void reap(SteadyTime now, std::vector<Event>& out);
  std::size_t watched() const { return watched_.size(); }
  // The names (comm) of the processes watched now: those found by the first
  // scan and those reported started since, until their exit (at most
  // max_pidfds of them).
  std::vector<std::string> running_names() const;
  bool watching(pid_t pid) const { return watched_.contains(pid); }

 private:
  struct Pending {
    unsigned long long start_ticks = 0;
    std::string comm;  // as the last scan read it
    UniqueFd pidfd;    // its exit, in epoll_ (none beyond max_pidfds)
  };
  struct Watched {
    std::string comm;
    UniqueFd pidfd;
  };
  std::optional<ProcStat> read_stat(pid_t pid) const;
  SteadyTime start_time(unsigned long long ticks) const;
  void watch(pid_t pid, std::string comm);
  // A pidfd for pid in epoll_, or none (over max_pidfds, or it is gone).
  UniqueFd open_pidfd(pid_t pid);

  ProcessWatcherOptions options_;
  UniqueFd epoll_;
  bool first_ = true;
  std::unordered_set<pid_t> seen_;  // every pid of the last scan (any user)
  std::unordered_map<pid_t, Pending> pending_;
  std::unordered_map<pid_t, Watched> watched_;
  long ticks_per_second_ = 100;
};

}  // namespace deskaudit::activity
