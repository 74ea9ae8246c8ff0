#include "service/access_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "auth/password.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "common/text.hpp"
#include "service/agent_service.hpp"

namespace deskaudit::service {

using namespace catalog;
using Json = nlohmann::json;

namespace {

// Same work as checking a real password, so timing does not reveal which
// user names exist.
constexpr std::string_view kDummyHash =
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0dBUfrgsnw3NuU8Jc4DF3bjQIb1QnNrrUjBzzZ7lnYs";

// Only "no such credential" signs a caller out; any other catalog failure is
// the server's trouble, for clients to retry.
bool is_missing(const Error& e) { return e.code == Errc::not_found || e.code == Errc::unauthenticated; }
std::unexpected<Error> catalog_unavailable(const Error& e) {
  spdlog::error("authentication: catalog failure: {}", e.message);
  return std::unexpected(Error{Errc::unavailable, "the catalog is unavailable; retry shortly"});
}

Status require_unscoped(const Caller& caller, std::string_view permission) {
  if (caller.grants.everywhere(permission)) return {};
  return fail(Errc::permission_denied,
              "permission " + std::string(permission) + " is required, granted without a scope");
}

}  // namespace

Json grant_json(const RoleGrant& g) {
  Json j = {{"role_id", g.role_id}};
  if (g.scope_type && g.scope_id) {
    j["scope_type"] = std::string(to_string(*g.scope_type));
    j["scope_id"] = *g.scope_id;
  }
  return j;
}

Json grants_json(const std::vector<RoleGrant>& grants) {
  Json a = Json::array();
  for (const auto& g : grants) a.push_back(grant_json(g));
  return a;
}

Json role_json(const Role& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"description", r.description},
          {"permissions", r.permissions},
          {"builtin", r.builtin}};
}

Result<auth::Grants> load_grants(Catalog& catalog, std::string_view user_id) {
  auto grants = catalog.list_grants(user_id);
  if (!grants) return std::unexpected(grants.error());
  auto roles = catalog.list_roles();
  if (!roles) return std::unexpected(roles.error());
  return auth::Grants(*grants, *roles);
}

Status may_define_role(const Caller& caller, const std::vector<std::string>& permissions) {
  for (const auto& p : permissions) {
    if (!caller.grants.everywhere(p)) {
      return fail(Errc::permission_denied,
                  "a custom role may hold only permissions you hold without a scope; " + p + " is not one of them",
                  "permissions");
    }
  }
  return {};
}

AccessService::AccessService(Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock,
                             AccessSettings settings)
    : catalog_(catalog), audit_(audit), clock_(std::move(clock)), settings_(std::move(settings)) {}

auth::Grants::PoolOf AccessService::pool_lookup() {
  return [this](std::string_view computer_id) -> std::optional<std::string> {
    auto c = catalog_.get_computer(computer_id);
    return c ? c->pool_id : std::nullopt;
  };
}

Status AccessService::may_manage_user(const Caller& caller, std::string_view user_id) {
  auto theirs = load_grants(catalog_, user_id);
  if (!theirs) return std::unexpected(theirs.error());
  if (!caller.grants.covers(*theirs, pool_lookup())) {
    return fail(Errc::permission_denied,
                "this administrator holds permissions wider than yours; only someone holding at least as much may "
                "change, disable, delete it or its tokens");
  }
  return {};
}

Status AccessService::may_grant(const Caller& caller, const std::vector<RoleGrant>& grants) {
  auto roles = catalog_.list_roles();
  if (!roles) return std::unexpected(roles.error());
  const auto pool_of = pool_lookup();
  for (const auto& g : grants) {
    const auto role = std::ranges::find(*roles, g.role_id, &Role::id);
    if (role == roles->end()) return fail(Errc::unprocessable, "role '" + g.role_id + "' does not exist", "roles");
    if (!caller.grants.can_grant(*role, g.scope_type, g.scope_id, pool_of)) {
      const std::string where =
          g.scope_type ? std::string(to_string(*g.scope_type)) + " " + g.scope_id.value_or("") : "everywhere";
      return fail(Errc::permission_denied,
                  "you cannot grant role '" + g.role_id + "' " + where + ": it holds permissions you do not hold there",
                  "roles");
    }
  }
  return {};
}

