#include "policy/policy.hpp"

#include "common/text.hpp"
#include "common/time.hpp"

namespace deskaudit::policy {
namespace {

using nlohmann::json;

std::string field_of(std::string_view key) { return "recording." + std::string(key); }

std::unexpected<Error> bad(std::string_view key, std::string_view what) {
  return fail(Errc::unprocessable, field_of(key) + " " + std::string(what), field_of(key));
}

}  // namespace

std::string choices_text(std::span<const int> values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += i + 1 == values.size() ? " or " : ", ";
    out += std::to_string(values[i]);
  }
  return out;
}

std::string_view to_string(RecordingMode m) {
  switch (m) {
    case RecordingMode::off:
      return "off";
    case RecordingMode::session:
      return "session";
    case RecordingMode::period:
      return "period";
  }
  return "off";
}

std::optional<RecordingMode> recording_mode_from(std::string_view text) {
  for (auto m : kModes) {
    if (to_string(m) == text) return m;
  }
  return std::nullopt;
}

Status validate(const RecordingRule& r) {
  for (auto [key, text] : {std::pair{"period_start", &r.period_start}, std::pair{"period_end", &r.period_end}}) {
    if (!parse_time_of_day(*text)) return bad(key, "must be a time of day HH:MM");
  }
  if (r.mode == RecordingMode::period && r.period_start == r.period_end) {
    return bad("period_end", "must differ from period_start");
  }
  if (!fps_allowed(r.fps)) return bad("fps", "must be " + choices_text(kFpsChoices));
  if (r.segment_max_bytes < kSegmentMinBytes || r.segment_max_bytes > kSegmentMaxBytes) {
    return bad("segment_max_bytes", "must be from " + std::to_string(kSegmentMinBytes) + " to " +
                                        std::to_string(kSegmentMaxBytes) + " (" +
                                        std::to_string(kSegmentMaxBytes >> 20) + " MiB)");
  }
  if (!segment_minutes_allowed(r.segment_max_minutes)) {
    return bad("segment_max_minutes", "must be " + choices_text(kSegmentMinutesChoices));
  }
  if (r.retention_days < kRetentionMinDays || r.retention_days > kRetentionMaxDays) {
    return bad("retention_days",
               "must be from " + std::to_string(kRetentionMinDays) + " to " + std::to_string(kRetentionMaxDays));
  }
  if (r.idle_seconds < kIdleMinSeconds || r.idle_seconds > kIdleMaxSeconds) {
    return bad("idle_seconds",
               "must be from " + std::to_string(kIdleMinSeconds) + " to " + std::to_string(kIdleMaxSeconds));
  }
  if (r.user_notice_message.size() > kNoticeMaxBytes) {
    return bad("user_notice_message", "must have at most " + std::to_string(kNoticeMaxBytes) + " characters");
  }
  if (!is_valid_utf8(r.user_notice_message)) return bad("user_notice_message", "must be UTF-8");
  if (r.user_notice && r.user_notice_message.empty()) {
    return bad("user_notice_message", "is required when user_notice is on");
  }
  return {};
}

