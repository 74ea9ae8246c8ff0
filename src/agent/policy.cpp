#include "agent/policy.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

namespace deskaudit::agent {
namespace {

using nlohmann::json;

Result<std::int64_t> int_field(const json& obj, const char* name, std::int64_t dflt, std::int64_t lo,
                               std::int64_t hi) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_number_integer()) return fail(Errc::unprocessable, std::string("policy ") + name + " is not an integer", name);
  const auto v = it->get<std::int64_t>();
  if (v < lo || v > hi) {
    return fail(Errc::unprocessable,
                std::string("policy ") + name + " = " + std::to_string(v) + " is outside " + std::to_string(lo) +
                    ".." + std::to_string(hi),
                name);
  }
  return v;
}

Result<bool> bool_field(const json& obj, const char* name, bool dflt) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) return fail(Errc::unprocessable, std::string("policy ") + name + " is not a boolean", name);
  return it->get<bool>();
}

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
  auto version = int_field(obj, "version", 0, 0, INT64_MAX);
  if (!version) return std::unexpected(version.error());
  p.version = *version;

  const auto rit = obj.find("recording");
  if (rit == obj.end() || !rit->is_object()) return fail(Errc::unprocessable, "policy has no recording object", "recording");
  const json& r = *rit;
  auto mode = string_field(r, "mode");
  if (!mode) return std::unexpected(mode.error());
  if (*mode == "off") {
    p.mode = RecordingMode::off;
  } else if (*mode == "session") {
    p.mode = RecordingMode::session;
  } else if (*mode == "period") {
    p.mode = RecordingMode::period;
  } else {
    return fail(Errc::unprocessable, "policy recording mode '" + *mode + "' is not off, session or period", "mode");
  }
  if (p.mode == RecordingMode::period) {
    for (auto [key, out] : {std::pair{"period_start", &p.period_start_min}, std::pair{"period_end", &p.period_end_min}}) {
      auto text = string_field(r, key);
      if (!text) return std::unexpected(text.error());
      auto m = parse_time_of_day(*text);
      if (!m) return fail(Errc::unprocessable, std::string("policy ") + key + ": " + m.error().message, key);
      *out = *m;
    }
  }
  auto fps = int_field(r, "fps", 5, 1, 60);
  if (!fps) return std::unexpected(fps.error());
  p.fps = static_cast<int>(*fps);
  auto audio = bool_field(r, "audio", false);
  if (!audio) return std::unexpected(audio.error());
  p.audio = *audio;
  // 64 KiB floor: smaller segments would be all init segment and no video.
  auto seg_bytes = int_field(r, "segment_max_bytes", 32ll << 20, 64 << 10, 1ll << 40);
  if (!seg_bytes) return std::unexpected(seg_bytes.error());
  p.segment_max_bytes = *seg_bytes;
  auto seg_min = int_field(r, "segment_max_minutes", 60, 1, 24 * 60);
  if (!seg_min) return std::unexpected(seg_min.error());
  p.segment_max_minutes = static_cast<int>(*seg_min);
  auto retention = int_field(r, "retention_days", 30, 1, 100000);
  if (!retention) return std::unexpected(retention.error());
  p.retention_days = static_cast<int>(*retention);
  auto notice = bool_field(r, "user_notice", false);
  if (!notice) return std::unexpected(notice.error());
  p.user_notice = *notice;
  auto message = string_field(r, "user_notice_message");
  if (!message) return std::unexpected(message.error());
  p.user_notice_message = *message;
  return p;
}

json policy_to_json(const Policy& p) {
  json r = {{"mode", p.mode == RecordingMode::off       ? "off"
                     : p.mode == RecordingMode::session ? "session"
                                                        : "period"},
            {"fps", p.fps},
            {"audio", p.audio},
            {"segment_max_bytes", p.segment_max_bytes},
            {"segment_max_minutes", p.segment_max_minutes},
            {"retention_days", p.retention_days},
            {"user_notice", p.user_notice},
            {"user_notice_message", p.user_notice_message}};
  if (p.mode == RecordingMode::period) {
    r["period_start"] = hhmm(p.period_start_min);
    r["period_end"] = hhmm(p.period_end_min);
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