Result<std::vector<RoleGrant>> AccessService::resolve_grants(std::vector<RoleGrant> grants,
                                                             const std::string& user_id) {
  const auto missing = [](const Error& e) { return e.code == Errc::not_found; };
  for (auto& g : grants) {
    g.user_id = user_id;
    if (auto r = catalog_.get_role(g.role_id); !r) {
      if (!missing(r.error())) return std::unexpected(r.error());
      return fail(Errc::unprocessable, "role '" + g.role_id + "' does not exist", "roles");
    }
    if (g.scope_type.has_value() != g.scope_id.has_value()) {
      return fail(Errc::unprocessable, "roles[].scope_id is required with scope_type", "roles");
    }
    if (!g.scope_type) continue;
    if (*g.scope_type == TargetType::pool) {
      if (auto p = catalog_.get_pool(*g.scope_id); !p) {
        if (!missing(p.error())) return std::unexpected(p.error());
        return fail(Errc::unprocessable, "pool '" + *g.scope_id + "' does not exist", "roles");
      }
    } else if (auto c = catalog_.get_computer(*g.scope_id); !c) {
      if (!missing(c.error())) return std::unexpected(c.error());
      return fail(Errc::unprocessable, "computer '" + *g.scope_id + "' does not exist", "roles");
    }
  }
  return grants;
}

Status AccessService::replace_grants(const std::string& user_id, const std::vector<RoleGrant>& grants) {
  auto old = catalog_.list_grants(user_id);
  if (!old) return std::unexpected(old.error());
  for (const auto& g : *old) {
    if (auto st = catalog_.revoke_role(g); !st) return st;
  }
  for (const auto& g : grants) {
    if (auto st = catalog_.grant_role(g); !st) return st;
  }
  return {};
}

Result<UserView> AccessService::view_of(User user) {
  auto grants = catalog_.list_grants(user.id);
  if (!grants) return std::unexpected(grants.error());
  return UserView{std::move(user), std::move(*grants)};
}

Result<bool> AccessService::bootstrap(std::string admin_password) {
  for (const auto& role : auth::builtin_roles()) {
    if (auto st = catalog_.upsert_role(role); !st) return std::unexpected(st.error());
  }
  auto users = catalog_.count_users();
  if (!users) return std::unexpected(users.error());
  if (*users > 0) return false;
  const bool generated = admin_password.empty();
  if (generated) {
    if (settings_.first_password_file.empty()) {
      return fail(Errc::invalid_argument, "no file to keep a generated first administrator password in");
    }
    // Never on stdout or in the log: a 0600 file only the operator reads,
    // and the password must be changed at the first sign-in.
    admin_password = auth::generate_password();
    if (auto st = write_file_atomic(settings_.first_password_file, admin_password + "\n", 0600); !st) {
      return std::unexpected(with_context(st.error(), "writing the first administrator's password"));
    }
  } else if (auto st = auth::check_password_rules("admin", admin_password); !st) {
    return std::unexpected(with_context(st.error(), "DESKAUDIT_ADMIN_PASSWORD"));
  }
  auto hash = auth::hash_password(admin_password);
  if (!hash) return std::unexpected(hash.error());
  User admin;
  admin.id = random_id("usr-");
  admin.username = "admin";
  admin.password_hash = *hash;
  admin.created_at = admin.password_changed_at = clock_->now_ms();
  admin.must_change_password = generated;
  if (auto st = catalog_.create_user(admin); !st) return std::unexpected(st.error());
  if (auto st = catalog_.grant_role({admin.id, "administrator", std::nullopt, std::nullopt}); !st) {
    return std::unexpected(st.error());
  }
  audit_.record_as("system", "user.create", admin.username, {{"roles", {"administrator"}}, {"bootstrap", true}});
  return generated;
}

