#include "server/app.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <chrono>

#include <spdlog/spdlog.h>

#include "auth/password.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "server/watchdog.hpp"

namespace deskaudit::server {
namespace {

bool is_unsafe(const std::string& method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

std::string cookie_value(const httplib::Request& req, std::string_view name) {
  const auto header = req.get_header_value("Cookie");
  std::string_view rest = header;
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
  return {};
}

std::filesystem::path find_web_root(const std::filesystem::path& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::filesystem::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../share/deskaudit/web");
    candidates.push_back(exe.parent_path() / "../../web/dist");
  }
  candidates.emplace_back("/usr/share/deskaudit/web");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c / "index.html", ec)) return std::filesystem::weakly_canonical(c, ec);
  }
  return {};
}

// cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed
// when Debian compiled the library), so a burst of agents connecting at once
// gets connection resets. On Linux, listen() again on a listening socket
// raises its backlog: find ours by its port and do that.
void raise_listen_backlog(int port, int backlog) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (auto* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port && ::listen(fd, backlog) == 0) spdlog::debug("listen backlog raised to {}", backlog);
  }
  ::closedir(dir);
}

}  // namespace

std::string csrf_for(std::string_view session_token) {
  return sha256_hex(std::string("deskaudit-csrf:") + std::string(session_token)).substr(0, 43);
}

Result<auth::Grants> load_grants(catalog::Catalog& catalog, std::string_view user_id) {
  auto grants = catalog.list_grants(user_id);
  if (!grants) return std::unexpected(grants.error());
  auto roles = catalog.list_roles();
  if (!roles) return std::unexpected(roles.error());
  return auth::Grants(*grants, *roles);
}

void Services::audit(const Principal& who, std::string action, std::string target, const Json& details) {
  audit_as(who.actor(), std::move(action), std::move(target), details);
}

void Services::audit_as(std::string actor, std::string action, std::string target, const Json& details) {
  catalog::AuditEntry e;
  e.time = now();
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.target = std::move(target);
  e.details_json = details.dump();
  if (auto r = catalog->append_audit(std::move(e)); !r) {
    spdlog::error("audit log append failed: {}", r.error().message);
  } else if (audit_signer) {
    audit_signer->after_append(r->seq);
  }
}

Status Services::audit_required(const Principal& who, std::string action, std::string target, const Json& details) {
  catalog::AuditEntry e;
  e.time = now();
  e.actor = who.actor();
  e.action = std::move(action);
  e.target = std::move(target);
  e.details_json = details.dump();
  if (auto r = catalog->append_audit(std::move(e)); !r) {
    spdlog::error("audit log append failed, refusing the request: {}", r.error().message);
    return fail(Errc::unavailable, "the access could not be written to the audit log; retry shortly");
  }
  return {};
}

Handler apply_to_id(Services& s, std::function<Status(const std::string& id)> op, std::string action) {
  return [&s, op = std::move(op), action = std::move(action)](Context& ctx) -> Status {
    const auto id = ctx.param(1);
    if (auto st = op(id); !st) return st;
    s.audit(ctx.principal, action, id);
    ctx.reply_empty();
    return {};
  };
}

std::vector<Route> build_routes(Services& s) {
  std::vector<Route> routes;
  routes.push_back(Route{"GET", "/api/v1/health", Access::open(),
                         [&s](Context& ctx) -> Status {
                           ctx.reply({{"status", "ok"}, {"catalog", s.catalog->backend()}});
                           return {};
                         },
                         false, "Liveness without authentication"});
  add_auth_routes(routes, s);
  add_admin_routes(routes, s);
  add_inventory_routes(routes, s);
  add_policy_routes(routes, s);
  add_agent_routes(routes, s);
  add_recording_routes(routes, s);
  add_audit_routes(routes, s);
  return routes;
}