Result<RecordingRule> rule_from_json(const json& j, RecordingRule r, UnknownKeys unknown) {
  if (!j.is_object()) return fail(Errc::unprocessable, "recording must be an object", "recording");
  if (unknown == UnknownKeys::reject) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::ranges::find(kRuleKeys, it.key()) == kRuleKeys.end()) {
        return fail(Errc::unprocessable, field_of(it.key()) + " is not a recording setting", field_of(it.key()));
      }
    }
  }
  if (auto it = j.find("mode"); it != j.end()) {
    auto m = it->is_string() ? recording_mode_from(it->get_ref<const std::string&>()) : std::nullopt;
    if (!m) return bad("mode", "must be \"off\", \"session\" or \"period\"");
    r.mode = *m;
  }
  for (auto [key, out] : {std::pair{"period_start", &r.period_start}, std::pair{"period_end", &r.period_end}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_string()) return bad(key, "must be a time of day HH:MM");
    *out = it->get<std::string>();
  }
  // Integers are read as int64 and range-checked before any narrowing, so
  // 2^32 + 5 is refused, never wrapped to 5.
  const std::string fps_what = "must be " + choices_text(kFpsChoices);
  const std::string minutes_what = "must be " + choices_text(kSegmentMinutesChoices);
  const std::string retention_what =
      "must be from " + std::to_string(kRetentionMinDays) + " to " + std::to_string(kRetentionMaxDays);
  const std::string idle_what =
      "must be from " + std::to_string(kIdleMinSeconds) + " to " + std::to_string(kIdleMaxSeconds);
  const std::string bytes_what = "must be from " + std::to_string(kSegmentMinBytes) + " to " +
                                 std::to_string(kSegmentMaxBytes) + " (" + std::to_string(kSegmentMaxBytes >> 20) +
                                 " MiB)";
  auto read_int = [&](const char* key, std::int64_t lo, std::int64_t hi, const std::string& what, auto& out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_number_integer()) return bad(key, what);
    const auto v = it->get<std::int64_t>();
    if (v < lo || v > hi) return bad(key, what);
    out = static_cast<std::remove_reference_t<decltype(out)>>(v);
    return {};
  };
  for (auto st : {read_int("fps", kMinFps, kMaxFps, fps_what, r.fps),
                  read_int("segment_max_bytes", kSegmentMinBytes, kSegmentMaxBytes, bytes_what, r.segment_max_bytes),
                  read_int("segment_max_minutes", 1, 24 * 60, minutes_what, r.segment_max_minutes),
                  read_int("retention_days", kRetentionMinDays, kRetentionMaxDays, retention_what, r.retention_days),
                  read_int("idle_seconds", kIdleMinSeconds, kIdleMaxSeconds, idle_what, r.idle_seconds)}) {
    if (!st) return std::unexpected(st.error());
  }
  for (auto [key, out] : {std::pair{"audio", &r.audio}, std::pair{"user_notice", &r.user_notice}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_boolean()) return bad(key, "must be true or false");
    *out = it->get<bool>();
  }
  if (auto it = j.find("user_notice_message"); it != j.end()) {
    if (!it->is_string()) return bad("user_notice_message", "must be a string");
    r.user_notice_message = it->get<std::string>();
  }
  if (auto st = validate(r); !st) return std::unexpected(st.error());
  return r;
}

json rule_to_json(const RecordingRule& r) {
  return {{"mode", std::string(to_string(r.mode))},
          {"period_start", r.period_start},
          {"period_end", r.period_end},
          {"fps", r.fps},
          {"audio", r.audio},
          {"segment_max_bytes", r.segment_max_bytes},
          {"segment_max_minutes", r.segment_max_minutes},
          {"retention_days", r.retention_days},
          {"user_notice", r.user_notice},
          {"user_notice_message", r.user_notice_message},
          {"idle_seconds", r.idle_seconds}};
}

Result<BodyFields> body_from_json(const json& body, BodyKind kind, const RecordingRule& base) {
  BodyFields out;
  if (!body.is_object()) return fail(Errc::unprocessable, "the body must be an object", "body");
  if (auto it = body.find("name"); kind == BodyKind::create || it != body.end()) {
    if (it == body.end() || it->is_null()) return fail(Errc::unprocessable, "name is required", "name");
    if (!it->is_string()) return fail(Errc::unprocessable, "name must be a string", "name");
    if (auto st = check_name(it->get<std::string>()); !st) return std::unexpected(st.error());
    out.name = it->get<std::string>();
  }
  if (auto it = body.find("recording"); it != body.end()) {
    auto rule = rule_from_json(*it, base);
    if (!rule) return std::unexpected(rule.error());
    out.recording = std::move(*rule);
  }
  return out;
}

Status check_name(const std::string& name, std::string_view field) {
  return check_display_name(name, field, kNameMaxBytes);
}

}  // namespace deskaudit::policy
