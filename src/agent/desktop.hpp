#pragma once
// The platform seam of the agent: the desktop it watches and its user, host
// facts for enrollment, the user notice. Linux (desktop.cpp): an X display,
// its socket and owner, xmessage. Windows (desktop_windows.cpp): the
// interactive desktop of the process's session ("desktop"), its signed-in
// user, a message box. Thread-compatible free functions plus a small notice
// keeper.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::agent {

// ":1", ":1.0", "unix:1" -> 1; anything with a host part is refused (the
// agent records the local desktop only). Windows: "desktop" -> 0, the
// desktop of the agent's session; anything else is refused.
Result<int> display_number(std::string_view display);
// The default of --display: ":0" (Windows: "desktop").
std::string default_display();
// Windows: the default --state-dir, <ProgramData>\deskaudit (Linux has none:
// --state-dir is required there).
std::filesystem::path default_state_dir();
// The user owning the display socket (the X server's user), by name.
// Windows: the user signed in to the session whose desktop is recorded.
Result<std::string> display_owner(int number);
// Linux: the display's socket /tmp/.X11-unix/X<N> exists. Windows: the
// session has an interactive desktop this process can read (false in
// session 0, where services run, and while the workstation is locked).
bool display_present(int number);
// The agent calls this while no recording of the display's session is open.
// Windows: a session end (logoff) waiting for the recording to close may go
// on. Linux: nothing to do.
void display_session_closed();

// For enrollment: the computer's name and the operating system ("Linux
// 6.1.0-...", "Windows 10.0.20348"), cut to the server's limit.
std::string host_name();
std::string os_name();
// The local user's numeric id (activity events' process owner); nullopt
// when unknown or on Windows.
std::optional<std::uint32_t> local_user_id(const std::string& username);

// Shows the policy's message on the display without blocking recording:
// spawns `xmessage -center` (closes itself after timeout_s) and returns at
// once. Children are reaped by reap(). Windows: a message box (closing
// itself after timeout_s) on a thread of its own, on the desktop of the
// agent's session.
class NoticeShower {
 public:
  Status show(const std::string& display, const std::string& message, int timeout_s = 60);
  void reap();  // non-blocking; call now and then
  ~NoticeShower();

 private:
  std::vector<pid_t> children_;
};

}  // namespace deskaudit::agent
