#pragma once
// The HTTP layer: every route is declared once in a table with the access it
// needs (public, any agent, or a named permission). The dispatcher
// authenticates, checks the permission, reads the body within its limit, and
// turns every Error into the JSON error shape {"error":{"code","message"}}.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "auth/permissions.hpp"
#include "catalog/types.hpp"
#include "common/error.hpp"

namespace deskaudit::server {

using Json = nlohmann::json;

// Who made the request, after authentication.
struct Principal {
  enum class Kind { anonymous, admin, agent } kind = Kind::anonymous;
  std::string user_id;       // admin
  std::string username;      // admin
  std::string token_id;      // admin: the session or API token used
  bool via_cookie = false;   // admin: console session cookie (CSRF applies)
  bool must_change_password = false;  // admin: only a password change, /auth/me and sign-out allowed
  std::string computer_id;   // agent
  auth::Grants grants;       // admin
  // Actor name for the audit log.
  std::string actor() const;
};

enum class AccessKind { open, signed_in, permission, agent };

struct Access {
  AccessKind kind = AccessKind::permission;
  std::string permission;  // with AccessKind::permission
  // The permission must be granted without a scope (user and role
  // management, the audit log): a scoped grant of it is refused with 403.
  bool unscoped = false;
  static Access open() { return {AccessKind::open, {}}; }
  static Access signed_in() { return {AccessKind::signed_in, {}}; }
  static Access agent() { return {AccessKind::agent, {}}; }
  static Access need(std::string_view p) { return {AccessKind::permission, std::string(p)}; }
  static Access need_unscoped(std::string_view p) { return {AccessKind::permission, std::string(p), true}; }
  // Would these grants pass this route's permission check?
  bool allows(const auth::Grants& g) const {
    return kind != AccessKind::permission || (unscoped ? g.everywhere(permission) : g.has(permission));
  }
};

// Per-request state handed to handlers.
class Context {
 public:
  Context(const httplib::Request& req, httplib::Response& res, Principal principal, std::string body)
      : req(req), res(res), principal(std::move(principal)), body_(std::move(body)) {}

  const httplib::Request& req;
  httplib::Response& res;
  Principal principal;
  // Streaming body reader; set only for routes declared with streams_body.
  // Use read_body(): a body left unread is drained by the dispatcher so the
  // connection stays usable for the next request.
  const httplib::ContentReader* reader = nullptr;
  bool read_body(const httplib::ContentReceiver& receiver) {
    body_consumed = true;
    return (*reader)(receiver);
  }
  bool body_consumed = false;

  std::string param(std::size_t i) const { return req.matches[static_cast<int>(i)].str(); }
  std::string query(const std::string& name) const { return req.get_param_value(name); }
  bool has_query(const std::string& name) const { return req.has_param(name); }
  // The JSON object body; invalid_argument for malformed JSON or a non-object.
  Result<Json> json_body() const;
  const std::string& raw_body() const { return body_; }

  void reply(const Json& body, int status = 200);
  void reply_empty(int status = 204);

 private:
  std::string body_;
};

using Handler = std::function<Status(Context&)>;

struct Route {
  std::string method;   // GET, POST, PUT, PATCH, DELETE
  std::string pattern;  // regex over the path, e.g. "/api/v1/computers/([^/]+)"
  Access access;
  Handler handler;
  bool streams_body = false;           // handler reads the body itself (segment upload)
  std::string summary;                 // one line, for docs and the route test
};

// Maps errors to statuses and writes {"error":{"code","message","field"?}}.
int http_status(Errc code);
void write_error(httplib::Response& res, const Error& error);

// Reads limit/next_token from the query (limit 1..500, default 50).
Result<catalog::Page> page_from(const Context& ctx);
Json page_json(const Json& items, const std::string& next_token);

// Parses an optional RFC 3339 query parameter.
Result<std::optional<EpochMs>> time_query(const Context& ctx, const std::string& name);

// JSON field helpers that name the field on a type error (unprocessable).
Result<std::string> get_string(const Json& j, std::string_view field, bool required = true);
Result<std::optional<std::int64_t>> get_int(const Json& j, std::string_view field);
Result<std::optional<bool>> get_bool(const Json& j, std::string_view field);

}  // namespace deskaudit::server
