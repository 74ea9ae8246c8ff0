// Cloud computers, computer pools, enrollment tokens, and the "why are this
// computer's recordings missing?" checklist: handlers over
// service::InventoryService, which holds the rules and the scope checks.
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

Json computer_json(const Services& s, const service::ComputerView& v) {
  return to_json(v, s.now(), s.config.agent_offline_after_ms);
}

Status reply_computers(Services& s, Context& ctx, const Result<PageOf<service::ComputerView>>& list) {
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& v : list->items) items.push_back(computer_json(s, v));
  ctx.reply(page_json(items, list->next_token));
  return {};
}

// "pool_id" of a body: empty or null is "no pool".
Result<std::optional<std::string>> pool_field(const Json& body) {
  auto pool = get_string(body, "pool_id", false);
  if (!pool) return std::unexpected(pool.error());
  if (pool->empty()) return std::optional<std::string>{};
  return std::optional<std::string>{*pool};
}

Status list_computers(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  ComputerFilter f;
  f.pool_id = ctx.query("pool_id");
  f.q = ctx.query("q");
  return reply_computers(s, ctx, s.inventory->list_computers(caller_of(ctx.principal), std::move(f), *page));
}

Status create_computer(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::NewComputer in;
  auto name = get_string(*body, "name");
  if (!name) return std::unexpected(name.error());
  auto host = get_string(*body, "hostname", false);
  if (!host) return std::unexpected(host.error());
  auto os = get_string(*body, "os", false);
  if (!os) return std::unexpected(os.error());
  auto pool = pool_field(*body);
  if (!pool) return std::unexpected(pool.error());
  in.name = std::move(*name);
  in.hostname = std::move(*host);
  in.os = std::move(*os);
  in.pool_id = std::move(*pool);
  auto c = s.inventory->create_computer(caller_of(ctx.principal), in);
  if (!c) return std::unexpected(c.error());
  ctx.reply(computer_json(s, *c), 201);
  return {};
}

Status get_computer(Services& s, Context& ctx) {
  auto c = s.inventory->get_computer(caller_of(ctx.principal), ctx.param(1));
  if (!c) return std::unexpected(c.error());
  ctx.reply(computer_json(s, *c));
  return {};
}

Status update_computer(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::ComputerChange change;
  if (body->contains("pool_id")) {
    auto pool = pool_field(*body);
    if (!pool) return std::unexpected(pool.error());
    change.pool_id = std::move(*pool);
  }
  if (body->contains("name")) {
    auto name = get_string(*body, "name");
    if (!name) return std::unexpected(name.error());
    change.name = std::move(*name);
  }
  auto c = s.inventory->update_computer(caller_of(ctx.principal), ctx.param(1), change);
  if (!c) return std::unexpected(c.error());
  ctx.reply(computer_json(s, *c));
  return {};
}

