// Recording policies and their assignment to computers and pools.
#include "common/crypto.hpp"
#include "server/access.hpp"
#include "server/policy_json.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

Result<Json> policy_json(Services& s, const Policy& p) {
  Json j = to_json(p);
  auto assignments = s.catalog->list_assignments(p.id);
  if (!assignments) return std::unexpected(assignments.error());
  Json a = Json::array();
  for (const auto& x : *assignments) {
    a.push_back({{"target_type", std::string(to_string(x.target_type))}, {"target_id", x.target_id}});
  }
  j["assignments"] = a;
  return j;
}

Status assignment_route(Services& s, Context& ctx, TargetType type, bool assign) {
  Assignment a{ctx.param(1), type, ctx.param(2)};
  // A scoped writer may (un)assign only a policy that applies nowhere
  // outside its scope, and only on a target inside it.
  if (auto p = s.catalog->get_policy(a.policy_id); !p) return std::unexpected(p.error());
  if (auto st = access::may_assign_to(s, ctx, type, a.target_id); !st) return st;
  if (auto st = access::may_change_policy(s, ctx, a.policy_id); !st) return st;
  auto st = assign ? s.catalog->assign_policy(a) : s.catalog->unassign_policy(a);
  if (!st) return st;
  s.audit(ctx.principal, assign ? "policy.assign" : "policy.unassign", a.policy_id,
          {{"target_type", std::string(to_string(type))}, {"target_id", a.target_id}});
  ctx.reply_empty();
  return {};
}

}  // namespace

void add_policy_routes(std::vector<Route>& routes, Services& s) {
  const auto read = Access::need(auth::perm::policy_read);
  const auto write = Access::need(auth::perm::policy_write);

  routes.push_back({"GET", "/api/v1/policies", read,
                    [&s](Context& ctx) -> Status {
                      auto page = page_from(ctx);
                      if (!page) return std::unexpected(page.error());
                      auto list = s.catalog->list_policies(*page);
                      if (!list) return std::unexpected(list.error());
                      Json items = Json::array();
                      for (const auto& p : list->items) {
                        auto j = policy_json(s, p);
                        if (!j) return std::unexpected(j.error());
                        items.push_back(*j);
                      }
                      ctx.reply(page_json(items, list->next_token));
                      return {};
                    },
                    false, "Policies with their assignments"});
  routes.push_back({"POST", "/api/v1/policies", write,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto fields = policy_fields_from_json(*body, PolicyBody::create, RecordingRule{});
                      if (!fields) return std::unexpected(fields.error());
                      Policy p;
                      p.id = random_id("pol-");
                      p.name = *fields->name;
                      p.recording = fields->recording.value_or(RecordingRule{});
                      p.created_at = p.updated_at = s.now();
                      if (auto st = s.catalog->create_policy(p); !st) return st;
                      s.audit(ctx.principal, "policy.create", p.id, to_json(p));
                      auto j = policy_json(s, p);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j, 201);
                      return {};
                    },
                    false, "Create a policy with its screen-recording rule"});
  routes.push_back({"GET", "/api/v1/policies/([^/]+)", read,
                    [&s](Context& ctx) -> Status {
                      auto p = s.catalog->get_policy(ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      auto j = policy_json(s, *p);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "One policy"});
  routes.push_back({"PATCH", "/api/v1/policies/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto p = s.catalog->get_policy(ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      if (auto st = access::may_change_policy(s, ctx, p->id); !st) return st;
                      const Json before = to_json(*p);
                      auto fields = policy_fields_from_json(*body, PolicyBody::update, p->recording);
                      if (!fields) return std::unexpected(fields.error());
                      if (fields->name) p->name = *fields->name;
                      if (fields->recording) p->recording = *fields->recording;
                      p->updated_at = s.now();
                      auto updated = s.catalog->update_policy(*p);
                      if (!updated) return std::unexpected(updated.error());
                      s.audit(ctx.principal, "policy.update", p->id, {{"before", before}, {"after", to_json(*updated)}});
                      auto j = policy_json(s, *updated);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "Change a policy's name or recording settings"});
  routes.push_back({"DELETE", "/api/v1/policies/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto p = s.catalog->get_policy(ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      if (auto st = access::may_change_policy(s, ctx, p->id); !st) return st;
                      if (auto st = s.catalog->delete_policy(p->id); !st) return st;
                      s.audit(ctx.principal, "policy.delete", p->id, to_json(*p));
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Delete a policy; its recordings stay until their own expiry"});
  for (auto [type, path] : {std::pair{TargetType::computer, "computers"}, std::pair{TargetType::pool, "pools"}}) {
    const std::string pattern = std::string("/api/v1/policies/([^/]+)/assignments/") + path + "/([^/]+)";
    routes.push_back({"PUT", pattern, write,
                      [&s, type](Context& ctx) { return assignment_route(s, ctx, type, true); }, false,
                      std::string("Assign the policy to a ") + (type == TargetType::pool ? "pool" : "computer")});
    routes.push_back({"DELETE", pattern, write,
                      [&s, type](Context& ctx) { return assignment_route(s, ctx, type, false); }, false,
                      std::string("Unassign the policy from a ") + (type == TargetType::pool ? "pool" : "computer")});
  }
}

}  // namespace deskaudit::server
