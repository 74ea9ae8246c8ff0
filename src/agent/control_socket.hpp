#pragma once
// The session control socket: how xrdp or PAM hooks tell the running agent
// that a user connected or disconnected, and how an administrator asks what it
// records. One JSON line per connection:
//   -> {"op":"connect","user":"alice"}   <- {"ok":true,...}
//   -> {"op":"disconnect"}               <- {"ok":true,...}
//   -> {"op":"status"}                   <- {"ok":true,"session":...,...}
//   on failure                           <- {"ok":false,"error":"..."}
// Requests are at most kMaxRequestBytes; a client gets kIoTimeout to send.
// Transports (the protocol above is control_protocol.cpp, shared):
// - Linux (control_socket.cpp): a unix stream socket at socket_path (mode
//   0600, in the 0700 state directory).
// - Windows (control_socket_windows.cpp): the named pipe
//   control_pipe_name(socket_path), one instance, local clients only, its DACL
//   SYSTEM and Administrators (D:P(A;;FA;;;SY)(A;;FA;;;BA)): `deskaudit-agent
//   session status` from an elevated prompt.
//
// Thread safety: the server runs its own thread and calls the handler there,
// one request at a time.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace deskaudit::agent {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
inline constexpr std::chrono::milliseconds kIoTimeout{2000};

// Parses and checks one request line: op known, user valid for connect.
Result<nlohmann::json> parse_control_request(std::string_view line);

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Binds the socket (replacing a stale one; refusing with Errc::conflict
  // when another agent answers on it) and starts serving.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& socket_path, Handler handler);
  ~ControlServer();  // stops serving and removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Shared by both transports. The reply to one request line (`line` is the
// transport's read of it, or why it could not be read): an error reply
// unless it parses (parse_control_request), else the handler's.
nlohmann::json control_reply(const Result<std::string>& line, const ControlServer::Handler& handler);
// The client's reading of the agent's reply line.
Result<nlohmann::json> parse_control_reply(const Result<std::string>& line);

#ifdef _WIN32
// The pipe of the agent whose socket_path (state directory) this is:
// \\.\pipe\deskaudit-agent-<16 hex digits of a hash of the lowercased path>.
std::wstring control_pipe_name(const std::filesystem::path& socket_path);
#endif

// Client side: sends one request, returns the reply. Errc::unavailable with a
// clear message when no agent listens on that socket.
Result<nlohmann::json> control_request(const std::filesystem::path& socket_path, const nlohmann::json& request,
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

}  // namespace deskaudit::agent
