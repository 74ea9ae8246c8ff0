#pragma once
// Who may sign in and what they hold: administrators, roles, role grants,
// API tokens, sign-in (per-account lockout), sign-out and password changes.
//
// Rules kept here, for every caller:
//  - Managing a user (change, disable, delete, revoke its tokens) needs
//    grants that cover every permission of that user: resetting the password
//    of someone who holds more would be an escalation (permission_denied).
//  - A granted role reaches no further than the granting caller holds it
//    there; a custom role holds only permissions the caller holds without a
//    scope (permission_denied).
//  - Every change is written to the audit log (service::AuditLog); a failed
//    sign-in is too, with the client address and the reason.
// Thread-safe as the catalog is. Knows nothing of HTTP: the caller's
// permission to reach a method at all (admin:users without a scope for
// users and roles) is the route table's; the methods check it again.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/permissions.hpp"
#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

struct AccessSettings {
  catalog::LockoutRule lockout{};  // 5 failures, then 30 s doubling up to 15 min
  std::int64_t session_ttl_ms = 12 * 3600'000;
  // The generated first administrator password, removed once changed
  // (empty: none).
  std::filesystem::path first_password_file;
};

// A user with its grants.
struct UserView {
  catalog::User user;
  std::vector<catalog::RoleGrant> grants;
};

// Grants to give: role_id and optional scope (user_id is ignored).
struct NewUser {
  std::string username;  // a valid display name (the handler checks the text)
  std::string password;
  std::vector<catalog::RoleGrant> grants;
};

// Fields left empty are not changed.
struct UserChange {
  std::optional<std::string> password;
  std::optional<bool> disabled;
  std::optional<std::vector<catalog::RoleGrant>> grants;  // replaces all of the user's grants
};

struct RoleDraft {
  std::string name;
  std::string description;
  std::vector<std::string> permissions;  // known permission names
};

struct RoleChange {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> permissions;
};

// A token and its secret, which is shown once and never stored.
struct IssuedToken {
  catalog::ApiToken token;
  std::string secret;
};

enum class SessionKind { bearer, cookie };

struct SignInRequest {
  std::string username;
  std::string password;
  SessionKind kind = SessionKind::bearer;
  std::string address;  // the client's, for the audit log
};

struct SignedIn {
  catalog::User user;
  auth::Grants grants;
  IssuedToken session;
};

// A refused sign-in: unauthenticated (the same words whatever went wrong),
// too_many_requests with retry_after_ms while the account is locked, or
// unavailable/internal when the catalog fails.
struct SignInRefusal {
  Error error;
  std::int64_t retry_after_ms = 0;
};

// Whose a bearer secret is: an administrator's (session or API token) or an
// agent's (its computer's credential).
struct Credential {
  enum class Kind { admin, agent } kind = Kind::admin;
  catalog::User user;        // admin
  catalog::ApiToken token;   // admin: the session or API token presented
  auth::Grants grants;       // admin
  std::string computer_id;   // agent
};

// Bearer secrets of administrators; their prefixes tell their kind.
inline constexpr std::string_view kSessionPrefix = "das_";
inline constexpr std::string_view kApiTokenPrefix = "dat_";

// The longest password accepted; a longer one is refused without hashing.
inline constexpr std::size_t kMaxPasswordBytes = 4096;

// Grants and roles in their api.md shape (the audit log's record of them,
// and the server's rendering).
nlohmann::json grant_json(const catalog::RoleGrant& grant);
nlohmann::json grants_json(const std::vector<catalog::RoleGrant>& grants);
nlohmann::json role_json(const catalog::Role& role);

// An administrator's effective permissions from the catalog.
Result<auth::Grants> load_grants(catalog::Catalog& catalog, std::string_view user_id);

class AccessService {
 public:
  AccessService(catalog::Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock,
                AccessSettings settings);

