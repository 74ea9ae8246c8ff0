#include "server/router.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"

namespace deskaudit::server {
namespace {

constexpr std::string_view kHostPrefix = "__Host-";

bool is_unsafe(const std::string& method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

Result<Principal> authenticate(Services& s, const Request& req) {
  std::string token;
  bool via_cookie = false;
  const auto auth = req.get_header_value("Authorization");
  if (!auth.empty()) {
    if (auth.size() < 8 || auth.compare(0, 7, "Bearer ") != 0) {
      return fail(Errc::unauthenticated, "Authorization must be 'Bearer <token>'");
    }
    token = auth.substr(7);
  } else {
    token = cookie_value(req, session_cookie_name(req.tls));
    via_cookie = !token.empty();
  }
  if (token.empty()) return fail(Errc::unauthenticated, "sign in first: no bearer token or session cookie");
  // Whose the credential is, by the access service: 401 only for "no such
  // credential"; a catalog failure is unavailable (503, retry).
  auto who = s.access_service->authenticate(token);
  if (!who) return std::unexpected(who.error());
  Principal p;
  if (who->kind == service::Credential::Kind::agent) {
    p.kind = Principal::Kind::agent;
    p.computer_id = std::move(who->computer_id);
    return p;
  }
  p.kind = Principal::Kind::admin;
  p.user_id = who->user.id;
  p.username = who->user.username;
  p.token_id = who->token.id;
  p.via_cookie = via_cookie && who->token.kind == catalog::TokenKind::session;
  p.must_change_password = who->user.must_change_password;
  p.grants = std::move(who->grants);
  return p;
}

Status check_access(const Route& route, const Principal& p, const Request& req) {
  switch (route.access.kind) {
    case AccessKind::open:
      return {};
    case AccessKind::agent:
      if (p.kind != Principal::Kind::agent) return fail(Errc::permission_denied, "only agents may call this");
      return {};
    case AccessKind::signed_in:
    case AccessKind::permission:
      if (p.kind != Principal::Kind::admin) return fail(Errc::permission_denied, "only administrators may call this");
      if (p.must_change_password && !allowed_before_password_change(route)) {
        return fail(Errc::password_change_required,
                    "the password must be changed first (POST /api/v1/auth/password)");
      }
      if (!route.access.allows(p.grants)) {
        return fail(Errc::permission_denied, "permission " + route.access.permission + " is required" +
                                                 (route.access.unscoped ? ", granted without a scope" : ""));
      }
      if (p.via_cookie && is_unsafe(req.method)) {
        const auto header = req.get_header_value("X-CSRF-Token");
        const auto cookie = cookie_value(req, session_cookie_name(req.tls));
        if (header.empty() || !secure_equal(header, csrf_for(cookie))) {
          return fail(Errc::permission_denied, "missing or wrong X-CSRF-Token header");
        }
      }
      return {};
  }
  return fail(Errc::internal, "route without access rule");
}

// Handlers name cookies as over plain HTTP; over HTTPS each of ours becomes
// "__Host-<name>=...; Secure" (the prefix requires Secure and Path=/).
void secure_cookies(Response& res) {
  auto [begin, end] = res.headers.equal_range("Set-Cookie");
  for (auto it = begin; it != end; ++it) {
    auto& v = it->second;
    if (!v.starts_with("deskaudit_")) continue;
    v = std::string(kHostPrefix) + v;
    if (v.find("; Secure") == std::string::npos) v += "; Secure";
  }
}

std::string_view mime_type(const std::filesystem::path& file) {
  static const std::map<std::string, std::string_view, std::less<>> types = {
      {".html", "text/html; charset=utf-8"},
      {".js", "application/javascript; charset=utf-8"},
      {".mjs", "application/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".map", "application/json; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/vnd.microsoft.icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
      {".webmanifest", "application/manifest+json"},
  };
  auto it = types.find(file.extension().string());
  return it == types.end() ? std::string_view("application/octet-stream") : it->second;
}

// Serves a regular file through a content provider: read in pieces with
// pread, never whole in memory.
Status serve_file(const std::filesystem::path& file, Response& res) {
  auto fd = std::make_shared<UniqueFd>(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!*fd) return fail(Errc::not_found, "no such file");
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return fail(Errc::not_found, "no such file");
  res.set_content_provider(
      static_cast<std::size_t>(st.st_size), mime_type(file), [fd](std::size_t offset, std::size_t length, Sink& sink) {
        std::vector<char> buf(std::min<std::size_t>(length, 64 * 1024));
        while (length > 0) {
          const auto n = ::pread(fd->get(), buf.data(), std::min(buf.size(), length), static_cast<off_t>(offset));
          if (n <= 0) return false;
          if (!sink.write(buf.data(), static_cast<std::size_t>(n))) return false;
          offset += static_cast<std::size_t>(n);
          length -= static_cast<std::size_t>(n);
        }
        return true;
      });
  return {};
}

}  // namespace

std::string session_cookie_name(bool tls) {
  return tls ? std::string(kHostPrefix) + std::string(kSessionCookie) : std::string(kSessionCookie);
}

std::string csrf_cookie_name(bool tls) {
  return tls ? std::string(kHostPrefix) + std::string(kCsrfCookie) : std::string(kCsrfCookie);
}

std::string cookie_value(const Request& req, std::string_view name) {
  auto [begin, end] = req.headers.equal_range("Cookie");
  for (auto it = begin; it != end; ++it) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto part = rest.substr(0, semi);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
        return std::string(part.substr(name.size() + 1));
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return {};
}

Router::Router(Services& s, const std::vector<Route>& routes, std::filesystem::path web_root)
    : s_(s), web_root_(std::move(web_root)) {
  routes_.reserve(routes.size());
  for (const auto& r : routes) routes_.push_back({&r, std::regex(r.pattern)});
  if (!web_root_.empty()) {
    std::error_code ec;
    web_root_ = std::filesystem::weakly_canonical(web_root_, ec);
  }
}

const Router::Compiled* Router::match(Request& req) const {
  // HEAD is GET without the body.
  const std::string_view method = req.method == "HEAD" ? std::string_view("GET") : std::string_view(req.method);
  std::smatch m;
  for (const auto& c : routes_) {
    if (c.route->method != method) continue;
    if (std::regex_match(req.path, m, c.pattern)) {
      req.matches.clear();
      for (const auto& g : m) req.matches.push_back(g.str());
      return &c;
    }
  }
  return nullptr;
}

std::vector<std::string> Router::route_names() const {
  std::vector<std::string> names;
  for (const auto& c : routes_) names.push_back(c.route->method + " " + c.route->pattern);
  return names;
}

void Router::handle(Request& req, Response& res) const {
  const auto start = std::chrono::steady_clock::now();
  std::size_t route = Metrics::kNoRoute;
  try {
    route = dispatch(req, res);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unhandled exception: {}", req.method, req.path, e.what());
    res = Response{};
    write_error(res, Error{Errc::internal, "internal error; see the server log"});
  }
  if (req.tls) secure_cookies(res);
  add_default_headers(req, res);
  if (metrics_) {
    metrics_->observe(route, res.status,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

std::size_t Router::dispatch(Request& req, Response& res) const {
  const auto* c = match(req);
  if (!c) {
    if ((req.method == "GET" || req.method == "HEAD") && !req.path.starts_with("/api/"))
      serve_console(req, res);
    else
      write_error(res, Error{Errc::not_found, "no such endpoint: " + req.method + " " + req.path});
    return Metrics::kNoRoute;
  }
  const auto index = static_cast<std::size_t>(c - routes_.data());
  run_route(*c->route, req, res);
  return index;
}

void Router::run_route(const Route& route, Request& req, Response& res) const {
  const auto limit = route.streams_body ? static_cast<std::uint64_t>(s_.config.max_segment_bytes)
                                        : static_cast<std::uint64_t>(s_.config.max_json_bytes);
  if (req.content_length && *req.content_length > limit) {
    res.set_header("Connection", "close");
    return write_error(
        res, Error{Errc::too_large, "the body (" + std::to_string(*req.content_length) +
                                        " bytes) is larger than the limit of " + std::to_string(limit) + " bytes"});
  }
  Principal principal;
  if (route.access.kind != AccessKind::open) {
    auto p = authenticate(s_, req);
    if (!p) return write_error(res, p.error());
    principal = std::move(*p);
    if (metrics_ && principal.kind == Principal::Kind::agent) metrics_->agent_seen(principal.computer_id, s_.now());
  }
  if (auto st = check_access(route, principal, req); !st) return write_error(res, st.error());
  std::string body;
  if (req.body && req.has_body() && !route.streams_body) {
    bool too_large = false;
    const bool whole = req.body->read([&](const char* data, std::size_t n) {
      if (n > limit - body.size()) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large) {
      res.set_header("Connection", "close");
      return write_error(res, Error{Errc::too_large, "the body is larger than " + std::to_string(limit) + " bytes"});
    }
    if (!whole) {
      res.set_header("Connection", "close");
      return write_error(res, Error{Errc::invalid_argument, "the request body did not arrive whole"});
    }
  }
  // Upload bytes are counted as the handler pulls them.
  struct CountingBody final : BodyReader {
    BodyReader& inner;
    Metrics& metrics;
    CountingBody(BodyReader& i, Metrics& m) : inner(i), metrics(m) {}
    bool read(const BodyReceiver& receiver) override {
      return inner.read([&](const char* data, std::size_t n) {
        metrics.add_upload_bytes(n);
        return receiver(data, n);
      });
    }
  };
  std::optional<CountingBody> counting;
  BodyReader* const original_body = req.body;
  if (route.streams_body && req.body && metrics_) {
    counting.emplace(*req.body, *metrics_);
    req.body = &*counting;
  }
  Context ctx(req, res, std::move(principal), std::move(body));
  auto st = route.handler(ctx);
  req.body = original_body;
  if (!st) {
    res.provider = nullptr;
    write_error(res, st.error());
  }
}

void Router::serve_console(const Request& req, Response& res) const {
  if (web_root_.empty()) {
    if (req.path == "/") {
      res.set_content("deskaudit: the web console is not built. Run scripts/build.\n", "text/plain; charset=utf-8");
      return;
    }
    return write_error(res, Error{Errc::not_found, "no such endpoint: " + req.method + " " + req.path});
  }
  // A request path names a file under the root; no segment may climb out.
  const std::filesystem::path rel = std::filesystem::path(req.path).relative_path();
  for (const auto& part : rel) {
    if (part == "..") return write_error(res, Error{Errc::invalid_argument, "the path must not contain '..'"});
  }
  std::error_code ec;
  auto file = std::filesystem::weakly_canonical(web_root_ / rel, ec);
  const auto inside = !ec && file.string().starts_with(web_root_.string() + "/");
  if (inside && std::filesystem::is_regular_file(file, ec)) {
    if (serve_file(file, res)) {
      if (req.path.starts_with("/assets/")) res.set_header("Cache-Control", "public, max-age=31536000, immutable");
      return;
    }
  }
  // Client-side routes (/recordings/..., /computers) get the console's index.
  static const std::regex client_route(R"(/(?!api/)[^.]*)");
  if (std::regex_match(req.path, client_route)) {
    if (auto st = serve_file(web_root_ / "index.html", res); !st) return write_error(res, st.error());
    res.set_header("Cache-Control", "no-cache");
    return;
  }
  write_error(res, Error{Errc::not_found, "no such file: " + req.path});
}

void Router::add_default_headers(const Request& req, Response& res) const {
  auto set_default = [&res](std::string_view name, std::string_view value) {
    if (!res.has_header(name)) res.headers.emplace(std::string(name), std::string(value));
  };
  set_default("X-Content-Type-Options", "nosniff");
  set_default("X-Frame-Options", "DENY");
  set_default("Referrer-Policy", "no-referrer");
  set_default("Content-Security-Policy", kContentSecurityPolicy);
  if (req.tls) set_default("Strict-Transport-Security", "max-age=31536000");
}

}  // namespace deskaudit::server