namespace {

// The signing key (outside the catalog), announced in the catalog for
// operators to see, and the audit log's checkpoint signer.
Status open_signing(Services& s) {
  const auto& c = s.config;
  auto keys = keys::KeyService::open({c.signing_key_file, c.trusted_keys_file, c.signing_key_seed});
  if (!keys) return std::unexpected(with_context(keys.error(), "opening the signing key"));
  s.keys = std::move(*keys);
  const auto current = s.keys->current();
  if (auto st = s.catalog->publish_key({current.key_id, "ed25519", current.base64(), s.now()}); !st) return st;
  auto signer = AuditSigner::create(*s.catalog, *s.keys, c.audit_sign_every, c.replica_id,
                                    c.data_dir / "audit-witness.json", s.clock);
  if (!signer) return std::unexpected(signer.error());
  s.audit_signer = std::move(*signer);
  spdlog::info("audit log signing key {} (checkpoint every {} entries)", current.key_id, c.audit_sign_every);
  return {};
}

}  // namespace

Result<std::unique_ptr<App>> App::create(ServerConfig config, std::shared_ptr<const Clock> clock,
                                         std::string admin_password) {
  if (auto st = finalize(config); !st) return std::unexpected(st.error());
  if (auto st = ensure_private_dir(config.data_dir); !st) return std::unexpected(st.error());
  std::unique_ptr<App> app(new App());
  auto s = std::make_unique<Services>();
  s->clock = std::move(clock);
  s->incoming_dir = config.data_dir / "incoming";
  if (auto st = ensure_private_dir(s->incoming_dir); !st) return std::unexpected(st.error());
  // Uploads cut off by a crash leave temp files; nothing refers to them.
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(s->incoming_dir, ec)) std::filesystem::remove(e.path(), ec);

  auto cat = catalog::make_catalog(config.catalog);
  if (!cat) return std::unexpected(with_context(cat.error(), "opening the catalog"));
  s->catalog = std::move(*cat);
  if (auto st = s->catalog->migrate(); !st) return std::unexpected(with_context(st.error(), "migrating the catalog"));
  auto store = storage::make_object_store(config.store, config.s3);
  if (!store) return std::unexpected(with_context(store.error(), "opening the object store"));
  s->store = std::move(*store);
  s->config = std::move(config);
  if (auto st = open_signing(*s); !st) return std::unexpected(st.error());

  for (const auto& role : auth::builtin_roles()) {
    if (auto st = s->catalog->upsert_role(role); !st) return std::unexpected(st.error());
  }
  auto users = s->catalog->count_users();
  if (!users) return std::unexpected(users.error());
  if (*users == 0) {
    const bool generated = admin_password.empty();
    if (generated) {
      // Never on stdout or in the log: a 0600 file only the operator reads,
      // and the password must be changed at the first sign-in.
      admin_password = auth::generate_password();
      app->first_password_file_ = s->config.data_dir / kFirstPasswordFile;
      if (auto st = write_file_atomic(app->first_password_file_, admin_password + "\n", 0600); !st) {
        return std::unexpected(with_context(st.error(), "writing the first administrator's password"));
      }
    } else if (auto st = auth::check_password_rules("admin", admin_password); !st) {
      return std::unexpected(with_context(st.error(), "DESKAUDIT_ADMIN_PASSWORD"));
    }
    auto hash = auth::hash_password(admin_password);
    if (!hash) return std::unexpected(hash.error());
    catalog::User admin;
    admin.id = random_id("usr-");
    admin.username = "admin";
    admin.password_hash = *hash;
    admin.created_at = admin.password_changed_at = s->now();
    admin.must_change_password = generated;
    if (auto st = s->catalog->create_user(admin); !st) return std::unexpected(st.error());
    if (auto st = s->catalog->grant_role({admin.id, "administrator", std::nullopt, std::nullopt}); !st) {
      return std::unexpected(st.error());
    }
    s->audit_as("system", "user.create", admin.username, {{"roles", {"administrator"}}, {"bootstrap", true}});
  }
  app->services_ = std::move(s);
  app->routes_ = build_routes(*app->services_);
  return app;
}

App::~App() {
  stop();
  if (sweeper_.joinable()) sweeper_.join();
}