  // At start: seeds the built-in roles; on a catalog without users creates
  // "admin" with the administrator role and `admin_password`, or, when it is
  // empty, a generated password written to settings.first_password_file
  // (0600) first and to be changed at the first sign-in. Returns whether a
  // password was generated. Audited as "system".
  Result<bool> bootstrap(std::string admin_password);

  // --- administrators (admin:users without a scope) ---------------------------------
  Result<std::vector<UserView>> list_users(const Caller& caller);
  Result<UserView> get_user(const Caller& caller, std::string_view id);
  // unprocessable when a granted role, pool or computer does not exist;
  // conflict when the user name is taken; password rules as auth::check_password_rules.
  Result<UserView> create_user(const Caller& caller, NewUser user);
  // Disabling or resetting clears the lockout; a reset revokes every token of
  // the user (the caller's own `caller_token_id` survives resetting their own
  // password); disabling revokes every token. conflict for disabling oneself.
  Result<UserView> update_user(const Caller& caller, std::string_view id, const UserChange& change,
                               std::string_view caller_token_id);
  Status delete_user(const Caller& caller, std::string_view id);  // conflict for oneself

  // --- roles (admin:users without a scope) -------------------------------------------
  Result<std::vector<catalog::Role>> list_roles(const Caller& caller);
  Result<catalog::Role> create_role(const Caller& caller, RoleDraft draft);
  Result<catalog::Role> update_role(const Caller& caller, std::string_view id,
                                    const RoleChange& change);    // conflict: built in
  Status delete_role(const Caller& caller, std::string_view id);  // conflict: built in or still granted

  // --- API tokens (any administrator, for themselves) --------------------------------
  // The caller's API tokens; everyone's with `all` when the caller holds
  // admin:users without a scope.
  Result<std::vector<catalog::ApiToken>> list_api_tokens(const Caller& caller, bool all);
  // unprocessable for an expiry not in the future.
  Result<IssuedToken> create_api_token(const Caller& caller, std::string name, std::optional<EpochMs> expires_at);
  // Another user's token: not_found unless the caller holds admin:users
  // without a scope, then permission_denied unless it may manage that user.
  Status revoke_api_token(const Caller& caller, std::string_view id);

  // --- signing in and out --------------------------------------------------------------
  // Who holds a bearer secret (agent credential, session or API token).
  // unauthenticated only when the credential is unknown, expired or revoked,
  // or its account disabled or deleted; any other catalog failure on the way
  // is unavailable ("retry shortly"), never a sign-out. Marks an
  // administrator's token used (at most once a minute; best effort).
  Result<Credential> authenticate(std::string_view secret);
  std::expected<SignedIn, SignInRefusal> sign_in(const SignInRequest& request);
  Status sign_out(const Caller& caller, std::string_view token_id);
  Result<catalog::User> current_user(const Caller& caller);
  // Checks the current password (permission_denied when wrong) and the rules;
  // signs out the user's other sessions (all but `caller_token_id`; API
  // tokens stay); removes the first-password file once that password is gone.
  Status change_password(const Caller& caller, std::string_view current, std::string_view next,
                         std::string_view caller_token_id);

 private:
  Result<UserView> view_of(catalog::User user);
  // unprocessable when a role, pool or computer named by a grant is missing.
  Result<std::vector<catalog::RoleGrant>> resolve_grants(std::vector<catalog::RoleGrant> grants,
                                                         const std::string& user_id);
  Status replace_grants(const std::string& user_id, const std::vector<catalog::RoleGrant>& grants);
  Status may_manage_user(const Caller& caller, std::string_view user_id);
  Status may_grant(const Caller& caller, const std::vector<catalog::RoleGrant>& grants);
  auth::Grants::PoolOf pool_lookup();
  SignInRefusal refuse_sign_in(const SignInRequest& request, std::string_view actor, std::string_view target,
                               nlohmann::json details);

  catalog::Catalog& catalog_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  AccessSettings settings_;
};

// A custom role may hold only permissions the caller holds without a scope.
Status may_define_role(const Caller& caller, const std::vector<std::string>& permissions);

}  // namespace deskaudit::service
