// The control socket's protocol, shared by both transports
// (control_socket.cpp, control_socket_windows.cpp): parsing and checking a
// request, the reply to a request line, the client's reading of a reply.
#include "agent/control_socket.hpp"

#include "agent/state.hpp"

namespace deskaudit::agent {

using nlohmann::json;

Result<json> parse_control_request(std::string_view line) {
  auto req = json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) return fail(Errc::invalid_argument, "request is not a JSON object");
  const auto op = req.find("op");
  if (op == req.end() || !op->is_string()) return fail(Errc::invalid_argument, "request has no \"op\"", "op");
  const auto& name = op->get_ref<const std::string&>();
  if (name == "connect") {
    const auto user = req.find("user");
    if (user == req.end() || !user->is_string()) return fail(Errc::invalid_argument, "connect needs \"user\"", "user");
    if (auto st = validate_username(user->get_ref<const std::string&>()); !st) return std::unexpected(st.error());
  } else if (name != "disconnect" && name != "status") {
    return fail(Errc::invalid_argument, "unknown op '" + name.substr(0, 32) + "' (connect, disconnect, status)", "op");
  }
  return req;
}

json control_reply(const Result<std::string>& line, const ControlServer::Handler& handler) {
  if (!line) return {{"ok", false}, {"error", "reading the request: " + line.error().message}};
  auto req = parse_control_request(*line);
  if (!req) return {{"ok", false}, {"error", req.error().message}};
  return handler(*req);
}

Result<json> parse_control_reply(const Result<std::string>& line) {
  if (!line) return std::unexpected(with_context(line.error(), "reading the agent's reply"));
  auto reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) return fail(Errc::corrupt, "the agent's reply is not a JSON object");
  return reply;
}

}  // namespace deskaudit::agent
