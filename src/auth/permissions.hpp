#pragma once
// Named permissions, built-in roles, and what a signed-in administrator may
// do where. A grant may be limited to pools or computers; a permission held
// through any unscoped grant applies everywhere.
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
  std::vector<std::string> names() const;

 private:
  std::map<std::string, PermissionScope, std::less<>> by_permission_;
};

}  // namespace deskaudit::auth
