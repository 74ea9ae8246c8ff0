#pragma once
// What route handlers share: catalog, object store, clock and settings.
// Built once by the composition root (App::create); thread-safe to use from
// every request thread.
#include <filesystem>
#include <memory>

#include "catalog/catalog.hpp"
#include "common/rate_limit.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"
#include "server/config.hpp"
#include "server/http.hpp"
#include "service/access_service.hpp"
#include "service/agent_service.hpp"
#include "service/audit_log.hpp"
#include "service/audit_service.hpp"
#include "service/audit_signer.hpp"
#include "service/event_service.hpp"
#include "service/caller.hpp"
#include "service/evidence_service.hpp"
#include "service/inventory_service.hpp"
#include "service/media_service.hpp"
#include "service/policy_service.hpp"
#include "service/recording_service.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::server {

struct Services {
  ServerConfig config;
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<storage::ObjectStore> store;
  std::shared_ptr<const Clock> clock;
  std::filesystem::path incoming_dir;  // temp files of uploads in progress (0700)
  std::unique_ptr<keys::KeyService> keys;      // the server's signing key, kept outside the catalog
  std::unique_ptr<service::AuditSigner> audit_signer;  // checkpoints of the audit chain (uses catalog and keys)
  std::unique_ptr<service::AuditLog> audit_log;  // appends; tells audit_signer of each entry
  std::unique_ptr<service::PolicyService> policies;
  std::unique_ptr<service::RecordingService> recordings;
  std::unique_ptr<service::MediaService> media;
  std::unique_ptr<service::EventService> events;  // activity events: upload, per recording, search
  std::unique_ptr<service::EvidenceService> evidence;  // manifests (signed with keys) and evidence packages
  // Domain services (src/service) the handlers call.
  std::unique_ptr<service::AccessService> access_service;  // users, roles, tokens, sign-in
  std::unique_ptr<service::AuditService> audit_service;    // reading and verifying the audit log, signing keys
  // In memory, per replica (see docs/deployment.md): failed sign-ins per
  // client address.
  std::unique_ptr<RateLimiter> login_throttle;
  // Domain services (src/service), over catalog, store and audit_log.
  std::unique_ptr<service::InventoryService> inventory;
  std::unique_ptr<service::AgentService> agents;  // also keeps the per-computer upload budget

  EpochMs now() const { return clock->now_ms(); }
  // Shorthands for audit_log with a request's principal.
  // Appends to the audit log; a failure is logged (the action already happened).
  void audit(const Principal& who, std::string action, std::string target, const Json& details = Json::object());
  void audit_as(std::string actor, std::string action, std::string target, const Json& details = Json::object());
  // Appends to the audit log before the action happens: a failure is
  // returned (unavailable, 503) so the caller refuses the action.
  Status audit_required(const Principal& who, std::string action, std::string target, const Json& details = Json::object());
};

// The caller as services see it (no HTTP).
service::Caller caller_of(const Principal& who);

// Route groups, one file each.
void add_auth_routes(std::vector<Route>& routes, Services& s);
void add_admin_routes(std::vector<Route>& routes, Services& s);
void add_inventory_routes(std::vector<Route>& routes, Services& s);
void add_policy_routes(std::vector<Route>& routes, Services& s);
void add_agent_routes(std::vector<Route>& routes, Services& s);
void add_recording_routes(std::vector<Route>& routes, Services& s);
void add_audit_routes(std::vector<Route>& routes, Services& s);

// A route's handler: a named handler function over the services.
Handler handler_of(Services& s, Status (*handler)(Services&, Context&));

// A handler that applies `op` to the id in the path, writes `action` on it
// to the audit log and answers 204 (deletes, revocations).
Handler apply_to_id(Services& s, std::function<Status(const std::string& id)> op, std::string action);

// A route handler as a named function over the services.
using ServiceHandler = Status (*)(Services& s, Context& ctx);
Handler bind_handler(Services& s, ServiceHandler handler);

// While a user's password must be changed, only these routes serve them:
// the password change, /auth/me and sign-out.
bool allowed_before_password_change(const Route& route);

// Every API route of the server, in matching order.
std::vector<Route> build_routes(Services& s);

// Bearer secrets are stored as sha256 hex; prefixes tell their kind.
using service::kAgentPrefix;
using service::kApiTokenPrefix;
using service::kEnrollPrefix;
using service::kSessionPrefix;
inline constexpr std::string_view kSessionCookie = "deskaudit_session";
inline constexpr std::string_view kCsrfCookie = "deskaudit_csrf";
// In the data directory (0600): the generated first administrator password,
// removed when that password is changed.
inline constexpr std::string_view kFirstPasswordFile = "first-admin-password";
// The CSRF token of a console session, derived from its secret.
std::string csrf_for(std::string_view session_token);
// Loads an administrator's effective permissions from the catalog.
using service::load_grants;

}  // namespace deskaudit::server
