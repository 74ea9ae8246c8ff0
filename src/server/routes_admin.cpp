// Administrators, roles, API tokens and the audit log listing: handlers over
// service::AccessService and service::AuditService.
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

// "roles": [{"role_id", "scope_type"?: "pool"|"computer", "scope_id"?}]; the
// service checks that they exist and that the caller may grant them.
Result<std::vector<RoleGrant>> grants_from(const Json& body) {
  std::vector<RoleGrant> out;
  auto it = body.find("roles");
  if (it == body.end()) return out;
  if (!it->is_array()) return fail(Errc::unprocessable, "roles must be an array", "roles");
  for (const auto& g : *it) {
    if (!g.is_object()) return fail(Errc::unprocessable, "each role must be an object with role_id", "roles");
    auto role_id = get_string(g, "role_id");
    if (!role_id) return std::unexpected(Error{Errc::unprocessable, "roles[].role_id is required", "roles"});
    RoleGrant grant{"", *role_id, std::nullopt, std::nullopt};
    auto type = get_string(g, "scope_type", false);
    if (!type) return std::unexpected(type.error());
    if (!type->empty()) {
      auto id = get_string(g, "scope_id");
      if (!id)
        return std::unexpected(Error{Errc::unprocessable, "roles[].scope_id is required with scope_type", "roles"});
      if (*type == "pool") {
        grant.scope_type = TargetType::pool;
      } else if (*type == "computer") {
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
  return out;
}

Json user_json(const service::UserView& v) { return to_json(v.user, v.grants); }

Status list_users(Services& s, Context& ctx) {
  auto list = s.access_service->list_users(caller_of(ctx.principal));
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& u : *list) items.push_back(user_json(u));
  ctx.reply(page_json(items, ""));
  return {};
}

Status create_user(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto username = get_name(*body, "username");
  if (!username) return std::unexpected(username.error());
  auto password = get_string(*body, "password");
  if (!password) return std::unexpected(password.error());
  auto grants = grants_from(*body);
  if (!grants) return std::unexpected(grants.error());
  auto created = s.access_service->create_user(caller_of(ctx.principal), {*username, *password, std::move(*grants)});
  if (!created) return std::unexpected(created.error());
  ctx.reply(user_json(*created), 201);
  return {};
}

Status get_user(Services& s, Context& ctx) {
  auto u = s.access_service->get_user(caller_of(ctx.principal), ctx.param(1));
  if (!u) return std::unexpected(u.error());
  ctx.reply(user_json(*u));
  return {};
}

Status update_user(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::UserChange change;
  if (body->contains("roles")) {
    auto grants = grants_from(*body);
    if (!grants) return std::unexpected(grants.error());
    change.grants = std::move(*grants);
  }
  if (body->contains("password")) {
    auto pw = get_string(*body, "password");
    if (!pw) return std::unexpected(pw.error());
    change.password = std::move(*pw);
  }
  auto disabled = get_bool(*body, "disabled");
  if (!disabled) return std::unexpected(disabled.error());
  change.disabled = *disabled;
  auto u = s.access_service->update_user(caller_of(ctx.principal), ctx.param(1), change, ctx.principal.token_id);
  if (!u) return std::unexpected(u.error());
  ctx.reply(user_json(*u));
  return {};
}

Status delete_user(Services& s, Context& ctx) {
  if (auto st = s.access_service->delete_user(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status list_roles(Services& s, Context& ctx) {
  auto roles = s.access_service->list_roles(caller_of(ctx.principal));
  if (!roles) return std::unexpected(roles.error());
  Json items = Json::array();
  for (const auto& r : *roles) items.push_back(to_json(r));
  ctx.reply({{"items", items}, {"permissions", auth::all_permissions()}});
  return {};
}

Status create_role(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto name = get_name(*body, "name");
  if (!name) return std::unexpected(name.error());
  auto perms = permissions_from(*body);
  if (!perms) return std::unexpected(perms.error());
  auto desc = get_string(*body, "description", false);
  if (!desc) return std::unexpected(desc.error());
  auto r = s.access_service->create_role(caller_of(ctx.principal), {*name, *desc, std::move(*perms)});
  if (!r) return std::unexpected(r.error());
  ctx.reply(to_json(*r), 201);
  return {};
}

Status update_role(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::RoleChange change;
  if (body->contains("name")) {
    auto name = get_name(*body, "name");
    if (!name) return std::unexpected(name.error());
    change.name = std::move(*name);
  }
  if (body->contains("permissions")) {
    auto perms = permissions_from(*body);
    if (!perms) return std::unexpected(perms.error());
    change.permissions = std::move(*perms);
  }
  if (body->contains("description")) {
    auto d = get_string(*body, "description", false);
    if (!d) return std::unexpected(d.error());
    change.description = std::move(*d);
  }
  auto r = s.access_service->update_role(caller_of(ctx.principal), ctx.param(1), change);
  if (!r) return std::unexpected(r.error());
  ctx.reply(to_json(*r));
  return {};
}

Status delete_role(Services& s, Context& ctx) {
  if (auto st = s.access_service->delete_role(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status list_api_tokens(Services& s, Context& ctx) {
  auto tokens = s.access_service->list_api_tokens(caller_of(ctx.principal), ctx.query("all") == "true");
  if (!tokens) return std::unexpected(tokens.error());
  Json items = Json::array();
  for (const auto& t : *tokens) items.push_back(to_json(t));
  ctx.reply(page_json(items, ""));
  return {};
}

Status create_api_token(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto name = get_name(*body, "name");
  if (!name) return std::unexpected(name.error());
  auto expires = get_time(*body, "expires_at");
  if (!expires) return std::unexpected(expires.error());
  auto issued = s.access_service->create_api_token(caller_of(ctx.principal), std::move(*name), *expires);
  if (!issued) return std::unexpected(issued.error());
  Json out = to_json(issued->token);
  out["token"] = issued->secret;
  ctx.reply(out, 201);
  return {};
}

Status revoke_api_token(Services& s, Context& ctx) {
  if (auto st = s.access_service->revoke_api_token(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status list_audit(Services& s, Context& ctx) {
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
  auto list = s.audit_service->list(caller_of(ctx.principal), f, *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& e : list->items) items.push_back(to_json(e));
  ctx.reply(page_json(items, list->next_token));
  return {};
}

}  // namespace

void add_admin_routes(std::vector<Route>& routes, Services& s) {
  // Managing administrators, roles and others' tokens changes who holds
  // what: only an unscoped admin:users grant may, and only within what the
  // caller itself holds (the rules of service::AccessService).
  const auto users = Access::need_unscoped(auth::perm::admin_users);
  routes.push_back({"GET", "/api/v1/users", users, handler_of(s, list_users), false, "List administrators"});
  routes.push_back(
      {"POST", "/api/v1/users", users, handler_of(s, create_user), false, "Create an administrator with roles"});
  routes.push_back({"GET", "/api/v1/users/([^/]+)", users, handler_of(s, get_user), false, "One administrator"});
  routes.push_back({"PATCH", "/api/v1/users/([^/]+)", users, handler_of(s, update_user), false,
                    "Change password, disabled flag or roles"});
  routes.push_back(
      {"DELETE", "/api/v1/users/([^/]+)", users, handler_of(s, delete_user), false, "Delete an administrator"});

  routes.push_back({"GET", "/api/v1/roles", users, handler_of(s, list_roles), false, "Built-in and custom roles"});
  routes.push_back({"POST", "/api/v1/roles", users, handler_of(s, create_role), false, "Create a custom role"});
  routes.push_back(
      {"PATCH", "/api/v1/roles/([^/]+)", users, handler_of(s, update_role), false, "Change a custom role"});
  routes.push_back({"DELETE", "/api/v1/roles/([^/]+)", users, handler_of(s, delete_role), false,
                    "Delete a custom role that nobody holds"});

  // API tokens act for the administrator who creates them.
  routes.push_back({"GET", "/api/v1/api-tokens", Access::signed_in(), handler_of(s, list_api_tokens), false,
                    "The caller's API tokens (all=true with admin:users: everyone's)"});
  routes.push_back({"POST", "/api/v1/api-tokens", Access::signed_in(), handler_of(s, create_api_token), false,
                    "Create an API token for automation (shown once)"});
  routes.push_back({"DELETE", "/api/v1/api-tokens/([^/]+)", Access::signed_in(), handler_of(s, revoke_api_token), false,
                    "Revoke an API token"});

  routes.push_back({"GET", "/api/v1/audit-log", Access::need_unscoped(auth::perm::audit_read),
                    handler_of(s, list_audit), false,
                    "Audit log, newest first, filtered by actor, action, target and time"});
}

}  // namespace deskaudit::server