namespace {

// Only "no such credential" signs a caller out (401); any other catalog
// failure is the server's trouble, answered 503 so clients retry.
bool is_missing(const Error& e) { return e.code == Errc::not_found || e.code == Errc::unauthenticated; }
std::unexpected<Error> catalog_unavailable(const Error& e) {
  spdlog::error("authentication: catalog failure: {}", e.message);
  return std::unexpected(Error{Errc::unavailable, "the catalog is unavailable; retry shortly"});
}

Result<Principal> authenticate(Services& s, const httplib::Request& req) {
  std::string token;
  bool via_cookie = false;
  const auto auth = req.get_header_value("Authorization");
  if (!auth.empty()) {
    if (auth.size() < 8 || auth.compare(0, 7, "Bearer ") != 0) {
      return fail(Errc::unauthenticated, "Authorization must be 'Bearer <token>'");
    }
    token = auth.substr(7);
  } else {
    token = cookie_value(req, kSessionCookie);
    via_cookie = !token.empty();
  }
  if (token.empty()) return fail(Errc::unauthenticated, "sign in first: no bearer token or session cookie");
  const auto hash = sha256_hex(token);
  Principal p;
  if (token.starts_with(kAgentPrefix)) {
    auto computer = s.catalog->computer_for_agent_token(hash);
    if (!computer) {
      if (is_missing(computer.error())) return fail(Errc::unauthenticated, "unknown or revoked agent credential");
      return catalog_unavailable(computer.error());
    }
    p.kind = Principal::Kind::agent;
    p.computer_id = *computer;
    return p;
  }
  if (!token.starts_with(kSessionPrefix) && !token.starts_with(kApiTokenPrefix)) {
    return fail(Errc::unauthenticated, "unknown token");
  }
  auto t = s.catalog->find_token(hash);
  if (!t) {
    if (is_missing(t.error())) return fail(Errc::unauthenticated, "unknown or expired token");
    return catalog_unavailable(t.error());
  }
  const auto now = s.now();
  if (t->revoked) return fail(Errc::unauthenticated, "the token was revoked; sign in again");
  if (t->expires_at && *t->expires_at <= now) return fail(Errc::unauthenticated, "the session expired; sign in again");
  auto user = s.catalog->get_user(t->user_id);
  if (!user && !is_missing(user.error())) return catalog_unavailable(user.error());
  if (!user || user->disabled) return fail(Errc::unauthenticated, "the account is disabled or deleted");
  auto grants = load_grants(*s.catalog, user->id);
  if (!grants) return catalog_unavailable(grants.error());
  if (now - t->last_used_at > 60'000) (void)s.catalog->touch_token(t->id, now);
  p.kind = Principal::Kind::admin;
  p.user_id = user->id;
  p.username = user->username;
  p.token_id = t->id;
  p.via_cookie = via_cookie && t->kind == catalog::TokenKind::session;
  p.must_change_password = user->must_change_password;
  p.grants = std::move(*grants);
  return p;
}

Status check_access(const Route& route, const Principal& p, const httplib::Request& req) {
  switch (route.access.kind) {
    case AccessKind::open: return {};
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
        const auto cookie = cookie_value(req, kSessionCookie);
        if (header.empty() || !secure_equal(header, csrf_for(cookie))) {
          return fail(Errc::permission_denied, "missing or wrong X-CSRF-Token header");
        }
      }
      return {};
  }
  return fail(Errc::internal, "route without access rule");
}

}  // namespace