// --- administrators ---------------------------------------------------------------

Result<std::vector<UserView>> AccessService::list_users(const Caller& caller) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  auto users = catalog_.list_users();
  if (!users) return std::unexpected(users.error());
  std::vector<UserView> out;
  for (auto& u : *users) {
    auto v = view_of(std::move(u));
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
  }
  return out;
}

Result<UserView> AccessService::get_user(const Caller& caller, std::string_view id) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  auto u = catalog_.get_user(id);
  if (!u) return std::unexpected(u.error());
  return view_of(std::move(*u));
}

Result<UserView> AccessService::create_user(const Caller& caller, NewUser draft) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  if (auto st = auth::check_password_rules(draft.username, draft.password); !st) return std::unexpected(st.error());
  User u;
  u.id = random_id("usr-");
  u.username = std::move(draft.username);
  auto grants = resolve_grants(std::move(draft.grants), u.id);
  if (!grants) return std::unexpected(grants.error());
  if (auto st = may_grant(caller, *grants); !st) return std::unexpected(st.error());
  auto hash = auth::hash_password(draft.password);
  if (!hash) return std::unexpected(hash.error());
  u.password_hash = *hash;
  u.created_at = u.password_changed_at = clock_->now_ms();
  if (auto st = catalog_.create_user(u); !st) return std::unexpected(st.error());
  if (auto st = replace_grants(u.id, *grants); !st) return std::unexpected(st.error());
  audit_.record(caller, "user.create", u.id, {{"username", u.username}, {"roles", grants_json(*grants)}});
  return UserView{std::move(u), std::move(*grants)};
}

Result<UserView> AccessService::update_user(const Caller& caller, std::string_view id, const UserChange& change,
                                            std::string_view caller_token_id) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  auto u = catalog_.get_user(id);
  if (!u) return std::unexpected(u.error());
  if (auto st = may_manage_user(caller, u->id); !st) return std::unexpected(st.error());
  std::optional<std::vector<RoleGrant>> new_grants;
  if (change.grants) {
    auto grants = resolve_grants(*change.grants, u->id);
    if (!grants) return std::unexpected(grants.error());
    if (auto st = may_grant(caller, *grants); !st) return std::unexpected(st.error());
    new_grants = std::move(*grants);
  }
  Json changes = Json::object();
  if (change.password) {
    if (auto st = auth::check_password_rules(u->username, *change.password); !st) return std::unexpected(st.error());
    auto hash = auth::hash_password(*change.password);
    if (!hash) return std::unexpected(hash.error());
    u->password_hash = *hash;
    u->password_changed_at = clock_->now_ms();
    u->must_change_password = false;  // an administrator chose it, as with DESKAUDIT_ADMIN_PASSWORD
    changes["password"] = "changed";
  }
  if (change.disabled) {
    if (*change.disabled && u->id == caller.user_id) {
      return fail(Errc::conflict, "you cannot disable your own account", "disabled");
    }
    u->disabled = *change.disabled;
    changes["disabled"] = u->disabled;
  }
  if (change.password || change.disabled) {
    u->failed_logins = 0;
    u->locked_until = 0;
    if (auto st = catalog_.update_user(*u); !st) return std::unexpected(st.error());
  }
  if (change.password) {
    // A reset starts the account's credentials over: every session and API
    // token of it is revoked (the caller's own token survives resetting
    // their own password).
    auto revoked = catalog_.revoke_user_tokens(u->id, std::nullopt,
                                               u->id == caller.user_id ? caller_token_id : std::string_view());
    if (!revoked) return std::unexpected(revoked.error());
    changes["tokens_revoked"] = *revoked;
  }
  if (new_grants) {
    if (auto st = replace_grants(u->id, *new_grants); !st) return std::unexpected(st.error());
    changes["roles"] = grants_json(*new_grants);
  }
  if (u->disabled) {
    // Best effort: a disabled account's tokens are refused at sign-in anyway.
    if (auto revoked = catalog_.revoke_user_tokens(u->id, std::nullopt, ""); !revoked) {
      spdlog::warn("revoking the tokens of disabled user {}: {}", u->id, revoked.error().message);
    }
  }
  audit_.record(caller, "user.update", u->id, changes);
  return view_of(std::move(*u));
}

