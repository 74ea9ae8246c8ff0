#include "server/access.hpp"

namespace deskaudit::server::access {

using namespace catalog;

auth::Grants::PoolOf pool_lookup(Services& s) {
  return [&s](std::string_view computer_id) -> std::optional<std::string> {
    auto c = s.catalog->get_computer(computer_id);
    return c ? c->pool_id : std::nullopt;
  };
}

Result<Computer> writable_computer(Services& s, const Context& ctx, std::string_view id) {
  auto c = s.catalog->get_computer(id);
  if (!c) return std::unexpected(c.error());
  const auto& g = ctx.principal.grants;
  if (!g.allows(auth::perm::inventory_read, c->id, c->pool_id)) {
    return fail(Errc::not_found, "no computer " + std::string(id));
  }
  if (!g.allows(auth::perm::inventory_write, c->id, c->pool_id)) {
    return fail(Errc::permission_denied, "computer " + c->id + " is outside your inventory:write scope");
  }
  return c;
}

Status pool_reachable(const Context& ctx, const std::optional<std::string>& pool_id, std::string_view permission,
                      std::string_view read_permission, Error hidden) {
  const auto& g = ctx.principal.grants;
  if (!pool_id) {
    if (g.everywhere(permission)) return {};
    return fail(Errc::permission_denied,
                "only an administrator holding " + std::string(permission) +
                    " without a scope may leave a computer or token outside every pool",
                "pool_id");
  }
  if (g.covers_pool(permission, *pool_id)) return {};
  if (!g.covers_pool(read_permission, *pool_id)) return std::unexpected(std::move(hidden));
  return fail(Errc::permission_denied, "pool " + *pool_id + " is outside your " + std::string(permission) + " scope",
              "pool_id");
}

}  // namespace deskaudit::server::access
