#include "auth/permissions.hpp"

#include <algorithm>

namespace deskaudit::auth {

const std::vector<std::string>& all_permissions() {
  static const std::vector<std::string> all = {
      std::string(perm::policy_read),    std::string(perm::policy_write),       std::string(perm::inventory_read),
      std::string(perm::inventory_write), std::string(perm::recording_list),    std::string(perm::recording_play),
      std::string(perm::recording_download), std::string(perm::recording_delete), std::string(perm::audit_read),
      std::string(perm::admin_users)};
  return all;
}

bool is_permission(std::string_view name) {
  const auto& all = all_permissions();
  return std::ranges::find(all, name) != all.end();
}

const std::vector<catalog::Role>& builtin_roles() {
  using catalog::Role;
  static const std::vector<Role> roles = {
      Role{"administrator", "Administrator", "Every permission", all_permissions(), true},
      Role{"policy-administrator", "Policy administrator", "Configures recording policies and assigns them",
           {"policy:read", "policy:write", "inventory:read"}, true},
      Role{"auditor", "Auditor", "Finds and plays recordings",
           {"inventory:read", "recording:list", "recording:play"}, true},
      Role{"auditor-download", "Auditor with download", "Finds, plays and downloads recordings",
           {"inventory:read", "recording:list", "recording:play", "recording:download"}, true},
      Role{"read-only", "Read-only", "Sees configuration, inventory, recording lists and the audit log",
           {"policy:read", "inventory:read", "recording:list", "audit:read"}, true},
  };
  return roles;
}

Grants::Grants(const std::vector<catalog::RoleGrant>& grants, const std::vector<catalog::Role>& roles) {
  for (const auto& g : grants) {
    const auto role = std::ranges::find(roles, g.role_id, &catalog::Role::id);
    if (role == roles.end()) continue;
    for (const auto& p : role->permissions) {
      auto& s = by_permission_[p];
      if (!g.scope_type || !g.scope_id) {
        s.everywhere = true;
      } else if (*g.scope_type == catalog::TargetType::pool) {
        s.pool_ids.insert(*g.scope_id);
      } else {
        s.computer_ids.insert(*g.scope_id);
      }
    }
  }
}

Grants Grants::everything() {
  Grants g;
  for (const auto& p : all_permissions()) g.by_permission_[p].everywhere = true;
  return g;
}

bool Grants::has(std::string_view permission) const { return by_permission_.contains(permission); }

bool Grants::everywhere(std::string_view permission) const {
  auto it = by_permission_.find(permission);
  return it != by_permission_.end() && it->second.everywhere;
}

std::optional<catalog::Scope> Grants::scope(std::string_view permission) const {
  auto it = by_permission_.find(permission);
  if (it == by_permission_.end()) return catalog::Scope{};  // nothing visible
  if (it->second.everywhere) return std::nullopt;
  catalog::Scope s;
  s.pool_ids.assign(it->second.pool_ids.begin(), it->second.pool_ids.end());
  s.computer_ids.assign(it->second.computer_ids.begin(), it->second.computer_ids.end());
  return s;
}

bool Grants::allows(std::string_view permission, std::string_view computer_id,
                    const std::optional<std::string>& pool_id) const {
  auto it = by_permission_.find(permission);
  if (it == by_permission_.end()) return false;
  const auto& s = it->second;
  if (s.everywhere) return true;
  if (s.computer_ids.contains(std::string(computer_id))) return true;
  return pool_id && s.pool_ids.contains(*pool_id);
}

bool Grants::covers_pool(std::string_view permission, std::string_view pool_id) const {
  auto it = by_permission_.find(permission);
  if (it == by_permission_.end()) return false;
  return it->second.everywhere || it->second.pool_ids.contains(std::string(pool_id));
}

bool Grants::can_grant(const catalog::Role& role, const std::optional<catalog::TargetType>& scope_type,
                       const std::optional<std::string>& scope_id, const PoolOf& pool_of) const {
  for (const auto& p : role.permissions) {
    bool ok = false;
    if (!scope_type || !scope_id) {
      ok = everywhere(p);
    } else if (*scope_type == catalog::TargetType::pool) {
      ok = covers_pool(p, *scope_id);
    } else {
      ok = allows(p, *scope_id, pool_of(*scope_id));
    }
    if (!ok) return false;
  }
  return true;
}

bool Grants::covers(const Grants& other, const PoolOf& pool_of) const {
  for (const auto& [name, theirs] : other.by_permission_) {
    if (everywhere(name)) continue;
    if (theirs.everywhere) return false;
    for (const auto& pool : theirs.pool_ids) {
      if (!covers_pool(name, pool)) return false;
    }
    for (const auto& computer : theirs.computer_ids) {
      if (!allows(name, computer, pool_of(computer))) return false;
    }
  }
  return true;
}

std::vector<std::string> Grants::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : by_permission_) out.push_back(name);
  return out;
}

}  // namespace deskaudit::auth
