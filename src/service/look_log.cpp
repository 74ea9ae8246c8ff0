#include "service/look_log.hpp"

namespace deskaudit::service {

LookLog::LookLog(AuditLog& audit, std::shared_ptr<const Clock> clock, EpochMs window_ms)
    : audit_(audit), clock_(std::move(clock)), window_ms_(window_ms) {}

Status LookLog::record(const Caller& who, std::string_view action, const catalog::Recording& rec,
                       const nlohmann::json& details) {
  const std::string key = std::string(action) + "\n" + who.actor + "\n" + rec.id;
  const auto now = clock_->now_ms();
  const auto recent = [&](EpochMs at) { return now - at <= window_ms_; };
  {
    std::lock_guard lock(mu_);
    auto it = last_look_.find(key);
    if (it != last_look_.end() && recent(it->second)) return {};
  }
  if (auto st = audit_.record_required(who, std::string(action), rec.id, details); !st) return st;
  std::lock_guard lock(mu_);
  if (last_look_.size() > 10'000) std::erase_if(last_look_, [&](const auto& kv) { return !recent(kv.second); });
  last_look_[key] = now;
  return {};
}

}  // namespace deskaudit::service