Status AccessService::delete_user(const Caller& caller, std::string_view id) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return st;
  if (id == caller.user_id) return fail(Errc::conflict, "you cannot delete your own account");
  auto u = catalog_.get_user(id);
  if (!u) return std::unexpected(u.error());
  if (auto st = may_manage_user(caller, id); !st) return st;
  if (auto st = catalog_.delete_user(id); !st) return st;
  audit_.record(caller, "user.delete", std::string(id), {{"username", u->username}});
  return {};
}

// --- roles -------------------------------------------------------------------------

Result<std::vector<Role>> AccessService::list_roles(const Caller& caller) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  return catalog_.list_roles();
}

Result<Role> AccessService::create_role(const Caller& caller, RoleDraft draft) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  std::ranges::sort(draft.permissions);
  draft.permissions.erase(std::unique(draft.permissions.begin(), draft.permissions.end()), draft.permissions.end());
  if (auto st = may_define_role(caller, draft.permissions); !st) return std::unexpected(st.error());
  Role r{random_id("role-"), std::move(draft.name), std::move(draft.description), std::move(draft.permissions), false};
  if (auto st = catalog_.upsert_role(r); !st) return std::unexpected(st.error());
  audit_.record(caller, "role.create", r.id, role_json(r));
  return r;
}

Result<Role> AccessService::update_role(const Caller& caller, std::string_view id, const RoleChange& change) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  auto r = catalog_.get_role(id);
  if (!r) return std::unexpected(r.error());
  if (r->builtin) return fail(Errc::conflict, "built-in roles cannot be changed");
  if (auto st = may_define_role(caller, r->permissions); !st) return std::unexpected(st.error());
  if (change.name) r->name = *change.name;
  if (change.permissions) {
    auto perms = *change.permissions;
    std::ranges::sort(perms);
    perms.erase(std::unique(perms.begin(), perms.end()), perms.end());
    if (auto st = may_define_role(caller, perms); !st) return std::unexpected(st.error());
    r->permissions = std::move(perms);
  }
  if (change.description) r->description = *change.description;
  if (auto st = catalog_.upsert_role(*r); !st) return std::unexpected(st.error());
  audit_.record(caller, "role.update", r->id, role_json(*r));
  return r;
}

Status AccessService::delete_role(const Caller& caller, std::string_view id) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return st;
  auto r = catalog_.get_role(id);
  if (!r) return std::unexpected(r.error());
  if (auto st = may_define_role(caller, r->permissions); !st) return st;
  if (auto st = catalog_.delete_role(r->id); !st) return st;
  audit_.record(caller, "role.delete", r->id);
  return {};
}

// --- API tokens --------------------------------------------------------------------

Result<std::vector<ApiToken>> AccessService::list_api_tokens(const Caller& caller, bool all) {
  const bool everyone = all && caller.grants.everywhere(auth::perm::admin_users);
  auto tokens = catalog_.list_tokens(everyone ? "" : caller.user_id);
  if (!tokens) return std::unexpected(tokens.error());
  std::erase_if(*tokens, [](const ApiToken& t) { return t.kind != TokenKind::api; });
  return tokens;
}

Result<IssuedToken> AccessService::create_api_token(const Caller& caller, std::string name,
                                                    std::optional<EpochMs> expires_at) {
  const auto now = clock_->now_ms();
  if (expires_at && *expires_at <= now) {
    return fail(Errc::unprocessable, "expires_at must be in the future", "expires_at");
  }
  IssuedToken out;
  out.secret = random_token(kApiTokenPrefix);
  ApiToken& t = out.token;
  t.id = random_id("tok-");
  t.user_id = caller.user_id;
  t.kind = TokenKind::api;
  t.name = std::move(name);
  t.token_sha256 = sha256_hex(out.secret);
  t.created_at = now;
  t.expires_at = expires_at;
  if (auto st = catalog_.create_token(t); !st) return std::unexpected(st.error());
  audit_.record(caller, "token.create", t.id, {{"name", t.name}});
  return out;
}

