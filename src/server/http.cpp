#include "server/http.hpp"

#include <charconv>

namespace deskaudit::server {

std::string Principal::actor() const {
  switch (kind) {
    case Kind::admin: return username;
    case Kind::agent: return "agent:" + computer_id;
    case Kind::anonymous: break;
  }
  return "anonymous";
}

Result<Json> Context::json_body() const {
  if (body_.empty()) return fail(Errc::invalid_argument, "the request needs a JSON object body");
  Json j = Json::parse(body_, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(Errc::invalid_argument, "the body is not valid JSON");
  if (!j.is_object()) return fail(Errc::invalid_argument, "the body must be a JSON object");
  return j;
}

void Context::reply(const Json& body, int status) {
  res.status = status;
  // Stored bytes from outside may not be UTF-8: replaced, never thrown on.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json; charset=utf-8");
}

void Context::reply_empty(int status) {
  res.status = status;
  res.body.clear();
}

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return 400;
    case Errc::unauthenticated: return 401;
    case Errc::permission_denied:
    case Errc::password_change_required: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::too_large: return 413;
    case Errc::unprocessable: return 422;
    case Errc::unavailable: return 503;
    case Errc::too_many_requests: return 429;
    case Errc::corrupt: return 422;
    case Errc::io:
    case Errc::internal: return 500;
  }
  return 500;
}

void write_error(httplib::Response& res, const Error& error) {
  Json e = {{"code", std::string(errc_name(error.code))}, {"message", error.message}};
  if (!error.field.empty()) e["field"] = error.field;
  res.status = http_status(error.code);
  if (error.code == Errc::unavailable) res.set_header("Retry-After", "1");
  res.set_content(Json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json; charset=utf-8");
}

Result<catalog::Page> page_from(const Context& ctx) {
  catalog::Page page;
  if (ctx.has_query("limit")) {
    const auto text = ctx.query("limit");
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > 500) {
      return fail(Errc::invalid_argument, "limit must be a whole number from 1 to 500", "limit");
    }
    page.limit = v;
  }
  page.next_token = ctx.query("next_token");
  return page;
}

Json page_json(const Json& items, const std::string& next_token) {
  Json out = {{"items", items}};
  if (!next_token.empty()) out["next_token"] = next_token;
  return out;
}

Result<std::optional<EpochMs>> time_query(const Context& ctx, const std::string& name) {
  if (!ctx.has_query(name) || ctx.query(name).empty()) return std::optional<EpochMs>{};
  auto t = parse_rfc3339(ctx.query(name));
  if (!t) return fail(Errc::invalid_argument, name + ": " + t.error().message, name);
  return std::optional<EpochMs>{*t};
}

Result<std::string> get_string(const Json& j, std::string_view field, bool required) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required) return fail(Errc::unprocessable, std::string(field) + " is required", std::string(field));
    return std::string();
  }
  if (!it->is_string()) return fail(Errc::unprocessable, std::string(field) + " must be a string", std::string(field));
  return it->get<std::string>();
}

Result<std::optional<std::int64_t>> get_int(const Json& j, std::string_view field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer()) {
    return fail(Errc::unprocessable, std::string(field) + " must be a whole number", std::string(field));
  }
  return std::optional<std::int64_t>{it->get<std::int64_t>()};
}

Result<std::optional<bool>> get_bool(const Json& j, std::string_view field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) return fail(Errc::unprocessable, std::string(field) + " must be true or false", std::string(field));
  return std::optional<bool>{it->get<bool>()};
}

}  // namespace deskaudit::server
