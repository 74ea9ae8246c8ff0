#include "agent/policy.hpp"
#include "common/posix_compat.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

namespace deskaudit::agent {
namespace {

using nlohmann::json;

Result<std::string> string_field(const json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(Errc::unprocessable, std::string("policy ") + name + " is not a string", name);
  return it->get<std::string>();
}

}  // namespace

Result<Policy> parse_policy(const json& obj) {
  if (!obj.is_object()) return fail(Errc::unprocessable, "policy is not a JSON object");
  Policy p;
  auto id = string_field(obj, "id");
  if (!id) return std::unexpected(id.error());
  p.id = *id;
  auto name = string_field(obj, "name");
  if (!name) return std::unexpected(name.error());
  p.name = *name;
  if (auto it = obj.find("version"); it != obj.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
      return fail(Errc::unprocessable, "policy version is not a whole number", "version");
    }
    p.version = it->get<std::int64_t>();
  }

  const auto rit = obj.find("recording");
  if (rit == obj.end() || !rit->is_object()) return fail(Errc::unprocessable, "policy has no recording object", "recording");
  // The server's own rules (src/policy); keys this agent does not know are
  // skipped, so a newer server can add settings without cutting it off.
  auto rule = policy::rule_from_json(*rit, policy::RecordingRule{}, policy::UnknownKeys::ignore);
  if (!rule) return std::unexpected(with_context(rule.error(), "policy"));
  if (rule->mode == RecordingMode::period) {
    // A window the server did not send is not the default window.
    for (auto key : {"period_start", "period_end"}) {
      if (!rit->contains(key)) return fail(Errc::unprocessable, std::string("policy recording.") + key + " is missing",
                                           std::string("recording.") + key);
    }
  }
  p.recording = std::move(*rule);
  return p;
}

json policy_to_json(const Policy& p) {
  json r = policy::rule_to_json(p.recording);
  if (p.recording.mode != RecordingMode::period) {
    r.erase("period_start");
    r.erase("period_end");
  }
  return {{"id", p.id}, {"name", p.name}, {"version", p.version}, {"recording", std::move(r)}};
}

int Policy::period_start_min() const { return parse_time_of_day(recording.period_start).value_or(0); }
int Policy::period_end_min() const { return parse_time_of_day(recording.period_end).value_or(0); }

Result<PolicyState> parse_policy_state(const json& reply) {
  if (!reply.is_object()) return fail(Errc::corrupt, "policy reply is not a JSON object");
  PolicyState s;
  if (auto it = reply.find("source"); it != reply.end() && it->is_string()) s.source = it->get<std::string>();
  if (auto it = reply.find("etag"); it != reply.end()) {
    if (it->is_string()) {
      s.etag = it->get<std::string>();
    } else if (it->is_number_integer()) {
      s.etag = std::to_string(it->get<std::int64_t>());
    }
  }
  const auto it = reply.find("policy");
  if (it != reply.end() && !it->is_null()) {
    auto p = parse_policy(*it);
    if (!p) return std::unexpected(p.error());
    s.policy = std::move(*p);
  }
  return s;
}

json policy_state_to_json(const PolicyState& s) {
  return {{"policy", s.policy ? policy_to_json(*s.policy) : json(nullptr)}, {"source", s.source}, {"etag", s.etag}};
}

bool period_contains(int start_min, int end_min, int m) {
  if (start_min == end_min) return true;
  if (start_min < end_min) return m >= start_min && m < end_min;
  return m >= start_min || m < end_min;
}

int local_minute_of_day(EpochMs ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return tm.tm_hour * 60 + tm.tm_min;
}

bool policy_records_at(const Policy& p, int minute_of_day) {
  switch (p.recording.mode) {
    case RecordingMode::off:
      return false;
    case RecordingMode::session:
      return true;
    case RecordingMode::period:
      return period_contains(p.period_start_min(), p.period_end_min(), minute_of_day);
    case RecordingMode::events:
      return true;  // armed: the pre-event ring runs, a trigger starts the recording
  }
  return false;
}

std::string notice_text(const Policy& policy) {
  if (!policy.recording.audio) return policy.recording.user_notice_message;
  return policy.recording.user_notice_message + "\n\nThe sound of this session (what you hear) is recorded too.";
}

}  // namespace deskaudit::agent
