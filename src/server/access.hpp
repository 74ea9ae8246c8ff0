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

// A computer the caller may change with inventory:write: 404 when it cannot
// see it with inventory:read, 403 when it sees it but may not change it.
Result<catalog::Computer> writable_computer(Services& s, const Context& ctx, std::string_view id);

// May the caller put a computer (or an enrollment token) into `pool_id`
// with `permission`? No pool means "outside every pool", which only an
// unscoped grant reaches. A pool hidden from the caller answers
// `hidden` (404 for a pool in the path, 422 "does not exist" for a field).
Status pool_reachable(const Context& ctx, const std::optional<std::string>& pool_id, std::string_view permission,
                      std::string_view read_permission, Error hidden);

// User management (who may change whom, grant what, define which role)
// lives in service::AccessService, policy changes and assignments in
// service::PolicyService.

}  // namespace deskaudit::server::access
