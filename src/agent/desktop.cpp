#include "agent/desktop.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/text.hpp"
#include "agent/state.hpp"

extern char** environ;

namespace deskaudit::agent {
namespace {

// /tmp/.X11-unix/X<N>
std::filesystem::path display_socket(int number) { return "/tmp/.X11-unix/X" + std::to_string(number); }

}  // namespace

std::string default_display() { return ":0"; }

std::filesystem::path default_state_dir() { return {}; }

void display_session_closed() {}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return utf8_truncate(buf, kMaxNameBytes);
}

std::string os_name() {
  utsname u{};
  if (::uname(&u) != 0) return "Linux";
  return utf8_truncate(std::string(u.sysname) + " " + u.release, kMaxNameBytes);
}

std::optional<std::uint32_t> local_user_id(const std::string& username) {
  if (const passwd* pw = ::getpwnam(username.c_str())) return pw->pw_uid;
  return std::nullopt;
}

Result<int> display_number(std::string_view d) {
  std::string_view s = d;
  if (s.starts_with("unix:")) s.remove_prefix(4);
  const auto bad = [&] {
    return fail(Errc::invalid_argument, "display '" + std::string(d.substr(0, 64)) + "' is not a local X display such as :1",
                "display");
  };
  if (!s.starts_with(":")) return bad();
  s.remove_prefix(1);
  if (const auto dot = s.find('.'); dot != std::string_view::npos) s = s.substr(0, dot);
  int n = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || n < 0 || n > 65535) return bad();
  return n;
}

Result<std::string> display_owner(int number) {
  const auto path = display_socket(number);
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return fail(Errc::not_found, errno_message("stat " + path.string(), errno));
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(16384, '\0');
  if (::getpwuid_r(st.st_uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return fail(Errc::not_found, "the owner (uid " + std::to_string(st.st_uid) + ") of " + path.string() +
                                     " has no user name: pass --user");
  }
  return std::string(found->pw_name);
}

bool display_present(int number) {
  struct stat st{};
  return ::lstat(display_socket(number).c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

Status NoticeShower::show(const std::string& display, const std::string& message, int timeout_s) {
  reap();
  std::string timeout = std::to_string(timeout_s);
  std::vector<std::string> args = {"xmessage", "-display", display, "-center", "-timeout", timeout,
                                   "-buttons", "OK:0", "-default", "OK", message.empty() ? std::string("This session is recorded.") : message};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "xmessage", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail(Errc::io, errno_message("starting xmessage for the user notice", rc));
  children_.push_back(pid);
  return {};
}

void NoticeShower::reap() {
  std::erase_if(children_, [](pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) != 0;
  });
}

NoticeShower::~NoticeShower() {
  for (const pid_t pid : children_) {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
}

}  // namespace deskaudit::agent
