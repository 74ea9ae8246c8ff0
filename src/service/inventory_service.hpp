#pragma once
// Cloud computers, computer pools and enrollment tokens, under the callers'
// scopes, and the "why are this computer's recordings missing?" checklist.
//
// Scope rule of every method: an object the caller cannot see with
// inventory:read (policy:read for effective_policy) is not_found, exactly as
// if it did not exist; a visible object whose change reaches outside the
// caller's inventory:write scope (the object itself, the pool a computer
// leaves or joins, "no pool", which only an unscoped grant reaches) is
// permission_denied. A pool named as a destination that the caller cannot
// see is reported as not existing (unprocessable, field pool_id).
//
// Every change is written to the audit log as the caller. Thread-safe as the
// catalog is.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

// The prefix of enrollment token secrets (stored as sha256 hex).
inline constexpr std::string_view kEnrollPrefix = "det_";

struct InventorySettings {
  std::int64_t agent_offline_after_ms = 90'000;  // no heartbeat for longer: offline
};

// A computer with the policy in force for it.
struct ComputerView {
  catalog::Computer computer;
  catalog::EffectivePolicy policy;
};

struct NewComputer {
  std::string name;
  std::string hostname;
  std::string os;
  std::optional<std::string> pool_id;  // nullopt: outside every pool
};

// Fields left nullopt stay as they are.
struct ComputerChange {
  std::optional<std::string> name;
  std::optional<std::optional<std::string>> pool_id;  // inner nullopt: out of every pool
};

struct NewPool {
  std::string name;
  std::string description;
};

struct PoolChange {
  std::optional<std::string> name;
  std::optional<std::string> description;
};

struct NewEnrollmentToken {
  std::optional<std::string> pool_id;  // enrolled computers join this pool
  std::optional<EpochMs> expires_at;   // in the future
  std::optional<std::int64_t> max_uses;  // 1..kMaxEnrollmentUses
};
inline constexpr std::int64_t kMaxEnrollmentUses = 1'000'000;

// A created token and its secret: the secret is shown this once, the
// catalog keeps only its hash.
struct IssuedEnrollmentToken {
  catalog::EnrollmentToken token;
  std::string secret;
};

// One line of the recording-status checklist.
struct StatusCheck {
  std::string id;  // "enrolled", "agent_online", ... (api.md)
  std::string label;
  bool ok = false;
  std::string detail;
};

struct RecordingStatusReport {
  std::string computer_id;
  bool ok = false;  // every check ok
  std::vector<StatusCheck> checks;
};

class InventoryService {
 public:
  InventoryService(catalog::Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock,
                   InventorySettings settings);

  // --- computers ----------------------------------------------------------
  // Computers visible to the caller (inventory:read scope), by name.
  Result<catalog::PageOf<ComputerView>> list_computers(const Caller& who, catalog::ComputerFilter filter,
                                                       const catalog::Page& page);
  // Registers a computer (agents also register themselves by enrolling). The
  // name must be a valid name; the pool must exist and be reachable.
  Result<ComputerView> create_computer(const Caller& who, const NewComputer& computer);
  Result<ComputerView> get_computer(const Caller& who, std::string_view id);
  // Renames and/or moves a computer; moving needs both the pool it leaves
  // and the pool it joins. Audited as computer.update with the changed fields.
  Result<ComputerView> update_computer(const Caller& who, std::string_view id, const ComputerChange& change);
  // Removes the computer and its agent credential; its recordings stay.
  Status delete_computer(const Caller& who, std::string_view id);
  // The policy in force for a computer the caller may see with policy:read.
  Result<ComputerView> effective_policy(const Caller& who, std::string_view id);
  // Checklist: why are this computer's recordings missing?
  Result<RecordingStatusReport> recording_status(const Caller& who, std::string_view id);

  // --- pools --------------------------------------------------------------
  Result<catalog::PageOf<catalog::Pool>> list_pools(const Caller& who, std::string_view q, const catalog::Page& page);
  // A new pool is outside every scoped grant (those name existing pools):
  // only an unscoped inventory:write grant makes one.
  Result<catalog::Pool> create_pool(const Caller& who, const NewPool& pool);
  Result<catalog::Pool> get_pool(const Caller& who, std::string_view id);
  Result<catalog::Pool> update_pool(const Caller& who, std::string_view id, const PoolChange& change);
  // conflict while the pool still holds computers.
  Status delete_pool(const Caller& who, std::string_view id);
  // The computers of a visible pool (q: substring of id or name).
  Result<catalog::PageOf<ComputerView>> list_pool_computers(const Caller& who, std::string_view pool_id,
                                                            std::string q, const catalog::Page& page);
  // Puts a computer into a pool, moving it out of any other.
  Status add_to_pool(const Caller& who, std::string_view pool_id, std::string_view computer_id);
  // Takes a computer out of its pool (not_found when it is not in that
  // pool); outside every pool is reached only by an unscoped grant.
  Status remove_from_pool(const Caller& who, std::string_view pool_id, std::string_view computer_id);

  // --- enrollment tokens -----------------------------------------------------
  // Tokens are seen and revoked by who may enroll into their pool; a token
  // without a pool only by an unscoped inventory:write grant. Filtered after
  // paging: a page may hold fewer items than the limit while next_token
  // still goes on.
  Result<catalog::PageOf<catalog::EnrollmentToken>> list_enrollment_tokens(const Caller& who,
                                                                          const catalog::Page& page);
  Result<IssuedEnrollmentToken> create_enrollment_token(const Caller& who, const NewEnrollmentToken& token);
  Status revoke_enrollment_token(const Caller& who, std::string_view id);

 private:
  Result<catalog::Computer> visible_computer(const Caller& who, std::string_view id, std::string_view permission);
  Result<catalog::Computer> writable_computer(const Caller& who, std::string_view id);
  Result<catalog::Pool> visible_pool(const Caller& who, std::string_view id);
  Result<catalog::Pool> writable_pool(const Caller& who, std::string_view id);
  Status destination_reachable(const Caller& who, const std::optional<std::string>& pool_id);
  Result<ComputerView> with_policy(catalog::Computer computer);
  Result<catalog::PageOf<ComputerView>> computers(const Caller& who, catalog::ComputerFilter filter,
                                                  const catalog::Page& page);

  catalog::Catalog& catalog_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  InventorySettings settings_;
};

}  // namespace deskaudit::service