Status delete_computer(Services& s, Context& ctx) {
  if (auto st = s.inventory->delete_computer(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status effective_policy(Services& s, Context& ctx) {
  auto v = s.inventory->effective_policy(caller_of(ctx.principal), ctx.param(1));
  if (!v) return std::unexpected(v.error());
  ctx.reply({{"computer_id", v->computer.id},
             {"source", std::string(to_string(v->policy.source))},
             {"policy", v->policy.policy ? to_json(*v->policy.policy) : Json(nullptr)}});
  return {};
}

Status recording_status(Services& s, Context& ctx) {
  auto report = s.inventory->recording_status(caller_of(ctx.principal), ctx.param(1));
  if (!report) return std::unexpected(report.error());
  ctx.reply(to_json(*report));
  return {};
}

Status list_pools(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  auto list = s.inventory->list_pools(caller_of(ctx.principal), ctx.query("q"), *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& p : list->items) items.push_back(to_json(p));
  ctx.reply(page_json(items, list->next_token));
  return {};
}

Status create_pool(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto name = get_string(*body, "name");
  if (!name) return std::unexpected(name.error());
  auto desc = get_string(*body, "description", false);
  if (!desc) return std::unexpected(desc.error());
  auto p = s.inventory->create_pool(caller_of(ctx.principal), {std::move(*name), std::move(*desc)});
  if (!p) return std::unexpected(p.error());
  ctx.reply(to_json(*p), 201);
  return {};
}

Status get_pool(Services& s, Context& ctx) {
  auto p = s.inventory->get_pool(caller_of(ctx.principal), ctx.param(1));
  if (!p) return std::unexpected(p.error());
  ctx.reply(to_json(*p));
  return {};
}

Status update_pool(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::PoolChange change;
  if (body->contains("name")) {
    auto name = get_string(*body, "name");
    if (!name) return std::unexpected(name.error());
    change.name = std::move(*name);
  }
  if (body->contains("description")) {
    auto d = get_string(*body, "description", false);
    if (!d) return std::unexpected(d.error());
    change.description = std::move(*d);
  }
  auto p = s.inventory->update_pool(caller_of(ctx.principal), ctx.param(1), change);
  if (!p) return std::unexpected(p.error());
  ctx.reply(to_json(*p));
  return {};
}

Status delete_pool(Services& s, Context& ctx) {
  if (auto st = s.inventory->delete_pool(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status list_pool_computers(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  return reply_computers(s, ctx,
                         s.inventory->list_pool_computers(caller_of(ctx.principal), ctx.param(1), ctx.query("q"), *page));
}

Status add_to_pool(Services& s, Context& ctx) {
  if (auto st = s.inventory->add_to_pool(caller_of(ctx.principal), ctx.param(1), ctx.param(2)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status remove_from_pool(Services& s, Context& ctx) {
  if (auto st = s.inventory->remove_from_pool(caller_of(ctx.principal), ctx.param(1), ctx.param(2)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status list_enrollment_tokens(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  auto list = s.inventory->list_enrollment_tokens(caller_of(ctx.principal), *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& t : list->items) items.push_back(to_json(t));
  ctx.reply(page_json(items, list->next_token));
  return {};
}

Status create_enrollment_token(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::NewEnrollmentToken in;
  auto expires = get_time(*body, "expires_at");
  if (!expires) return std::unexpected(expires.error());
  auto uses = get_int(*body, "max_uses");
  if (!uses) return std::unexpected(uses.error());
  auto pool = pool_field(*body);
  if (!pool) return std::unexpected(pool.error());
  in.expires_at = *expires;
  in.max_uses = *uses;
  in.pool_id = std::move(*pool);
  auto issued = s.inventory->create_enrollment_token(caller_of(ctx.principal), in);
  if (!issued) return std::unexpected(issued.error());
  Json out = to_json(issued->token);
  out["token"] = issued->secret;
  ctx.reply(out, 201);
  return {};
}

Status revoke_enrollment_token(Services& s, Context& ctx) {
  if (auto st = s.inventory->revoke_enrollment_token(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

}  // namespace

void add_inventory_routes(std::vector<Route>& routes, Services& s) {
  const auto read = Access::need(auth::perm::inventory_read);
  const auto write = Access::need(auth::perm::inventory_write);
  const auto on = [&s](ServiceHandler handler) { return bind_handler(s, handler); };

  routes.push_back({"GET", "/api/v1/computers", read, on(list_computers), false,
                    "Cloud computers, filtered by pool_id and q"});
  routes.push_back({"POST", "/api/v1/computers", write, on(create_computer), false,
                    "Register a computer (agents also register themselves by enrolling)"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)", read, on(get_computer), false,
                    "One computer with its agent state"});
  routes.push_back({"PATCH", "/api/v1/computers/([^/]+)", write, on(update_computer), false,
                    "Rename a computer or move it to a pool"});
  routes.push_back({"DELETE", "/api/v1/computers/([^/]+)", write, on(delete_computer), false,
                    "Remove a computer and its agent credential; its recordings stay until expiry"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)/effective-policy", Access::need(auth::perm::policy_read),
                    on(effective_policy), false, "The policy in force and where it comes from"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)/recording-status", read, on(recording_status), false,
                    "Checklist: why are this computer's recordings missing?"});

  routes.push_back({"GET", "/api/v1/pools", read, on(list_pools), false, "Computer pools"});
  // A new pool is outside every scoped grant (those name existing pools):
  // only an unscoped grant makes one.
  routes.push_back({"POST", "/api/v1/pools", Access::need_unscoped(auth::perm::inventory_write), on(create_pool), false,
                    "Create a pool"});
  routes.push_back({"GET", "/api/v1/pools/([^/]+)", read, on(get_pool), false, "One pool"});
  routes.push_back({"PATCH", "/api/v1/pools/([^/]+)", write, on(update_pool), false, "Rename a pool"});
  routes.push_back({"DELETE", "/api/v1/pools/([^/]+)", write, on(delete_pool), false, "Delete an empty pool"});
  routes.push_back({"GET", "/api/v1/pools/([^/]+)/computers", read, on(list_pool_computers), false,
                    "The computers of a pool"});
  routes.push_back({"PUT", "/api/v1/pools/([^/]+)/computers/([^/]+)", write, on(add_to_pool), false,
                    "Put a computer into a pool (moving it out of any other)"});
  routes.push_back({"DELETE", "/api/v1/pools/([^/]+)/computers/([^/]+)", write, on(remove_from_pool), false,
                    "Take a computer out of a pool"});

  routes.push_back({"GET", "/api/v1/enrollment-tokens", write, on(list_enrollment_tokens), false,
                    "Enrollment tokens (secrets are never shown again)"});
  routes.push_back({"POST", "/api/v1/enrollment-tokens", write, on(create_enrollment_token), false,
                    "Create an enrollment token for agents (shown once)"});
  routes.push_back({"DELETE", "/api/v1/enrollment-tokens/([^/]+)", write, on(revoke_enrollment_token), false,
                    "Revoke an enrollment token"});
}

}  // namespace deskaudit::server
