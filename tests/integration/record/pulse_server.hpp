#pragma once
// A real PulseAudio server for tests: `pulseaudio -n` with a null sink (the
// session's default sink) and the native protocol on a socket in a temp
// directory. Header-only test helper.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.hpp"

extern char** environ;

namespace deskaudit::ptest {

class PulseServer {
 public:
  PulseServer() : dir_(std::filesystem::temp_directory_path() / ("deskaudit-pulse-" + random_id(""))) {
    std::filesystem::create_directories(dir_ / "home");
    std::filesystem::create_directories(dir_ / "run");
    std::filesystem::permissions(dir_ / "run", std::filesystem::perms::owner_all);
    start();
  }
  ~PulseServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PulseServer(const PulseServer&) = delete;
  PulseServer& operator=(const PulseServer&) = delete;

  std::string server() const { return "unix:" + socket().string(); }
  std::filesystem::path socket() const { return dir_ / "native"; }

  void start() {
    if (pid_ > 0) return;
    std::error_code ec;
    std::filesystem::remove(socket(), ec);
    const std::vector<std::string> args = {
        "pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disable-shm=yes", "--log-target=stderr",
        "--log-level=error", "-L", "module-null-sink sink_name=testsink rate=48000 channels=2",
        "-L", "module-native-protocol-unix auth-anonymous=1 socket=" + socket().string(),
        "-L", "module-always-sink"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string home = "HOME=" + (dir_ / "home").string();
    const std::string runtime = "XDG_RUNTIME_DIR=" + (dir_ / "run").string();
    const std::string config = "XDG_CONFIG_HOME=" + (dir_ / "home").string();
    std::vector<char*> envp = {const_cast<char*>(home.c_str()), const_cast<char*>(runtime.c_str()),
                               const_cast<char*>(config.c_str()), const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    // Its output must not hold the test's stdout open (a pipe to a reader).
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    const int rc = ::posix_spawnp(&pid_, "pulseaudio", &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start pulseaudio (Debian package pulseaudio)");
    for (int i = 0; i < 200; ++i) {
      if (run_ok("pactl -s '" + server() + "' info")) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("pulseaudio exited at start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("pulseaudio did not answer on " + server());
  }
  // SIGKILL: the server vanishes as a crash would.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: the server freezes (a debugger, a hung machine, a
  // container paused) with its sockets open, then goes on.
  void freeze() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void thaw() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  // A sine of `hz` into the default sink (module-sine: rendered by the
  // server itself, so no client buffering delays or chops it) until
  // stop_tone(). Returns when the server plays it.
  void start_tone(int hz) {
    const std::string out = output("pactl -s '" + server() + "' load-module module-sine sink=testsink frequency=" +
                                   std::to_string(hz));
    tone_module_ = std::stoi(out);
  }
  void stop_tone() {
    if (tone_module_ < 0) return;
    run_ok("pactl -s '" + server() + "' unload-module " + std::to_string(tone_module_));
    tone_module_ = -1;
  }
  // Names of the clients connected now (pactl's own connection excluded).
  std::string clients() const { return output("pactl -s '" + server() + "' list clients | grep application.name"); }

  static bool run_ok(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
  static std::string output(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
    return out;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int tone_module_ = -1;
};

}  // namespace deskaudit::ptest