Status AccessService::revoke_api_token(const Caller& caller, std::string_view id) {
  auto t = catalog_.get_token(id);
  if (!t) return std::unexpected(t.error());
  if (t->user_id != caller.user_id) {
    if (!caller.grants.everywhere(auth::perm::admin_users)) {
      return fail(Errc::not_found, "no API token " + std::string(id));
    }
    if (auto st = may_manage_user(caller, t->user_id); !st) return st;
  }
  if (auto st = catalog_.revoke_token(t->id); !st) return st;
  audit_.record(caller, "token.revoke", t->id, {{"name", t->name}});
  return {};
}

// --- signing in and out -------------------------------------------------------------

Result<Credential> AccessService::authenticate(std::string_view secret) {
  const auto hash = sha256_hex(secret);
  Credential c;
  if (secret.starts_with(kAgentPrefix)) {
    auto computer = catalog_.computer_for_agent_token(hash);
    if (!computer) {
      if (is_missing(computer.error())) return fail(Errc::unauthenticated, "unknown or revoked agent credential");
      return catalog_unavailable(computer.error());
    }
    c.kind = Credential::Kind::agent;
    c.computer_id = std::move(*computer);
    return c;
  }
  if (!secret.starts_with(kSessionPrefix) && !secret.starts_with(kApiTokenPrefix)) {
    return fail(Errc::unauthenticated, "unknown token");
  }
  auto t = catalog_.find_token(hash);
  if (!t) {
    if (is_missing(t.error())) return fail(Errc::unauthenticated, "unknown or expired token");
    return catalog_unavailable(t.error());
  }
  const auto now = clock_->now_ms();
  if (t->revoked) return fail(Errc::unauthenticated, "the token was revoked; sign in again");
  if (t->expires_at && *t->expires_at <= now) return fail(Errc::unauthenticated, "the session expired; sign in again");
  auto user = catalog_.get_user(t->user_id);
  if (!user && !is_missing(user.error())) return catalog_unavailable(user.error());
  if (!user || user->disabled) return fail(Errc::unauthenticated, "the account is disabled or deleted");
  auto grants = load_grants(catalog_, user->id);
  if (!grants) return catalog_unavailable(grants.error());
  if (now - t->last_used_at > 60'000) (void)catalog_.touch_token(t->id, now);
  c.kind = Credential::Kind::admin;
  c.user = std::move(*user);
  c.token = std::move(*t);
  c.grants = std::move(*grants);
  return c;
}

SignInRefusal AccessService::refuse_sign_in(const SignInRequest& request, std::string_view actor,
                                            std::string_view target, Json details) {
  details["address"] = request.address;
  audit_.record_as(std::string(actor), "auth.login_failed", std::string(target), details);
  return SignInRefusal{Error{Errc::unauthenticated, "wrong user name or password"}, 0};
}

std::expected<SignedIn, SignInRefusal> AccessService::sign_in(const SignInRequest& request) {
  const auto refuse_with = [](Error e) { return std::unexpected(SignInRefusal{std::move(e), 0}); };
  const auto now = clock_->now_ms();
  // No name longer than any stored one reaches the catalog or the audit log.
  if (request.username.size() > kMaxUserNameBytes || !is_valid_utf8(request.username) ||
      request.password.size() > kMaxPasswordBytes) {
    const auto shown = utf8_truncate(request.username, kMaxUserNameBytes);
    return std::unexpected(
        refuse_sign_in(request, shown, shown, {{"reason", "user name or password too long or not UTF-8"}}));
  }
  auto user = catalog_.find_user(request.username);
  if (!user) {
    if (user.error().code != Errc::not_found) return refuse_with(user.error());
    (void)auth::verify_password(request.password, kDummyHash);
    return std::unexpected(refuse_sign_in(request, request.username, request.username, {{"reason", "unknown user"}}));
  }
  if (user->locked_until > now) {
    audit_.record_as(user->username, "auth.login_failed", user->id,
                     {{"reason", "locked"}, {"address", request.address}});
    return std::unexpected(SignInRefusal{Error{Errc::too_many_requests, "too many failed sign-ins for this account"},
                                         user->locked_until - now});
  }
  if (user->disabled || !auth::verify_password(request.password, user->password_hash)) {
    // Only the lockout columns, counted in the database: parallel guesses
    // all count, and a disable or reset done meanwhile stays.
    auto failures = catalog_.note_failed_login(user->id, now, settings_.lockout);
    if (!failures) return refuse_with(failures.error());
    return std::unexpected(refuse_sign_in(
        request, user->username, user->id,
        {{"reason", user->disabled ? "disabled" : "wrong password"}, {"failures", failures->failed_logins}}));
  }
  if (user->failed_logins != 0 || user->locked_until != 0) {
    if (auto st = catalog_.clear_failed_logins(user->id); !st) return refuse_with(st.error());
  }
  const bool cookie = request.kind == SessionKind::cookie;
  IssuedToken session;
  session.secret = random_token(kSessionPrefix);
  ApiToken& t = session.token;
  t.id = random_id("ses-");
  t.user_id = user->id;
  t.kind = TokenKind::session;
  t.name = cookie ? "console session" : "bearer session";
  t.token_sha256 = sha256_hex(session.secret);
  t.created_at = now;
  t.expires_at = now + settings_.session_ttl_ms;
  if (auto st = catalog_.create_token(t); !st) return refuse_with(st.error());
  auto grants = load_grants(catalog_, user->id);
  if (!grants) return refuse_with(grants.error());
  audit_.record_as(user->username, "auth.login", user->id, {{"session", cookie ? "cookie" : "bearer"}});
  return SignedIn{std::move(*user), std::move(*grants), std::move(session)};
}

Status AccessService::sign_out(const Caller& caller, std::string_view token_id) {
  if (auto st = catalog_.revoke_token(token_id); !st) return st;
  audit_.record(caller, "auth.logout", caller.user_id);
  return {};
}

Result<User> AccessService::current_user(const Caller& caller) { return catalog_.get_user(caller.user_id); }

Status AccessService::change_password(const Caller& caller, std::string_view current, std::string_view next,
                                      std::string_view caller_token_id) {
  auto user = catalog_.get_user(caller.user_id);
  if (!user) return std::unexpected(user.error());
  if (current.size() > kMaxPasswordBytes || !auth::verify_password(current, user->password_hash)) {
    return fail(Errc::permission_denied, "the current password is wrong", "current_password");
  }
  if (auto st = auth::check_password_rules(user->username, next); !st) return st;
  if (next == current) {
    return fail(Errc::unprocessable, "the new password must differ from the current one", "new_password");
  }
  auto hash = auth::hash_password(next);
  if (!hash) return std::unexpected(hash.error());
  if (auto st = catalog_.set_password(user->id, *hash, clock_->now_ms(), false); !st) return st;
  // Whoever else holds a session of this user (a stolen cookie, a forgotten
  // browser) is signed out; the caller's own session and API tokens stay.
  auto revoked = catalog_.revoke_user_tokens(user->id, TokenKind::session, caller_token_id);
  if (!revoked) return std::unexpected(revoked.error());
  if (user->must_change_password && !settings_.first_password_file.empty()) {
    // The generated first password is no longer valid: its file can go.
    std::error_code ec;
    std::filesystem::remove(settings_.first_password_file, ec);
  }
  audit_.record(caller, "user.password", user->id,
                {{"sessions_revoked", *revoked}, {"was_required", user->must_change_password}});
  return {};
}

}  // namespace deskaudit::service
