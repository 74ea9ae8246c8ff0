#pragma once
// Scope checks of writes: who may change what, where. Route handlers call
// these after the route table's permission check (which only asks "held
// anywhere?").
//
// One rule for the answers: an object the caller cannot see under its read
// permission answers 404, exactly as if it did not exist (scoped
// administrators learn nothing about other pools); an object the caller can
// see but whose change would reach outside its write scope answers 403.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/services.hpp"

namespace deskaudit::server::access {

// Looks a computer's pool up in the catalog (nullopt: no pool or no such computer).
auth::Grants::PoolOf pool_lookup(Services& s);

// Inventory scope rules live in service::InventoryService; user management
// (who may change whom, grant what, define which role) in service::AccessService.

// Policy writes: the caller's policy:write must reach every computer and
// pool the policy is assigned to (403 otherwise).
Status may_change_policy(Services& s, const Context& ctx, std::string_view policy_id);
// The target of an assignment: 404 when hidden from policy:read, 403 when
// visible but outside policy:write.
Status may_assign_to(Services& s, const Context& ctx, catalog::TargetType type, const std::string& target_id);

}  // namespace deskaudit::server::access
