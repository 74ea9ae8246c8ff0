// Administrators, roles, API tokens and the audit log.
#include <algorithm>

#include "auth/password.hpp"
#include "common/crypto.hpp"
#include "server/access.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

// "roles": [{"role_id", "scope_type"?: "pool"|"computer", "scope_id"?}]
Result<std::vector<RoleGrant>> grants_from(Services& s, const Json& body, const std::string& user_id) {
  std::vector<RoleGrant> out;
  auto it = body.find("roles");
  if (it == body.end()) return out;
  if (!it->is_array()) return fail(Errc::unprocessable, "roles must be an array", "roles");
  for (const auto& g : *it) {
    if (!g.is_object()) return fail(Errc::unprocessable, "each role must be an object with role_id", "roles");
    auto role_id = get_string(g, "role_id");
    if (!role_id) return std::unexpected(Error{Errc::unprocessable, "roles[].role_id is required", "roles"});
    if (auto r = s.catalog->get_role(*role_id); !r) {
      return fail(Errc::unprocessable, "role '" + *role_id + "' does not exist", "roles");
    }
    RoleGrant grant{user_id, *role_id, std::nullopt, std::nullopt};
    auto type = get_string(g, "scope_type", false);
    if (!type) return std::unexpected(type.error());
    if (!type->empty()) {
      auto id = get_string(g, "scope_id");
      if (!id) return std::unexpected(Error{Errc::unprocessable, "roles[].scope_id is required with scope_type", "roles"});
      if (*type == "pool") {
        if (!s.catalog->get_pool(*id)) return fail(Errc::unprocessable, "pool '" + *id + "' does not exist", "roles");
        grant.scope_type = TargetType::pool;
      } else if (*type == "computer") {
        if (!s.catalog->get_computer(*id)) {
          return fail(Errc::unprocessable, "computer '" + *id + "' does not exist", "roles");
        }
        grant.scope_type = TargetType::computer;
      } else {
        return fail(Errc::unprocessable, "roles[].scope_type must be \"pool\" or \"computer\"", "roles");
      }
      grant.scope_id = *id;
    }
    out.push_back(std::move(grant));
  }
  return out;
}

Status replace_grants(Services& s, const std::string& user_id, const std::vector<RoleGrant>& grants) {
  auto old = s.catalog->list_grants(user_id);
  if (!old) return std::unexpected(old.error());
  for (const auto& g : *old) {
    if (auto st = s.catalog->revoke_role(g); !st) return st;
  }
  for (const auto& g : grants) {
    if (auto st = s.catalog->grant_role(g); !st) return st;
  }
  return {};
}

Result<Json> user_json(Services& s, const User& u) {
  auto grants = s.catalog->list_grants(u.id);
  if (!grants) return std::unexpected(grants.error());
  return to_json(u, *grants);
}

Json grants_json(const std::vector<RoleGrant>& grants) {
  Json a = Json::array();
  for (const auto& g : grants) a.push_back(to_json(g));
  return a;
}

