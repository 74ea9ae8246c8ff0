#include "server/policy_json.hpp"

#include "server/views.hpp"

namespace deskaudit::server {

Result<PolicyFields> policy_fields_from_json(const Json& body, PolicyBody kind, const catalog::RecordingRule& base) {
  PolicyFields out;
  if (kind == PolicyBody::create || body.contains("name")) {
    auto name = get_name(body, "name");
    if (!name) return std::unexpected(name.error());
    out.name = std::move(*name);
  }
  if (body.contains("recording")) {
    auto rule = rule_from_json(body["recording"], base);
    if (!rule) return std::unexpected(rule.error());
    out.recording = std::move(*rule);
  }
  return out;
}

}  // namespace deskaudit::server
