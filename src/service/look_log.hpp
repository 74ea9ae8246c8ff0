#pragma once
// Audit entries for looks at a recording (playing, downloading, reading its
// events): written before anything of the recording is served
// (AuditLog::record_required), once per action, viewer and recording within
// `window_ms` (a player reloads a live playlist every few seconds and
// fetches many segments and pages of events, which is one viewing). A look
// is marked only after its entry is written, so two concurrent first looks
// may both be logged, but none is served without an entry.
// Thread-safe.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "catalog/types.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

class LookLog {
 public:
  LookLog(AuditLog& audit, std::shared_ptr<const Clock> clock, EpochMs window_ms);

  // unavailable when the entry cannot be written: the look must be refused.
  Status record(const Caller& who, std::string_view action, const catalog::Recording& rec,
                const nlohmann::json& details);

 private:
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  EpochMs window_ms_;
  std::mutex mu_;
  std::map<std::string, EpochMs> last_look_;  // "action\nactor\nrecording" -> when last logged
};

}  // namespace deskaudit::service