void App::register_routes() {
  auto& s = *services_;
  for (const auto& route : routes_) {
    const bool has_body = route.method == "POST" || route.method == "PUT" || route.method == "PATCH";
    auto run = [&s, &route](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader* reader) {
      // A body refused before it is read is drained (its size is already
      // capped by the pre-routing check), or its bytes would be parsed as
      // the connection's next request.
      auto drain = [reader] {
        if (reader) (*reader)([](const char*, std::size_t) { return true; });
      };
      try {
        Principal principal;
        if (route.access.kind != AccessKind::open) {
          auto p = authenticate(s, req);
          if (!p) {
            drain();
            return write_error(res, p.error());
          }
          principal = std::move(*p);
        }
        if (auto st = check_access(route, principal, req); !st) {
          drain();
          return write_error(res, st.error());
        }
        std::string body;
        if (reader && !route.streams_body) {
          bool too_large = false;
          const auto limit = static_cast<std::size_t>(s.config.max_json_bytes);
          (*reader)([&](const char* data, std::size_t n) {
            if (body.size() + n > limit) {
              too_large = true;
              return false;
            }
            body.append(data, n);
            return true;
          });
          if (too_large) {
            return write_error(res, Error{Errc::too_large, "the body is larger than " + std::to_string(limit) + " bytes"});
          }
        }
        Context ctx(req, res, std::move(principal), std::move(body));
        if (route.streams_body) ctx.reader = reader;
        auto st = route.handler(ctx);
        if (route.streams_body && !ctx.body_consumed) drain();
        if (!st) write_error(res, st.error());
      } catch (const std::exception& e) {
        spdlog::error("{} {}: unhandled exception: {}", req.method, req.path, e.what());
        write_error(res, Error{Errc::internal, "internal error; see the server log"});
      }
    };
    if (has_body) {
      auto h = [run](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
        run(req, res, &reader);
      };
      if (route.method == "POST") http_->Post(route.pattern, h);
      else if (route.method == "PUT") http_->Put(route.pattern, h);
      else http_->Patch(route.pattern, h);
    } else {
      auto h = [run](const httplib::Request& req, httplib::Response& res) { run(req, res, nullptr); };
      if (route.method == "GET") http_->Get(route.pattern, h);
      else http_->Delete(route.pattern, h);
    }
  }
}

void App::serve_console() {
  const auto root = find_web_root(services_->config.web_root);
  if (root.empty()) {
    spdlog::warn("web console not found (build it with scripts/build); the API works without it");
    http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("deskaudit: the web console is not built. Run scripts/build.\n", "text/plain");
    });
    return;
  }
  // httplib compresses only exact content types, with brotli at quality 11
  // when the browser accepts it: seconds for the player bundle. Scripts are
  // served with a charset parameter so they go out uncompressed and fast.
  http_->set_file_extension_and_mimetype_mapping("js", "application/javascript; charset=utf-8");
  http_->set_file_extension_and_mimetype_mapping("mjs", "application/javascript; charset=utf-8");
  http_->set_file_extension_and_mimetype_mapping("map", "application/json; charset=utf-8");
  http_->set_mount_point("/", root.string());
  const auto index = root / "index.html";
  // Client-side routes (/recordings/..., /computers) get the console's index.
  http_->Get(R"(/(?!api/)[^.]*)", [index](const httplib::Request&, httplib::Response& res) {
    auto html = read_file(index);
    if (!html) return write_error(res, html.error());
    res.set_content(*html, "text/html; charset=utf-8");
  });
  spdlog::info("serving the console from {}", root.string());
}

