#pragma once
// The HTTP layer, independent of any transport: request and response types,
// the per-request Context handed to handlers, and the route table entry.
// Every route is declared once in a table with the access it needs (public,
// any agent, or a named permission); the Router (router.hpp) authenticates,
// checks the permission, reads the body within its limit, and turns every
// Error into the JSON error shape {"error":{"code","message"}}. The network
// side lives in transport/http_server.hpp.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/permissions.hpp"
#include "catalog/types.hpp"
#include "common/error.hpp"

namespace deskaudit::server {

using Json = nlohmann::json;

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const noexcept;
  using is_transparent = void;
};
// Header fields by name, case-insensitively; a name may repeat (Set-Cookie).
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

// Receives body bytes as they arrive; false stops reading.
using BodyReceiver = std::function<bool(const char* data, std::size_t size)>;

// The body of a request, pulled by whoever handles it. read() hands the rest
// of the body to the receiver and returns true when it arrived whole (false:
// the receiver stopped, the client went away or was too slow).
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  virtual bool read(const BodyReceiver& receiver) = 0;
};

struct Request {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded
  Headers headers;
  std::multimap<std::string, std::string> params;  // query, decoded
  std::string remote_addr;
  bool tls = false;                         // arrived over HTTPS
  std::optional<std::uint64_t> content_length;
  bool chunked = false;                     // Transfer-Encoding: chunked
  BodyReader* body = nullptr;               // null when the request has no body
  std::vector<std::string> matches;         // [0] the path, [1..] the route's groups

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
  std::string get_header_value(std::string_view name) const;
  bool has_param(std::string_view name) const { return params.find(std::string(name)) != params.end(); }
  std::string get_param_value(std::string_view name) const;
};

// Splits "path?query" into a decoded path and decoded query parameters;
// invalid_argument for a malformed percent escape or a path with NUL.
Status parse_target(Request& req);
// Percent-decoding; '+' is a space only when plus_is_space (query strings).
Result<std::string> url_decode(std::string_view text, bool plus_is_space);

// Where a content provider writes: false when the client is gone.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool write(const char* data, std::size_t size) = 0;
};
// Writes bytes [offset, offset + length) of a response body to the sink.
using ContentProvider = std::function<bool(std::size_t offset, std::size_t length, Sink& sink)>;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A body produced on demand (files, downloads); the transport serves Range
  // requests from it and never holds it whole.
  ContentProvider provider;
  std::size_t content_length = 0;  // of the provider's body

  // Replaces the field (use headers.emplace to repeat one, as Set-Cookie).
  void set_header(std::string_view name, std::string_view value);
  bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
  std::string get_header_value(std::string_view name) const;
  void set_content(std::string content, std::string_view content_type);
  void set_content_provider(std::size_t length, std::string_view content_type, ContentProvider fn);
};

// One byte range of a representation of `size` bytes (RFC 9110 14.1.2).
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};
// Parses a Range header value for a body of `size` bytes. nullopt: serve the
// whole body (absent, not "bytes=", or several ranges); an error of kind
// unprocessable: no satisfiable range (416).
Result<std::optional<ByteRange>> parse_range(std::string_view header, std::uint64_t size);

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
  Context(const Request& req, Response& res, Principal principal, std::string body)
      : req(req), res(res), principal(std::move(principal)), body_(std::move(body)) {}

  const Request& req;
  Response& res;
  Principal principal;
  // Streams the body to the receiver; only for routes declared with
  // streams_body. A body left unread is drained or the connection closed by
  // the transport, so the next request on the connection parses correctly.
  bool read_body(const BodyReceiver& receiver) {
    body_consumed = true;
    return req.body ? req.body->read(receiver) : true;
  }
  bool body_consumed = false;

  std::string param(std::size_t i) const { return i < req.matches.size() ? req.matches[i] : std::string(); }
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

// Writes {"error":{"code","message","field"?}} with the status of
// http_status_for() (common/http_status.hpp).
void write_error(Response& res, const Error& error);

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
