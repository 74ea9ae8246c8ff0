#pragma once
// Named permissions, built-in roles, and what a signed-in administrator may
// do where. A grant may be limited to pools or computers; a permission held
// through any unscoped grant applies everywhere.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.hpp"

namespace deskaudit::auth {

namespace perm {
inline constexpr std::string_view policy_read = "policy:read";
inline constexpr std::string_view policy_write = "policy:write";
inline constexpr std::string_view inventory_read = "inventory:read";
inline constexpr std::string_view inventory_write = "inventory:write";
inline constexpr std::string_view recording_list = "recording:list";
inline constexpr std::string_view recording_play = "recording:play";
inline constexpr std::string_view recording_download = "recording:download";
inline constexpr std::string_view recording_delete = "recording:delete";
inline constexpr std::string_view audit_read = "audit:read";
inline constexpr std::string_view admin_users = "admin:users";
}  // namespace perm

const std::vector<std::string>& all_permissions();
bool is_permission(std::string_view name);

// administrator, policy-administrator, auditor, auditor-download, read-only.
const std::vector<catalog::Role>& builtin_roles();

// Where one permission applies.
struct PermissionScope {
  bool everywhere = false;
  std::set<std::string> pool_ids;
  std::set<std::string> computer_ids;
};

// The effective permissions of one administrator, computed from grants.
class Grants {
 public:
  Grants() = default;
  // roles: every role referenced by grants (unknown role ids are ignored).
  Grants(const std::vector<catalog::RoleGrant>& grants, const std::vector<catalog::Role>& roles);
  static Grants everything();  // the bootstrap administrator's view in tests

  bool has(std::string_view permission) const;  // anywhere
  bool everywhere(std::string_view permission) const;
  // nullopt: unrestricted; otherwise the scope to apply to catalog queries.
  std::optional<catalog::Scope> scope(std::string_view permission) const;
  // May this permission be used on a computer (in this pool)?
  bool allows(std::string_view permission, std::string_view computer_id,
              const std::optional<std::string>& pool_id) const;
  // May this permission be used on a whole pool (its own settings, moving
  // computers in or out)? Only an unscoped grant or a grant on that pool.
  bool covers_pool(std::string_view permission, std::string_view pool_id) const;
  std::vector<std::string> names() const;

  // The pool a computer is in (nullopt: none, or no such computer).
  using PoolOf = std::function<std::optional<std::string>(std::string_view computer_id)>;
  // Would granting `role` with this scope give nothing wider than the caller
  // holds? Unscoped: every permission of the role held everywhere; a pool:
  // each held everywhere or on that pool; a computer: each allowed on that
  // computer (directly or through its pool).
  bool can_grant(const catalog::Role& role, const std::optional<catalog::TargetType>& scope_type,
                 const std::optional<std::string>& scope_id, const PoolOf& pool_of) const;
  // Does every permission of `other` reach no further than the same
  // permission of these grants? (Who may manage whom: resetting the password
  // of someone who holds more would be an escalation.)
  bool covers(const Grants& other, const PoolOf& pool_of) const;

 private:
  std::map<std::string, PermissionScope, std::less<>> by_permission_;
};

}  // namespace deskaudit::auth
