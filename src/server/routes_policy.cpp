// Recording policies and their assignment to computers and pools: handlers
// over service::PolicyService (the rules and the audit entries live there).
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

Json policy_json(const service::PolicyView& v) {
  Json j = to_json(v.policy);
  Json a = Json::array();
  for (const auto& x : v.assignments) {
    a.push_back({{"target_type", std::string(to_string(x.target_type))}, {"target_id", x.target_id}});
  }
  j["assignments"] = a;
  return j;
}

Status list_policies(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  auto list = s.policies->list(caller_of(ctx.principal), *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& v : list->items) items.push_back(policy_json(v));
  ctx.reply(page_json(items, list->next_token));
  return {};
}

Status create_policy(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto v = s.policies->create(caller_of(ctx.principal), *body);
  if (!v) return std::unexpected(v.error());
  ctx.reply(policy_json(*v), 201);
  return {};
}

Status get_policy(Services& s, Context& ctx) {
  auto v = s.policies->get(caller_of(ctx.principal), ctx.param(1));
  if (!v) return std::unexpected(v.error());
  ctx.reply(policy_json(*v));
  return {};
}

Status update_policy(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto v = s.policies->update(caller_of(ctx.principal), ctx.param(1), *body);
  if (!v) return std::unexpected(v.error());
  ctx.reply(policy_json(*v));
  return {};
}

Status delete_policy(Services& s, Context& ctx) {
  if (auto st = s.policies->remove(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status change_assignment(Services& s, Context& ctx, TargetType type, bool assign) {
  const Assignment a{ctx.param(1), type, ctx.param(2)};
  const auto caller = caller_of(ctx.principal);
  if (auto st = assign ? s.policies->assign(caller, a) : s.policies->unassign(caller, a); !st) return st;
  ctx.reply_empty();
  return {};
}

}  // namespace

void add_policy_routes(std::vector<Route>& routes, Services& s) {
  const auto read = Access::need(auth::perm::policy_read);
  const auto write = Access::need(auth::perm::policy_write);
  auto bind = [&s](Status (*handler)(Services&, Context&)) {
    return [&s, handler](Context& ctx) { return handler(s, ctx); };
  };

  routes.push_back({"GET", "/api/v1/policies", read, bind(list_policies), false, "Policies with their assignments"});
  routes.push_back({"POST", "/api/v1/policies", write, bind(create_policy), false,
                    "Create a policy with its screen-recording rule"});
  routes.push_back({"GET", "/api/v1/policies/([^/]+)", read, bind(get_policy), false, "One policy"});
  routes.push_back({"PATCH", "/api/v1/policies/([^/]+)", write, bind(update_policy), false,
                    "Change a policy's name or recording settings"});
  routes.push_back({"DELETE", "/api/v1/policies/([^/]+)", write, bind(delete_policy), false,
                    "Delete a policy; its recordings stay until their own expiry"});
  for (auto [type, path] : {std::pair{TargetType::computer, "computers"}, std::pair{TargetType::pool, "pools"}}) {
    const std::string pattern = std::string("/api/v1/policies/([^/]+)/assignments/") + path + "/([^/]+)";
    const std::string noun = type == TargetType::pool ? "pool" : "computer";
    routes.push_back({"PUT", pattern, write, [&s, type](Context& ctx) { return change_assignment(s, ctx, type, true); },
                      false, "Assign the policy to a " + noun});
    routes.push_back({"DELETE", pattern, write,
                      [&s, type](Context& ctx) { return change_assignment(s, ctx, type, false); }, false,
                      "Unassign the policy from a " + noun});
  }
}

}  // namespace deskaudit::server
