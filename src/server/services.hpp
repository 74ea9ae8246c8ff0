#pragma once
// What route handlers share: catalog, object store, clock and settings.
// Built once by the composition root (App::create); thread-safe to use from
// every request thread.
#include <filesystem>
#include <memory>

#include "catalog/catalog.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"
#include "server/audit_signing.hpp"
#include "server/config.hpp"
#include "server/http.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::server {

struct Services {
  ServerConfig config;
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<storage::ObjectStore> store;
  std::shared_ptr<const Clock> clock;
  std::filesystem::path incoming_dir;  // temp files of uploads in progress (0700)
  std::unique_ptr<keys::KeyService> keys;      // the server's signing key, kept outside the catalog
  std::unique_ptr<AuditSigner> audit_signer;  // checkpoints of the audit chain (uses catalog and keys)

  EpochMs now() const { return clock->now_ms(); }
  // Appends to the audit log; a failure is logged (the action already happened).
  void audit(const Principal& who, std::string action, std::string target, const Json& details = Json::object());
  void audit_as(std::string actor, std::string action, std::string target, const Json& details = Json::object());
  // Appends to the audit log before the action happens: a failure is
  // returned (unavailable, 503) so the caller refuses the action.
  Status audit_required(const Principal& who, std::string action, std::string target, const Json& details = Json::object());
};

// Route groups, one file each.
void add_auth_routes(std::vector<Route>& routes, Services& s);
void add_admin_routes(std::vector<Route>& routes, Services& s);
void add_inventory_routes(std::vector<Route>& routes, Services& s);
void add_policy_routes(std::vector<Route>& routes, Services& s);
void add_agent_routes(std::vector<Route>& routes, Services& s);
void add_recording_routes(std::vector<Route>& routes, Services& s);
void add_audit_routes(std::vector<Route>& routes, Services& s);

// A handler that applies `op` to the id in the path, writes `action` on it
// to the audit log and answers 204 (deletes, revocations).
Handler apply_to_id(Services& s, std::function<Status(const std::string& id)> op, std::string action);

// Every API route of the server, in matching order.
std::vector<Route> build_routes(Services& s);

// Bearer secrets are stored as sha256 hex; prefixes tell their kind.
inline constexpr std::string_view kSessionPrefix = "das_";
inline constexpr std::string_view kApiTokenPrefix = "dat_";
inline constexpr std::string_view kAgentPrefix = "dag_";
inline constexpr std::string_view kEnrollPrefix = "det_";
inline constexpr std::string_view kSessionCookie = "deskaudit_session";
inline constexpr std::string_view kCsrfCookie = "deskaudit_csrf";
// The CSRF token of a console session, derived from its secret.
std::string csrf_for(std::string_view session_token);
// Loads an administrator's effective permissions from the catalog.
Result<auth::Grants> load_grants(catalog::Catalog& catalog, std::string_view user_id);

}  // namespace deskaudit::server
