#pragma once
// Recording policies and their assignment to computers and pools.
//
// Scope rules (the caller's grants): reading is not scoped (policy:read
// anywhere shows every policy, as a policy is not inside any pool). A
// change to a policy needs policy:write over every computer and pool it is
// assigned to (permission_denied otherwise); an assignment's target must be
// visible under policy:read (not_found otherwise, as if it did not exist)
// and inside policy:write (permission_denied). Every change is written to
// the audit log (policy.create, .update, .delete, .assign, .unassign).
// Thread-safe as the catalog is.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "policy/policy.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

// A policy with where it is assigned.
struct PolicyView {
  catalog::Policy policy;
  std::vector<catalog::Assignment> assignments;
};

// A policy in its api.md shape, without assignments (the audit log's record
// of it, and the server's rendering).
nlohmann::json policy_json(const catalog::Policy& policy);

class PolicyService {
 public:
  PolicyService(catalog::Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock);

  Result<catalog::PageOf<PolicyView>> list(const Caller& caller, const catalog::Page& page);
  Result<PolicyView> get(const Caller& caller, std::string_view id);

  // `body` is the api.md policy body, read by the policy codec
  // (policy::body_from_json): create needs "name", the rule starts from the
  // defaults; update merges onto the stored rule. Unprocessable naming the
  // field; conflict when the name is taken.
  Result<PolicyView> create(const Caller& caller, const nlohmann::json& body);
  Result<PolicyView> update(const Caller& caller, std::string_view id, const nlohmann::json& body);
  // The policy's recordings keep their own retention.
  Status remove(const Caller& caller, std::string_view id);

  Status assign(const Caller& caller, const catalog::Assignment& assignment);
  Status unassign(const Caller& caller, const catalog::Assignment& assignment);

 private:
  Result<PolicyView> view(catalog::Policy policy);
  Status may_change(const Caller& caller, std::string_view policy_id);
  Status may_target(const Caller& caller, catalog::TargetType type, const std::string& target_id);
  Status change_assignment(const Caller& caller, const catalog::Assignment& assignment, bool assign);

  catalog::Catalog& catalog_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
};

}  // namespace deskaudit::service
