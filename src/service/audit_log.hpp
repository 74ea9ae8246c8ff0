#pragma once
// Appends to the audit log (catalog::Catalog::append_audit) with the time of
// the injected clock; after each append, `after_append` (the server's
// checkpoint signer) is told the entry's sequence number. Thread-safe as the
// catalog is.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

class AuditLog {
 public:
  using AfterAppend = std::function<void(std::int64_t seq)>;
  AuditLog(catalog::Catalog& catalog, std::shared_ptr<const Clock> clock, AfterAppend after_append = {});

  // For actions that already happened: a failure is logged, not returned.
  void record(const Caller& who, std::string action, std::string target,
              const nlohmann::json& details = nlohmann::json::object());
  void record_as(std::string actor, std::string action, std::string target,
                 const nlohmann::json& details = nlohmann::json::object());
  // For actions that may only happen once written down (every look at a
  // recording): unavailable when the entry cannot be written, so the caller
  // refuses the action.
  Status record_required(const Caller& who, std::string action, std::string target,
                         const nlohmann::json& details = nlohmann::json::object());
  void set_after_append(AfterAppend after_append) { after_append_ = std::move(after_append); }

 private:
  Result<std::int64_t> append(std::string actor, std::string action, std::string target, const nlohmann::json& details);

  catalog::Catalog& catalog_;
  std::shared_ptr<const Clock> clock_;
  AfterAppend after_append_;
};

}  // namespace deskaudit::service
