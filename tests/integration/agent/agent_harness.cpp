#include "agent_harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace deskaudit::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Child::Child(std::vector<std::string> argv, const fs::path& log, const std::map<std::string, std::string>& env) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot open log " + log.string());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);  // own group: stop() reaches grandchildren (workload's xterms)
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::perror("execvp");
    ::_exit(127);
  }
  ::close(fd);
}

Child::~Child() {
  if (running()) stop(SIGKILL, 5s);
}

bool Child::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return r == 0;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(50ms);
  }
  return status_;
}

std::optional<int> Child::stop(int sig, std::chrono::milliseconds timeout) {
  if (!running()) return status_;
  ::kill(-pid_, sig);
  ::kill(pid_, sig);
  if (auto st = wait(timeout)) return st;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  wait(10s);
  return std::nullopt;
}

Xvfb::Xvfb(const fs::path& log_dir, int width, int height) {
  const int base = 90 + static_cast<int>(::getpid() % 100);
  for (int n = base; n < base + 200; ++n) {
    const std::string sock = "/tmp/.X11-unix/X" + std::to_string(n);
    const std::string lock = "/tmp/.X" + std::to_string(n) + "-lock";
    if (fs::exists(sock) || fs::exists(lock)) continue;
    auto child = std::make_unique<Child>(
        std::vector<std::string>{"Xvfb", ":" + std::to_string(n), "-screen", "0",
                                 std::to_string(width) + "x" + std::to_string(height) + "x24", "-nolisten", "tcp",
                                 "-noreset"},
        log_dir / ("xvfb-" + std::to_string(n) + ".log"));
    if (wait_until([&] { return fs::exists(sock) || !child->running(); }, 10s, 50ms) && child->running()) {
      child_ = std::move(child);
      number_ = n;
      display_ = ":" + std::to_string(n);
      return;
    }
  }
  throw std::runtime_error("could not start Xvfb on any display number");
}

Xvfb::~Xvfb() { stop(); }

void Xvfb::stop() {
  if (child_) child_->stop(SIGTERM, 5s);
  child_.reset();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string shell(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::optional<fs::path> workload_script() {
  if (const char* env = std::getenv("DESKAUDIT_WORKLOAD")) return fs::path(env);
  for (const fs::path& p : {fs::path(DESKAUDIT_SOURCE_DIR) / ".." / "shared" / "workload" / "desktop-session.sh",
                           fs::path("/work/shared/workload/desktop-session.sh")}) {
    if (fs::exists(p)) return p;
  }
  return std::nullopt;
}

std::string tail_of(const fs::path& file, std::size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace deskaudit::testing
