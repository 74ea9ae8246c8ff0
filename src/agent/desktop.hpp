#pragma once
// The X display the agent watches: its socket, its owner, and the user notice
// shown on it. Thread-compatible free functions plus a small process reaper.
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::agent {

// ":1", ":1.0", "unix:1" -> 1; anything with a host part is refused (the
// agent records the local desktop only).
Result<int> display_number(std::string_view display);
// /tmp/.X11-unix/X<N>
std::filesystem::path display_socket(int number);
// The user owning the display socket (the X server's user), by name.
Result<std::string> display_owner(int number);
bool display_present(int number);

// Shows the policy's message on the display without blocking recording:
// spawns `xmessage -center` (closes itself after timeout_s) and returns at
// once. Children are reaped by reap_children().
class NoticeShower {
 public:
  Status show(const std::string& display, const std::string& message, int timeout_s = 60);
  void reap();  // non-blocking; call now and then
  ~NoticeShower();

 private:
  std::vector<pid_t> children_;
};

}  // namespace deskaudit::agent
