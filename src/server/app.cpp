#include "server/app.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "storage/encrypted_store.hpp"

namespace deskaudit::server {
namespace {

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

}  // namespace

std::string csrf_for(std::string_view session_token) {
  return sha256_hex(std::string("deskaudit-csrf:") + std::string(session_token)).substr(0, 43);
}

service::Caller caller_of(const Principal& who) {
  return {who.actor(), who.user_id, who.computer_id, who.grants};
}

void Services::audit(const Principal& who, std::string action, std::string target, const Json& details) {
  audit_log->record_as(who.actor(), std::move(action), std::move(target), details);
}

void Services::audit_as(std::string actor, std::string action, std::string target, const Json& details) {
  audit_log->record_as(std::move(actor), std::move(action), std::move(target), details);
}

Status Services::audit_required(const Principal& who, std::string action, std::string target, const Json& details) {
  return audit_log->record_required(caller_of(who), std::move(action), std::move(target), details);
}

Handler handler_of(Services& s, Status (*handler)(Services&, Context&)) {
  return [&s, handler](Context& ctx) { return handler(s, ctx); };
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

Handler bind_handler(Services& s, ServiceHandler handler) {
  return [&s, handler](Context& ctx) { return handler(s, ctx); };
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
  auto signer = service::AuditSigner::create(*s.catalog, *s.keys, c.audit_sign_every, c.replica_id,
                                             c.data_dir / "audit-witness.json", s.clock);
  if (!signer) return std::unexpected(signer.error());
  s.audit_signer = std::move(*signer);
  s.audit_log = std::make_unique<service::AuditLog>(
      *s.catalog, s.clock, [signer = s.audit_signer.get()](std::int64_t seq) { signer->after_append(seq); });
  s.policies = std::make_unique<service::PolicyService>(*s.catalog, *s.audit_log, s.clock);
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
  if (config.encryption_at_rest()) {
    auto keys = storage::load_master_keys(config.encryption_key_file, config.encryption_key);
    if (!keys) return std::unexpected(with_context(keys.error(), "encryption at rest"));
    storage::EncryptionOptions eo;
    eo.temp_dir = s->incoming_dir;  // beside the uploads: a local store moves sealed files into place
    auto encrypted = storage::EncryptedObjectStore::open(std::move(s->store), *keys, eo);
    if (!encrypted) return std::unexpected(with_context(encrypted.error(), "encryption at rest"));
    spdlog::info("encryption at rest: on, master keys from {}", (*keys)->describe());
    s->store = std::move(*encrypted);
  }
  s->config = std::move(config);
  if (auto st = open_signing(*s); !st) return std::unexpected(st.error());
  s->recordings = std::make_unique<service::RecordingService>(*s->catalog, *s->store, *s->audit_log, s->clock);
  s->media = std::make_unique<service::MediaService>(*s->catalog, *s->store, *s->audit_log, s->clock, *s->recordings);
  s->events = std::make_unique<service::EventService>(*s->catalog, *s->store, *s->audit_log, s->clock, *s->recordings);
  s->evidence = std::make_unique<service::EvidenceService>(*s->catalog, *s->store, *s->audit_log, s->clock, *s->keys,
                                                           *s->recordings, *s->media);
  s->access_service = std::make_unique<service::AccessService>(
      *s->catalog, *s->audit_log, s->clock,
      service::AccessSettings{catalog::LockoutRule{}, s->config.session_ttl_ms, s->config.data_dir / kFirstPasswordFile});
  s->audit_service =
      std::make_unique<service::AuditService>(*s->catalog, *s->keys, *s->audit_signer, *s->audit_log, s->clock);
  {
    const auto& c = s->config;
    s->inventory = std::make_unique<service::InventoryService>(*s->catalog, *s->audit_log, s->clock,
                                                               service::InventorySettings{c.agent_offline_after_ms});
    s->agents = std::make_unique<service::AgentService>(
        *s->catalog, *s->store, *s->audit_log, s->clock,
        service::AgentSettings{c.agent_offline_after_ms, c.agent_max_open_recordings, c.agent_upload_bytes_per_hour});
  }

  auto generated = s->access_service->bootstrap(std::move(admin_password));
  if (!generated) return std::unexpected(generated.error());
  if (*generated) app->first_password_file_ = s->config.data_dir / kFirstPasswordFile;
  app->services_ = std::move(s);
  app->routes_ = build_routes(*app->services_);
  return app;
}

App::~App() {
  stop();
  if (sweeper_.joinable()) sweeper_.join();
}

Status App::run(const std::function<void(int port)>& on_listening) {
  const auto& config = services_->config;
  const auto root = find_web_root(config.web_root);
  if (root.empty()) spdlog::warn("web console not found (build it with scripts/build); the API works without it");
  else spdlog::info("serving the console from {}", root.string());
  router_ = std::make_unique<Router>(*services_, routes_, root);
  metrics_ = std::make_unique<Metrics>(router_->route_names());
  router_->set_metrics(metrics_.get());

  transport::Options opt;
  const auto [host, port] = split_listen(config.listen).value();
  opt.host = host;
  opt.port = port;
  opt.workers = config.http_threads;
  opt.queue_limit = static_cast<std::size_t>(config.http_threads) * 64;
  // Connections are cheap but not free: one io thread per core (up to 4)
  // keeps a wave of new or closing connections from delaying the others.
  opt.io_threads = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 4);
  opt.max_connections = static_cast<std::size_t>(config.max_connections);
  opt.tls_cert = config.tls_cert;
  opt.tls_key = config.tls_key;
  {
    std::lock_guard lock(http_mu_);
    http_ = std::make_unique<transport::HttpServer>(opt, [router = router_.get()](Request& req, Response& res) {
      router->handle(req, res);
    });
    if (!config.metrics_listen.empty()) {
      transport::Options mopt;
      std::tie(mopt.host, mopt.port) = split_listen(config.metrics_listen).value();
      mopt.workers = 2;
      mopt.queue_limit = 64;
      mopt.max_connections = 64;
      metrics_http_ = std::make_unique<transport::HttpServer>(mopt, [this](Request& req, Response& res) {
        if (req.path != "/metrics" || (req.method != "GET" && req.method != "HEAD")) {
          return write_error(res, Error{Errc::not_found, "only GET /metrics is served here"});
        }
        res.set_content(metrics_->render(http_->open_connections(), http_->queued_requests(), services_->now(),
                                         services_->config.agent_offline_after_ms),
                        "text/plain; version=0.0.4; charset=utf-8");
      });
    }
    if (stopping_.load()) {
      http_->stop();
      if (metrics_http_) metrics_http_->stop();
    }
  }
  auto bound = http_->listen();
  if (!bound) return std::unexpected(with_context(bound.error(), "listen " + config.listen));
  if (metrics_http_) {
    auto mport = metrics_http_->listen();
    if (!mport) return std::unexpected(with_context(mport.error(), "metrics_listen " + config.metrics_listen));
    spdlog::info("metrics on {}:{}/metrics", split_listen(config.metrics_listen)->first, *mport);
    metrics_thread_ = std::thread([this] { metrics_http_->run(); });
  }
  sweeper_ = std::thread([this] { sweeper_loop(); });
  if (on_listening) on_listening(*bound);
  http_->run();
  if (metrics_thread_.joinable()) {
    metrics_http_->stop();
    metrics_thread_.join();
  }
  // Requests are done: sign the head so that cutting off the newest entries
  // while the server is down is detected.
  if (auto cp = services_->audit_signer->sign_head(audit::kCheckpointShutdown); !cp && cp.error().code != Errc::not_found) {
    spdlog::error("signing the audit log head at shutdown failed: {}", cp.error().message);
  }
  return {};
}

void App::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(sweeper_mu_);
    sweeper_cv_.notify_all();
  }
  std::lock_guard lock(http_mu_);
  if (http_) http_->stop();
  if (metrics_http_) metrics_http_->stop();
}

void App::sweeper_loop() {
  auto& s = *services_;
  while (!stopping_.load()) {
    const auto now = s.now();
    auto held = s.catalog->acquire_lease("retention-sweeper", s.config.replica_id, now, 3 * s.config.sweep_interval_ms);
    if (held && *held) {
      auto n = sweep_once();
      if (metrics_) metrics_->sweeper_run(n.has_value());
      if (!n) {
        spdlog::error("retention sweep failed: {}", n.error().message);
      } else if (*n > 0) {
        spdlog::info("retention sweep deleted {} expired recordings", *n);
      }
      if (auto n = s.agents->note_silent_agents(); !n) spdlog::error("silent-agent check failed: {}", n.error().message);
    }
    std::unique_lock lock(sweeper_mu_);
    sweeper_cv_.wait_for(lock, std::chrono::milliseconds(s.config.sweep_interval_ms), [this] { return stopping_.load(); });
  }
}

Result<int> App::sweep_once() { return services_->recordings->sweep_expired(); }

}  // namespace deskaudit::server
