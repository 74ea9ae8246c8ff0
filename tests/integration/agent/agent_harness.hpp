#pragma once
// Helpers for the agent's integration tests: child processes (the agent,
// ffplay, the workload) with their output in a log file, an Xvfb display of
// our own, shell commands (ffprobe) and polling.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deskaudit::testing {

// A child process whose stdout and stderr go to `log`. The destructor kills
// it (SIGKILL) if it still runs.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::filesystem::path& log,
        const std::map<std::string, std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends sig and waits up to timeout for the exit; returns the waitpid
  // status, or nullopt when it did not exit in time (it is then SIGKILLed).
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  // Waits for the exit (up to timeout) without signalling.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Xvfb on a free display number (90 + pid % 100 upwards), killed by the
// destructor or stop().
class Xvfb {
 public:
  explicit Xvfb(const std::filesystem::path& log_dir, int width = 1280, int height = 720);
  ~Xvfb();
  const std::string& display() const { return display_; }
  int number() const { return number_; }
  void stop();

 private:
  std::unique_ptr<Child> child_;
  std::string display_;
  int number_ = -1;
};

// Runs `sh -c cmd`, returns stdout; *status gets the exit status.
std::string shell(const std::string& cmd, int* status = nullptr);
std::string quote(const std::string& s);

// Polls pred every `every` until true or timeout; returns the last result.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(250));

// The shared desktop workload, or nullopt when it is not there.
std::optional<std::filesystem::path> workload_script();

std::string tail_of(const std::filesystem::path& file, std::size_t bytes = 6000);

}  // namespace deskaudit::testing
