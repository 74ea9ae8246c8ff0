#include "server/access.hpp"

#include <map>
#include <mutex>

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

Status may_manage_user(Services& s, const Context& ctx, std::string_view user_id) {
  auto theirs = load_grants(*s.catalog, user_id);
  if (!theirs) return std::unexpected(theirs.error());
  if (!ctx.principal.grants.covers(*theirs, pool_lookup(s))) {
    return fail(Errc::permission_denied,
                "this administrator holds permissions wider than yours; only someone holding at least as much may "
                "change, disable, delete it or its tokens");
  }
  return {};
}

Status may_grant(Services& s, const Context& ctx, const std::vector<RoleGrant>& grants) {
  auto roles = s.catalog->list_roles();
  if (!roles) return std::unexpected(roles.error());
  const auto pool_of = pool_lookup(s);
  for (const auto& g : grants) {
    const auto role = std::ranges::find(*roles, g.role_id, &Role::id);
    if (role == roles->end()) return fail(Errc::unprocessable, "role '" + g.role_id + "' does not exist", "roles");
    if (!ctx.principal.grants.can_grant(*role, g.scope_type, g.scope_id, pool_of)) {
      const std::string where =
          g.scope_type ? std::string(to_string(*g.scope_type)) + " " + g.scope_id.value_or("") : "everywhere";
      return fail(Errc::permission_denied,
                  "you cannot grant role '" + g.role_id + "' " + where + ": it holds permissions you do not hold there",
                  "roles");
    }
  }
  return {};
}

Status may_define_role(const Context& ctx, const std::vector<std::string>& permissions) {
  for (const auto& p : permissions) {
    if (!ctx.principal.grants.everywhere(p)) {
      return fail(Errc::permission_denied,
                  "a custom role may hold only permissions you hold without a scope; " + p + " is not one of them",
                  "permissions");
    }
  }
  return {};
}

namespace {

constexpr EpochMs kMediaWindowMs = 10 * 60'000;

// When each viewer last had each kind of access to each recording logged.
// An access is marked only after its entry is written: two concurrent first
// accesses may both be logged, but none is served without an entry.
class MediaWindow {
 public:
  bool logged_recently(const std::string& key, EpochMs now) {
    std::lock_guard lock(mu_);
    auto it = last_.find(key);
    return it != last_.end() && now - it->second <= kMediaWindowMs;
  }
  void mark(const std::string& key, EpochMs now) {
    std::lock_guard lock(mu_);
    if (last_.size() > 10'000) std::erase_if(last_, [&](const auto& kv) { return now - kv.second > kMediaWindowMs; });
    last_[key] = now;
  }

 private:
  std::mutex mu_;
  std::map<std::string, EpochMs> last_;
};

MediaWindow& media_window() {
  static MediaWindow w;
  return w;
}

}  // namespace

Status audit_media_access(Services& s, const Context& ctx, std::string_view action, const Recording& rec,
                          const Json& details) {
  const std::string key = std::string(action) + "\n" + ctx.principal.actor() + "\n" + rec.id;
  const auto now = s.now();
  if (media_window().logged_recently(key, now)) return {};
  if (auto st = s.audit_required(ctx.principal, std::string(action), rec.id, details); !st) return st;
  media_window().mark(key, now);
  return {};
}

}  // namespace deskaudit::server::access
