#pragma once
// The session control socket: how xrdp or PAM hooks tell the running agent
// that a user connected or disconnected. A unix stream socket (mode 0600, in
// the 0700 state directory) speaking one JSON line per connection:
//   -> {"op":"connect","user":"alice"}   <- {"ok":true,...}
//   -> {"op":"disconnect"}               <- {"ok":true,...}
//   -> {"op":"status"}                   <- {"ok":true,"session":...,...}
//   on failure                           <- {"ok":false,"error":"..."}
// Requests are at most kMaxRequestBytes; a client gets kIoTimeout to send.
//
// Thread safety: the server runs its own thread and calls the handler there,
// one request at a time.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace deskaudit::agent {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
inline constexpr std::chrono::milliseconds kIoTimeout{2000};

// Whether this platform has the control socket. Windows: not yet (a named
// pipe would be its counterpart); the agent follows the console session
// there and start()/control_request() refuse with a clear error
// (control_socket_windows.cpp, docs/windows.md).
bool control_socket_supported();

// Parses and checks one request line: op known, user valid for connect.
Result<nlohmann::json> parse_control_request(std::string_view line);

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Binds the socket (replacing a stale one; refusing when another agent
  // answers on it) and starts serving.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& socket_path, Handler handler);
  ~ControlServer();  // stops serving and removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer(std::filesystem::path path, UniqueFd listen_fd, UniqueFd wake_read, UniqueFd wake_write,
                Handler handler);
  void run();
  void serve_one(int fd);

  std::filesystem::path path_;
  UniqueFd listen_fd_;
  UniqueFd wake_read_, wake_write_;
  Handler handler_;
  std::thread thread_;
};

// Client side: sends one request, returns the reply. Errc::unavailable with a
// clear message when no agent listens on that socket.
Result<nlohmann::json> control_request(const std::filesystem::path& socket_path, const nlohmann::json& request,
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

}  // namespace deskaudit::agent
