#include "service/policy_service.hpp"

#include "common/crypto.hpp"

namespace deskaudit::service {

using namespace catalog;
using nlohmann::json;

namespace {

json assignment_details(const Assignment& a) {
  return {{"target_type", std::string(to_string(a.target_type))}, {"target_id", a.target_id}};
}

}  // namespace

json policy_json(const Policy& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"recording", policy::rule_to_json(p.recording)},
          {"version", p.version},
          {"created_at", format_rfc3339(p.created_at)},
          {"updated_at", format_rfc3339(p.updated_at)}};
}

PolicyService::PolicyService(Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock)
    : catalog_(catalog), audit_(audit), clock_(std::move(clock)) {}

Result<PolicyView> PolicyService::view(Policy policy) {
  auto assignments = catalog_.list_assignments(policy.id);
  if (!assignments) return std::unexpected(assignments.error());
  return PolicyView{std::move(policy), std::move(*assignments)};
}

Result<PageOf<PolicyView>> PolicyService::list(const Caller&, const Page& page) {
  auto list = catalog_.list_policies(page);
  if (!list) return std::unexpected(list.error());
  PageOf<PolicyView> out;
  out.next_token = std::move(list->next_token);
  for (auto& p : list->items) {
    auto v = view(std::move(p));
    if (!v) return std::unexpected(v.error());
    out.items.push_back(std::move(*v));
  }
  return out;
}

Result<PolicyView> PolicyService::get(const Caller&, std::string_view id) {
  auto p = catalog_.get_policy(id);
  if (!p) return std::unexpected(p.error());
  return view(std::move(*p));
}

Result<PolicyView> PolicyService::create(const Caller& caller, const json& body) {
  auto fields = policy::body_from_json(body, policy::BodyKind::create, RecordingRule{});
  if (!fields) return std::unexpected(fields.error());
  Policy p;
  p.id = random_id("pol-");
  p.name = *fields->name;
  p.recording = fields->recording.value_or(RecordingRule{});
  p.created_at = p.updated_at = clock_->now_ms();
  if (auto st = catalog_.create_policy(p); !st) return std::unexpected(st.error());
  audit_.record(caller, "policy.create", p.id, policy_json(p));
  return view(std::move(p));
}

Result<PolicyView> PolicyService::update(const Caller& caller, std::string_view id, const json& body) {
  auto p = catalog_.get_policy(id);
  if (!p) return std::unexpected(p.error());
  if (auto st = may_change(caller, p->id); !st) return std::unexpected(st.error());
  const json before = policy_json(*p);
  auto fields = policy::body_from_json(body, policy::BodyKind::update, p->recording);
  if (!fields) return std::unexpected(fields.error());
  if (fields->name) p->name = *fields->name;
  if (fields->recording) p->recording = *fields->recording;
  p->updated_at = clock_->now_ms();
  auto updated = catalog_.update_policy(*p);
  if (!updated) return std::unexpected(updated.error());
  audit_.record(caller, "policy.update", updated->id, {{"before", before}, {"after", policy_json(*updated)}});
  return view(std::move(*updated));
}

Status PolicyService::remove(const Caller& caller, std::string_view id) {
  auto p = catalog_.get_policy(id);
  if (!p) return std::unexpected(p.error());
  if (auto st = may_change(caller, p->id); !st) return st;
  if (auto st = catalog_.delete_policy(p->id); !st) return st;
  audit_.record(caller, "policy.delete", p->id, policy_json(*p));
  return {};
}

Status PolicyService::assign(const Caller& caller, const Assignment& a) { return change_assignment(caller, a, true); }

Status PolicyService::unassign(const Caller& caller, const Assignment& a) {
  return change_assignment(caller, a, false);
}

Status PolicyService::change_assignment(const Caller& caller, const Assignment& a, bool assign) {
  // A scoped writer may (un)assign only a policy that applies nowhere
  // outside its scope, and only on a target inside it.
  if (auto p = catalog_.get_policy(a.policy_id); !p) return std::unexpected(p.error());
  if (auto st = may_target(caller, a.target_type, a.target_id); !st) return st;
  if (auto st = may_change(caller, a.policy_id); !st) return st;
  auto st = assign ? catalog_.assign_policy(a) : catalog_.unassign_policy(a);
  if (!st) return st;
  audit_.record(caller, assign ? "policy.assign" : "policy.unassign", a.policy_id, assignment_details(a));
  return {};
}

Status PolicyService::may_change(const Caller& caller, std::string_view policy_id) {
  const auto& g = caller.grants;
  if (g.everywhere(auth::perm::policy_write)) return {};
  auto assignments = catalog_.list_assignments(policy_id);
  if (!assignments) return std::unexpected(assignments.error());
  const auth::Grants::PoolOf pool_of = [this](std::string_view computer_id) -> std::optional<std::string> {
    auto c = catalog_.get_computer(computer_id);
    return c ? c->pool_id : std::nullopt;
  };
  for (const auto& a : *assignments) {
    const bool reached = a.target_type == TargetType::pool
                             ? g.covers_pool(auth::perm::policy_write, a.target_id)
                             : g.allows(auth::perm::policy_write, a.target_id, pool_of(a.target_id));
    if (!reached) {
      return fail(Errc::permission_denied, "policy " + std::string(policy_id) +
                                               " also applies outside your policy:write scope; an administrator "
                                               "with a wider scope must change it");
    }
  }
  return {};
}

Status PolicyService::may_target(const Caller& caller, TargetType type, const std::string& target_id) {
  const auto& g = caller.grants;
  if (g.everywhere(auth::perm::policy_write)) return {};
  if (type == TargetType::pool) {
    if (auto p = catalog_.get_pool(target_id); !p) return std::unexpected(p.error());
    if (!g.covers_pool(auth::perm::policy_read, target_id)) return fail(Errc::not_found, "no pool " + target_id);
    if (!g.covers_pool(auth::perm::policy_write, target_id)) {
      return fail(Errc::permission_denied, "pool " + target_id + " is outside your policy:write scope");
    }
    return {};
  }
  auto c = catalog_.get_computer(target_id);
  if (!c) return std::unexpected(c.error());
  if (!g.allows(auth::perm::policy_read, c->id, c->pool_id)) return fail(Errc::not_found, "no computer " + target_id);
  if (!g.allows(auth::perm::policy_write, c->id, c->pool_id)) {
    return fail(Errc::permission_denied, "computer " + target_id + " is outside your policy:write scope");
  }
  return {};
}

}  // namespace deskaudit::service
