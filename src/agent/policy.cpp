#include "agent/policy.hpp"

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

std::string hhmm(int minutes) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
  return buf;
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
  p.mode = rule->mode;
  if (p.mode == RecordingMode::period) {
    // A window the server did not send is not the default window.
    for (auto key : {"period_start", "period_end"}) {
      if (!rit->contains(key)) return fail(Errc::unprocessable, std::string("policy recording.") + key + " is missing",
                                           std::string("recording.") + key);
    }
    p.period_start_min = *parse_time_of_day(rule->period_start);  // validated by the codec
    p.period_end_min = *parse_time_of_day(rule->period_end);
  }
  p.fps = rule->fps;
  p.audio = rule->audio;
  p.segment_max_bytes = rule->segment_max_bytes;
  p.segment_max_minutes = rule->segment_max_minutes;
  p.retention_days = rule->retention_days;
  p.user_notice = rule->user_notice;
  p.idle_seconds = rule->idle_seconds;
  p.user_notice_message = std::move(rule->user_notice_message);
  return p;
}

json policy_to_json(const Policy& p) {
  policy::RecordingRule rule;
  rule.mode = p.mode;
  rule.fps = p.fps;
  rule.audio = p.audio;
  rule.segment_max_bytes = p.segment_max_bytes;
  rule.segment_max_minutes = p.segment_max_minutes;
  rule.retention_days = p.retention_days;
  rule.user_notice = p.user_notice;
  rule.idle_seconds = p.idle_seconds;
  rule.user_notice_message = p.user_notice_message;
  json r = policy::rule_to_json(rule);
  if (p.mode == RecordingMode::period) {
    r["period_start"] = hhmm(p.period_start_min);
    r["period_end"] = hhmm(p.period_end_min);
  } else {
    r.erase("period_start");
    r.erase("period_end");
  }
  return {{"id", p.id}, {"name", p.name}, {"version", p.version}, {"recording", std::move(r)}};
}

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
  switch (p.mode) {
    case RecordingMode::off:
      return false;
    case RecordingMode::session:
      return true;
    case RecordingMode::period:
      return period_contains(p.period_start_min, p.period_end_min, minute_of_day);
  }
  return false;
}

std::string notice_text(const Policy& policy) {
  if (!policy.audio) return policy.user_notice_message;
  return policy.user_notice_message + "\n\nThe sound of this session (what you hear) is recorded too.";
}

}  // namespace deskaudit::agent
