#include "server/access.hpp"

namespace deskaudit::server::access {

using namespace catalog;

auth::Grants::PoolOf pool_lookup(Services& s) {
  return [&s](std::string_view computer_id) -> std::optional<std::string> {
    auto c = s.catalog->get_computer(computer_id);
    return c ? c->pool_id : std::nullopt;
  };
}

Status may_change_policy(Services& s, const Context& ctx, std::string_view policy_id) {
  const auto& g = ctx.principal.grants;
  if (g.everywhere(auth::perm::policy_write)) return {};
  auto assignments = s.catalog->list_assignments(policy_id);
  if (!assignments) return std::unexpected(assignments.error());
  const auto pool_of = pool_lookup(s);
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

Status may_assign_to(Services& s, const Context& ctx, TargetType type, const std::string& target_id) {
  const auto& g = ctx.principal.grants;
  if (g.everywhere(auth::perm::policy_write)) return {};
  if (type == TargetType::pool) {
    if (auto p = s.catalog->get_pool(target_id); !p) return std::unexpected(p.error());
    if (!g.covers_pool(auth::perm::policy_read, target_id)) return fail(Errc::not_found, "no pool " + target_id);
    if (!g.covers_pool(auth::perm::policy_write, target_id)) {
      return fail(Errc::permission_denied, "pool " + target_id + " is outside your policy:write scope");
    }
    return {};
  }
  auto c = s.catalog->get_computer(target_id);
  if (!c) return std::unexpected(c.error());
  if (!g.allows(auth::perm::policy_read, c->id, c->pool_id)) return fail(Errc::not_found, "no computer " + target_id);
  if (!g.allows(auth::perm::policy_write, c->id, c->pool_id)) {
    return fail(Errc::permission_denied, "computer " + target_id + " is outside your policy:write scope");
  }
  return {};
}

}  // namespace deskaudit::server::access
