#include "server/http.hpp"

#include <algorithm>
#include <charconv>

#include "common/http_status.hpp"

namespace deskaudit::server {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A whole decimal number without sign or spaces; nullopt otherwise or on overflow.
std::optional<std::uint64_t> whole_number(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return lower(x) < lower(y); });
}

std::string Request::get_header_value(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::get_param_value(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

Result<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) {
        return fail(Errc::invalid_argument, "a percent escape in the URL is cut short");
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return fail(Errc::invalid_argument, "the URL has a malformed percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Status parse_target(Request& req) {
  const std::string_view target = req.target;
  const auto q = target.find('?');
  auto path = url_decode(target.substr(0, q), false);
  if (!path) return std::unexpected(path.error());
  if (path->empty() || path->front() != '/' || path->find('\0') != std::string::npos) {
    return fail(Errc::invalid_argument, "the request target must be an absolute path");
  }
  req.path = std::move(*path);
  req.params.clear();
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      auto key = url_decode(pair.substr(0, eq), true);
      if (!key) return std::unexpected(key.error());
      std::string value;
      if (eq != std::string_view::npos) {
        auto v = url_decode(pair.substr(eq + 1), true);
        if (!v) return std::unexpected(v.error());
        value = std::move(*v);
      }
      req.params.emplace(std::move(*key), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

void Response::set_header(std::string_view name, std::string_view value) {
  headers.erase(std::string(name));
  headers.emplace(std::string(name), std::string(value));
}

std::string Response::get_header_value(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

void Response::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  provider = nullptr;
  content_length = 0;
  set_header("Content-Type", content_type);
}

void Response::set_content_provider(std::size_t length, std::string_view content_type, ContentProvider fn) {
  body.clear();
  provider = std::move(fn);
  content_length = length;
  set_header("Content-Type", content_type);
}

Result<std::optional<ByteRange>> parse_range(std::string_view header, std::uint64_t size) {
  constexpr std::string_view unit = "bytes=";
  if (header.size() < unit.size() || !std::equal(unit.begin(), unit.end(), header.begin(),
                                                  [](char a, char b) { return a == lower(b); })) {
    return std::optional<ByteRange>{};  // another unit: ignored (RFC 9110 14.2)
  }
  std::string_view spec = header.substr(unit.size());
  while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t')) spec.remove_prefix(1);
  while (!spec.empty() && (spec.back() == ' ' || spec.back() == '\t')) spec.remove_suffix(1);
  // Several ranges would need multipart/byteranges; the whole body is a valid answer.
  if (spec.find(',') != std::string_view::npos) return std::optional<ByteRange>{};
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>{};
  const auto first_text = spec.substr(0, dash);
  const auto last_text = spec.substr(dash + 1);
  auto unsatisfiable = [size] {
    return fail(Errc::unprocessable, "the range is outside the " + std::to_string(size) + " bytes of the body");
  };
  if (first_text.empty()) {  // suffix: the last n bytes
    auto n = whole_number(last_text);
    if (!n) return std::optional<ByteRange>{};
    if (*n == 0 || size == 0) return unsatisfiable();
    const auto len = std::min(*n, size);
    return std::optional<ByteRange>{ByteRange{size - len, len}};
  }
  auto first = whole_number(first_text);
  if (!first) return std::optional<ByteRange>{};
  if (*first >= size) return unsatisfiable();
  std::uint64_t last = size - 1;
  if (!last_text.empty()) {
    auto l = whole_number(last_text);
    if (!l || *l < *first) return std::optional<ByteRange>{};  // invalid: ignored
    last = std::min(*l, size - 1);
  }
  return std::optional<ByteRange>{ByteRange{*first, last - *first + 1}};
}

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
  // Stored text may hold bytes that are not UTF-8: replace them, never throw.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json; charset=utf-8");
}

void Context::reply_empty(int status) {
  res.status = status;
  res.body.clear();
  res.provider = nullptr;
  res.content_length = 0;
}

void write_error(Response& res, const Error& error) {
  Json e = {{"code", std::string(errc_name(error.code))}, {"message", error.message}};
  if (!error.field.empty()) e["field"] = error.field;
  res.status = http_status_for(error.code);
  if (error.retry_after_ms > 0) {
    res.set_header("Retry-After", std::to_string(retry_after_seconds(error.retry_after_ms)));
  } else if (error.code == Errc::unavailable) {
    res.set_header("Retry-After", "1");
  }
  res.set_content(Json{{"error", e}}.dump(-1, ' ', false, Json::error_handler_t::replace),
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
