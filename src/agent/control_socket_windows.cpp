// Windows: no session control socket yet (a named pipe with an ACL for
// SYSTEM and Administrators would be its counterpart). The agent follows the
// interactive console session instead (desktop_windows.cpp); asking for the
// socket is refused with this message. docs/windows.md.
#include "agent/control_socket.hpp"

namespace deskaudit::agent {
namespace {

Error no_socket() {
  return Error{Errc::invalid_argument,
               "the session control socket (session connect|disconnect|status) is not available in the Windows agent: "
               "it records the interactive console session by itself (docs/windows.md)",
               {}};
}

}  // namespace

bool control_socket_supported() { return false; }

ControlServer::~ControlServer() = default;

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& /*socket_path*/,
                                                            Handler /*handler*/) {
  return std::unexpected(no_socket());
}

Result<nlohmann::json> control_request(const std::filesystem::path& /*socket_path*/,
                                       const nlohmann::json& /*request*/, std::chrono::milliseconds /*timeout*/) {
  return std::unexpected(no_socket());
}

}  // namespace deskaudit::agent