Result<std::vector<std::string>> permissions_from(const Json& body) {
  auto it = body.find("permissions");
  if (it == body.end() || !it->is_array()) {
    return fail(Errc::unprocessable, "permissions must be an array of permission names", "permissions");
  }
  std::vector<std::string> out;
  for (const auto& p : *it) {
    if (!p.is_string() || !auth::is_permission(p.get<std::string>())) {
      return fail(Errc::unprocessable, "unknown permission " + p.dump(), "permissions");
    }
    out.push_back(p.get<std::string>());
  }
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

void add_admin_routes(std::vector<Route>& routes, Services& s) {
  // Managing administrators, roles and others' tokens changes who holds
  // what: only an unscoped admin:users grant may, and only within what the
  // caller itself holds (access::may_grant, may_manage_user, may_define_role).
  const auto users = Access::need_unscoped(auth::perm::admin_users);

  routes.push_back({"GET", "/api/v1/users", users,
                    [&s](Context& ctx) -> Status {
                      auto list = s.catalog->list_users();
                      if (!list) return std::unexpected(list.error());
                      Json items = Json::array();
                      for (const auto& u : *list) {
                        auto j = user_json(s, u);
                        if (!j) return std::unexpected(j.error());
                        items.push_back(*j);
                      }
                      ctx.reply(page_json(items, ""));
                      return {};
                    },
                    false, "List administrators"});
  routes.push_back({"POST", "/api/v1/users", users,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto username = get_name(*body, "username");
                      if (!username) return std::unexpected(username.error());
                      auto password = get_string(*body, "password");
                      if (!password) return std::unexpected(password.error());
                      if (auto st = auth::check_password_rules(*username, *password); !st) return st;
                      User u;
                      u.id = random_id("usr-");
                      u.username = *username;
                      auto grants = grants_from(s, *body, u.id);
                      if (!grants) return std::unexpected(grants.error());
                      if (auto st = access::may_grant(s, ctx, *grants); !st) return st;
                      auto hash = auth::hash_password(*password);
                      if (!hash) return std::unexpected(hash.error());
                      u.password_hash = *hash;
                      u.created_at = u.password_changed_at = s.now();
                      if (auto st = s.catalog->create_user(u); !st) return st;
                      if (auto st = replace_grants(s, u.id, *grants); !st) return st;
                      s.audit(ctx.principal, "user.create", u.id, {{"username", u.username}, {"roles", grants_json(*grants)}});
                      ctx.reply(to_json(u, *grants), 201);
                      return {};
                    },
                    false, "Create an administrator with roles"});
  routes.push_back({"GET", "/api/v1/users/([^/]+)", users,
                    [&s](Context& ctx) -> Status {
                      auto u = s.catalog->get_user(ctx.param(1));
                      if (!u) return std::unexpected(u.error());
                      auto j = user_json(s, *u);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "One administrator"});
  routes.push_back({"PATCH", "/api/v1/users/([^/]+)", users,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto u = s.catalog->get_user(ctx.param(1));
                      if (!u) return std::unexpected(u.error());
                      if (auto st = access::may_manage_user(s, ctx, u->id); !st) return st;
                      std::optional<std::vector<RoleGrant>> new_grants;
                      if (body->contains("roles")) {
                        auto grants = grants_from(s, *body, u->id);
                        if (!grants) return std::unexpected(grants.error());
                        if (auto st = access::may_grant(s, ctx, *grants); !st) return st;
                        new_grants = std::move(*grants);
                      }
                      Json changes = Json::object();
                      if (body->contains("password")) {
                        auto pw = get_string(*body, "password");
                        if (!pw) return std::unexpected(pw.error());
                        if (auto st = auth::check_password_rules(u->username, *pw); !st) return st;
                        auto hash = auth::hash_password(*pw);
                        if (!hash) return std::unexpected(hash.error());
                        u->password_hash = *hash;
                        u->password_changed_at = s.now();
                        u->must_change_password = false;  // an administrator chose it, as with DESKAUDIT_ADMIN_PASSWORD
                        changes["password"] = "changed";
                      }
                      if (auto d = get_bool(*body, "disabled"); !d) {
                        return std::unexpected(d.error());
                      } else if (*d) {
                        if (**d && u->id == ctx.principal.user_id) {
                          return fail(Errc::conflict, "you cannot disable your own account", "disabled");
                        }
                        u->disabled = **d;
                        changes["disabled"] = u->disabled;
                      }
                      if (body->contains("password") || body->contains("disabled")) {
                        u->failed_logins = 0;
                        u->locked_until = 0;
                        if (auto st = s.catalog->update_user(*u); !st) return st;
                      }
                      if (body->contains("password")) {
                        // A reset starts the account's credentials over: every
                        // session and API token of it is revoked (the caller's
                        // own token survives resetting their own password).
                        auto revoked = s.catalog->revoke_user_tokens(
                            u->id, std::nullopt, u->id == ctx.principal.user_id ? ctx.principal.token_id : "");
                        if (!revoked) return std::unexpected(revoked.error());
                        changes["tokens_revoked"] = *revoked;
                      }
                      if (new_grants) {
                        if (auto st = replace_grants(s, u->id, *new_grants); !st) return st;
                        changes["roles"] = grants_json(*new_grants);
                      }
                      if (u->disabled) {
                        auto tokens = s.catalog->list_tokens(u->id);
                        if (tokens) {
                          for (const auto& t : *tokens) (void)s.catalog->revoke_token(t.id);
                        }
                      }
                      s.audit(ctx.principal, "user.update", u->id, changes);
                      auto j = user_json(s, *u);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "Change password, disabled flag or roles"});
  routes.push_back({"DELETE", "/api/v1/users/([^/]+)", users,
                    [&s](Context& ctx) -> Status {
                      const auto id = ctx.param(1);
                      if (id == ctx.principal.user_id) return fail(Errc::conflict, "you cannot delete your own account");
                      auto u = s.catalog->get_user(id);
                      if (!u) return std::unexpected(u.error());
                      if (auto st = access::may_manage_user(s, ctx, id); !st) return st;
                      if (auto st = s.catalog->delete_user(id); !st) return st;
                      s.audit(ctx.principal, "user.delete", id, {{"username", u->username}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Delete an administrator"});

  routes.push_back({"GET", "/api/v1/roles", users,
                    [&s](Context& ctx) -> Status {
                      auto roles = s.catalog->list_roles();
                      if (!roles) return std::unexpected(roles.error());
                      Json items = Json::array();
                      for (const auto& r : *roles) items.push_back(to_json(r));
                      ctx.reply({{"items", items}, {"permissions", auth::all_permissions()}});
                      return {};
                    },
                    false, "Built-in and custom roles"});
  routes.push_back({"POST", "/api/v1/roles", users,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto name = get_name(*body, "name");
                      if (!name) return std::unexpected(name.error());
                      auto perms = permissions_from(*body);
                      if (!perms) return std::unexpected(perms.error());
                      if (auto st = access::may_define_role(ctx, *perms); !st) return st;
                      auto desc = get_string(*body, "description", false);
                      if (!desc) return std::unexpected(desc.error());
                      Role r{random_id("role-"), *name, *desc, *perms, false};
                      if (auto st = s.catalog->upsert_role(r); !st) return st;
                      s.audit(ctx.principal, "role.create", r.id, to_json(r));
                      ctx.reply(to_json(r), 201);
                      return {};
                    },
                    false, "Create a custom role"});
  routes.push_back({"PATCH", "/api/v1/roles/([^/]+)", users,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto r = s.catalog->get_role(ctx.param(1));
                      if (!r) return std::unexpected(r.error());
                      if (r->builtin) return fail(Errc::conflict, "built-in roles cannot be changed");
                      if (auto st = access::may_define_role(ctx, r->permissions); !st) return st;
                      if (body->contains("name")) {
                        auto name = get_name(*body, "name");
                        if (!name) return std::unexpected(name.error());
                        r->name = *name;
                      }
                      if (body->contains("permissions")) {
                        auto perms = permissions_from(*body);
                        if (!perms) return std::unexpected(perms.error());
                        if (auto st = access::may_define_role(ctx, *perms); !st) return st;
                        r->permissions = *perms;
                      }
                      if (body->contains("description")) {
                        auto d = get_string(*body, "description", false);
                        if (!d) return std::unexpected(d.error());
                        r->description = *d;
                      }
                      if (auto st = s.catalog->upsert_role(*r); !st) return st;
                      s.audit(ctx.principal, "role.update", r->id, to_json(*r));
                      ctx.reply(to_json(*r));
                      return {};
                    },
                    false, "Change a custom role"});
  routes.push_back({"DELETE", "/api/v1/roles/([^/]+)", users,
                    [&s](Context& ctx) -> Status {
                      auto r = s.catalog->get_role(ctx.param(1));
                      if (!r) return std::unexpected(r.error());
                      if (auto st = access::may_define_role(ctx, r->permissions); !st) return st;
                      if (auto st = s.catalog->delete_role(r->id); !st) return st;
                      s.audit(ctx.principal, "role.delete", r->id);
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Delete a custom role that nobody holds"});

  // API tokens act for the administrator who creates them.
  routes.push_back({"GET", "/api/v1/api-tokens", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      const bool all = ctx.principal.grants.everywhere(auth::perm::admin_users) && ctx.query("all") == "true";
                      auto tokens = s.catalog->list_tokens(all ? "" : ctx.principal.user_id);
                      if (!tokens) return std::unexpected(tokens.error());
                      Json items = Json::array();
                      for (const auto& t : *tokens) {
                        if (t.kind == TokenKind::api) items.push_back(to_json(t));
                      }
                      ctx.reply(page_json(items, ""));
                      return {};
                    },
                    false, "The caller's API tokens (all=true with admin:users: everyone's)"});
  routes.push_back({"POST", "/api/v1/api-tokens", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto name = get_name(*body, "name");
                      if (!name) return std::unexpected(name.error());
                      auto expires = get_time(*body, "expires_at");
                      if (!expires) return std::unexpected(expires.error());
                      if (*expires && **expires <= s.now()) {
                        return fail(Errc::unprocessable, "expires_at must be in the future", "expires_at");
                      }
                      ApiToken t;
                      const auto secret = random_token(kApiTokenPrefix);
                      t.id = random_id("tok-");
                      t.user_id = ctx.principal.user_id;
                      t.kind = TokenKind::api;
                      t.name = *name;
                      t.token_sha256 = sha256_hex(secret);
                      t.created_at = s.now();
                      t.expires_at = *expires;
                      if (auto st = s.catalog->create_token(t); !st) return st;
                      s.audit(ctx.principal, "token.create", t.id, {{"name", t.name}});
                      Json out = to_json(t);
                      out["token"] = secret;
                      ctx.reply(out, 201);
                      return {};
                    },
                    false, "Create an API token for automation (shown once)"});
  routes.push_back({"DELETE", "/api/v1/api-tokens/([^/]+)", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      auto t = s.catalog->get_token(ctx.param(1));
                      if (!t) return std::unexpected(t.error());
                      if (t->user_id != ctx.principal.user_id) {
                        if (!ctx.principal.grants.everywhere(auth::perm::admin_users)) {
                          return fail(Errc::not_found, "no API token " + ctx.param(1));
                        }
                        if (auto st = access::may_manage_user(s, ctx, t->user_id); !st) return st;
                      }
                      if (auto st = s.catalog->revoke_token(t->id); !st) return st;
                      s.audit(ctx.principal, "token.revoke", t->id, {{"name", t->name}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Revoke an API token"});

  routes.push_back({"GET", "/api/v1/audit-log", Access::need_unscoped(auth::perm::audit_read),
                    [&s](Context& ctx) -> Status {
                      auto page = page_from(ctx);
                      if (!page) return std::unexpected(page.error());
                      AuditFilter f;
                      f.actor = ctx.query("actor");
                      f.action = ctx.query("action");
                      f.target = ctx.query("target");
                      auto start = time_query(ctx, "start_time");
                      if (!start) return std::unexpected(start.error());
                      auto end = time_query(ctx, "end_time");
                      if (!end) return std::unexpected(end.error());
                      f.start_time = *start;
                      f.end_time = *end;
                      auto list = s.catalog->list_audit(f, *page);
                      if (!list) return std::unexpected(list.error());
                      Json items = Json::array();
                      for (const auto& e : list->items) items.push_back(to_json(e));
                      ctx.reply(page_json(items, list->next_token));
                      return {};
                    },
                    false, "Audit log, newest first, filtered by actor, action, target and time"});
}

}  // namespace deskaudit::server
