#include "service/audit_log.hpp"

#include <spdlog/spdlog.h>

namespace deskaudit::service {

AuditLog::AuditLog(catalog::Catalog& catalog, std::shared_ptr<const Clock> clock, AfterAppend after_append)
    : catalog_(catalog), clock_(std::move(clock)), after_append_(std::move(after_append)) {}

Result<std::int64_t> AuditLog::append(std::string actor, std::string action, std::string target,
                                      const nlohmann::json& details) {
  catalog::AuditEntry e;
  e.time = clock_->now_ms();
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.target = std::move(target);
  e.details_json = details.dump();
  auto r = catalog_.append_audit(std::move(e));
  if (!r) return std::unexpected(r.error());
  if (after_append_) after_append_(r->seq);
  return r->seq;
}

void AuditLog::record(const Caller& who, std::string action, std::string target, const nlohmann::json& details) {
  record_as(who.actor, std::move(action), std::move(target), details);
}

void AuditLog::record_as(std::string actor, std::string action, std::string target, const nlohmann::json& details) {
  if (auto r = append(std::move(actor), std::move(action), std::move(target), details); !r) {
    spdlog::error("audit log append failed: {}", r.error().message);
  }
}

Status AuditLog::record_required(const Caller& who, std::string action, std::string target,
                                 const nlohmann::json& details) {
  if (auto r = append(who.actor, std::move(action), std::move(target), details); !r) {
    spdlog::error("audit log append failed, refusing the request: {}", r.error().message);
    return fail(Errc::unavailable, "the access could not be written to the audit log; retry shortly");
  }
  return {};
}

}  // namespace deskaudit::service