Status App::run(const std::function<void(int port)>& on_listening) {
  http_ = std::make_unique<httplib::Server>();
  const int threads = services_->config.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  http_->set_payload_max_length(static_cast<std::size_t>(services_->config.max_segment_bytes));
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(60, 0);
  http_->set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"X-Frame-Options", "DENY"},
                              {"Referrer-Policy", "no-referrer"}});
  const auto json_limit = services_->config.max_json_bytes;
  const auto segment_limit = services_->config.max_segment_bytes;
  // Refuse oversized or unframed bodies before a byte of them is read.
  http_->set_pre_routing_handler([json_limit, segment_limit](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH") return httplib::Server::HandlerResponse::Unhandled;
    const bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    if (!req.has_header("Content-Length") && !chunked) {
      res.set_header("Connection", "close");
      write_error(res, Error{Errc::invalid_argument, "a Content-Length header is required (411)"});
      res.status = 411;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.has_header("Content-Length")) {
      const auto& text = req.get_header_value("Content-Length");
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      const bool segment = req.path.find("/segments/") != std::string::npos;
      const auto limit = static_cast<std::uint64_t>(segment ? segment_limit : json_limit);
      if (ec != std::errc() || p != text.data() + text.size()) {
        res.set_header("Connection", "close");
        write_error(res, Error{Errc::invalid_argument, "Content-Length is not a number"});
        return httplib::Server::HandlerResponse::Handled;
      }
      if (n > limit) {
        res.set_header("Connection", "close");
        write_error(res, Error{Errc::too_large, "the body (" + std::to_string(n) + " bytes) is larger than the limit of " +
                                                    std::to_string(limit) + " bytes"});
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    Errc code = res.status == 404 ? Errc::not_found
                : res.status == 413 ? Errc::too_large
                : res.status == 400 ? Errc::invalid_argument
                : res.status == 405 ? Errc::invalid_argument
                                    : Errc::internal;
    const int status = res.status;
    write_error(res, Error{code, status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                               : "the request could not be served (HTTP " + std::to_string(status) + ")"});
    res.status = status;
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("http method={} path={} status={} bytes={}", req.method, req.path, res.status, res.body.size());
  });
  register_routes();
  serve_console();

  const auto [host, port] = split_listen(services_->config.listen).value();
  int bound = port;
  if (port == 0) {
    bound = http_->bind_to_any_port(host);
  } else if (!http_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) return fail(Errc::unavailable, "cannot listen on " + services_->config.listen + " (in use or not permitted)");
  raise_listen_backlog(bound, 1024);
  sweeper_ = std::thread([this] { sweeper_loop(); });
  if (on_listening) on_listening(bound);
  Status served;
  if (!stopping_.load() && !http_->listen_after_bind() && !stopping_.load()) {
    served = fail(Errc::unavailable, "the HTTP server stopped unexpectedly");
  }
  // Requests are done: sign the head so that cutting off the newest entries
  // while the server is down is detected.
  if (auto cp = services_->audit_signer->sign_head(audit::kCheckpointShutdown); !cp && cp.error().code != Errc::not_found) {
    spdlog::error("signing the audit log head at shutdown failed: {}", cp.error().message);
  }
  return served;
}

void App::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(sweeper_mu_);
    sweeper_cv_.notify_all();
  }
  if (http_) http_->stop();
}

void App::sweeper_loop() {
  auto& s = *services_;
  while (!stopping_.load()) {
    const auto now = s.now();
    auto held = s.catalog->acquire_lease("retention-sweeper", s.config.replica_id, now, 3 * s.config.sweep_interval_ms);
    if (held && *held) {
      if (auto n = sweep_once(); !n) {
        spdlog::error("retention sweep failed: {}", n.error().message);
      } else if (*n > 0) {
        spdlog::info("retention sweep deleted {} expired recordings", *n);
      }
      if (auto n = note_silent_agents(s); !n) spdlog::error("silent-agent check failed: {}", n.error().message);
    }
    std::unique_lock lock(sweeper_mu_);
    sweeper_cv_.wait_for(lock, std::chrono::milliseconds(s.config.sweep_interval_ms), [this] { return stopping_.load(); });
  }
}

Result<int> App::sweep_once() {
  auto& s = *services_;
  int deleted = 0;
  for (;;) {
    auto expired = s.catalog->list_expired_recordings(s.now(), 100);
    if (!expired) return std::unexpected(expired.error());
    if (expired->empty()) return deleted;
    for (const auto& rec : *expired) {
      // Objects first, rows after: a crash in between leaves rows that the
      // next pass deletes again, never rows pointing at nothing for long.
      auto objects = s.store->list("recordings/" + rec.computer_id + "/" + rec.id + "/");
      if (!objects) return std::unexpected(objects.error());
      for (const auto& o : *objects) {
        if (auto st = s.store->remove(o.key); !st) return std::unexpected(st.error());
      }
      if (auto st = s.catalog->delete_recording(rec.id); !st) return std::unexpected(st.error());
      s.audit_as("system", "recording.expire", rec.id,
                 {{"computer_id", rec.computer_id}, {"username", rec.username},
                  {"expires_at", rec.expires_at ? format_rfc3339(*rec.expires_at) : ""},
                  {"objects", objects->size()}});
      ++deleted;
    }
  }
}

}  // namespace deskaudit::server
