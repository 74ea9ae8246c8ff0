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
    case RecordingMode::events:
      return "events";
  }
  return "off";
}

std::string_view to_string(TriggerKind k) {
  switch (k) {
    case TriggerKind::process:
      return "process";
    case TriggerKind::app:
      return "app";
    case TriggerKind::window_title:
      return "window_title";
  }
  return "process";
}

Status check_trigger_pattern(std::string_view pattern, std::string_view field) {
  const std::string f(field);
  if (pattern.empty()) return fail(Errc::unprocessable, f + " must not be empty", f);
  if (pattern.size() > kTriggerPatternMaxBytes) {
    return fail(Errc::unprocessable, f + " must have at most " + std::to_string(kTriggerPatternMaxBytes) + " bytes", f);
  }
  if (!is_valid_utf8(pattern)) return fail(Errc::unprocessable, f + " must be UTF-8", f);
  if (std::ranges::any_of(pattern, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return fail(Errc::unprocessable, f + " must not hold control characters", f);
  }
  bool escaped = false;
  for (const char c : pattern) escaped = !escaped && c == '\\';
  if (escaped) return fail(Errc::unprocessable, f + " ends in a lone \\ (write \\\\ for a backslash)", f);
  return {};
}

namespace {

// One pattern element: a literal byte, `?` (one UTF-8 character) or `*`.
struct GlobItem {
  enum Kind { literal, one, any } kind;
  char ch = 0;
};

std::vector<GlobItem> glob_items(std::string_view pattern) {
  std::vector<GlobItem> out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out.push_back({GlobItem::literal, pattern[++i]});
    } else if (c == '*') {
      if (out.empty() || out.back().kind != GlobItem::any) out.push_back({GlobItem::any, 0});
    } else if (c == '?') {
      out.push_back({GlobItem::one, 0});
    } else {
      out.push_back({GlobItem::literal, c});
    }
  }
  return out;
}

char fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The byte length of the UTF-8 character starting at s[i] (1 for a stray byte).
std::size_t char_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return std::min(n, s.size() - i);
}

}  // namespace

bool glob_matches(std::string_view pattern, std::string_view text) {
  if (!check_trigger_pattern(pattern, "pattern")) return false;
  const auto items = glob_items(pattern);
  // The classic two-pointer matcher with one backtrack point (the last `*`):
  // O(pattern * text) at worst, no exponential backtracking.
  std::size_t p = 0, t = 0;
  std::optional<std::size_t> star_p;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < items.size() && items[p].kind == GlobItem::any) {
      star_p = p++;
      star_t = t;
    } else if (p < items.size() && items[p].kind == GlobItem::one) {
      ++p;
      t += char_len(text, t);
    } else if (p < items.size() && items[p].kind == GlobItem::literal && fold(items[p].ch) == fold(text[t])) {
      ++p;
      ++t;
    } else if (star_p) {
      p = *star_p + 1;
      star_t += char_len(text, star_t);
      t = star_t;
    } else {
      return false;
    }
  }
  while (p < items.size() && items[p].kind == GlobItem::any) ++p;
  return p == items.size();
}

nlohmann::json triggers_to_json(const std::vector<Trigger>& triggers) {
  json out = json::array();
  for (const auto& t : triggers) out.push_back({{std::string(to_string(t.kind)), t.pattern}});
  return out;
}

Result<std::vector<Trigger>> triggers_from_json(const json& j) {
  const std::string list = field_of("triggers");
  if (!j.is_array()) return fail(Errc::unprocessable, list + " must be a list of triggers", list);
  if (j.size() > kMaxTriggers) {
    return fail(Errc::unprocessable, list + " must have at most " + std::to_string(kMaxTriggers) + " triggers", list);
  }
  std::vector<Trigger> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string at = list + "[" + std::to_string(i) + "]";
    const auto& item = j[i];
    if (!item.is_object() || item.size() != 1) {
      return fail(Errc::unprocessable,
                  at + " must be one of {\"process\": P}, {\"app\": P} or {\"window_title\": P}", at);
    }
    const auto key = item.begin().key();
    const auto kind = std::ranges::find_if(kTriggerKinds, [&](TriggerKind k) { return to_string(k) == key; });
    if (kind == kTriggerKinds.end()) {
      return fail(Errc::unprocessable, at + "." + key + " is not a trigger (process, app or window_title)",
                  at + "." + key);
    }
    const std::string field = at + "." + key;
    if (!item.begin()->is_string()) return fail(Errc::unprocessable, field + " must be a pattern (a string)", field);
    auto pattern = item.begin()->get<std::string>();
    if (auto st = check_trigger_pattern(pattern, field); !st) return std::unexpected(st.error());
    out.push_back(Trigger{*kind, std::move(pattern)});
  }
  return out;
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
  if (r.post_event_minutes < kPostEventMinMinutes || r.post_event_minutes > kPostEventMaxMinutes) {
    return bad("post_event_minutes", "must be from " + std::to_string(kPostEventMinMinutes) + " to " +
                                         std::to_string(kPostEventMaxMinutes));
  }
  if (r.pre_event_seconds < kPreEventMinSeconds || r.pre_event_seconds > kPreEventMaxSeconds) {
    return bad("pre_event_seconds", "must be from " + std::to_string(kPreEventMinSeconds) + " to " +
                                        std::to_string(kPreEventMaxSeconds));
  }
  if (r.triggers.size() > kMaxTriggers) {
    return bad("triggers", "must have at most " + std::to_string(kMaxTriggers) + " triggers");
  }
  for (std::size_t i = 0; i < r.triggers.size(); ++i) {
    const auto field = field_of("triggers") + "[" + std::to_string(i) + "]." + std::string(to_string(r.triggers[i].kind));
    if (auto st = check_trigger_pattern(r.triggers[i].pattern, field); !st) return st;
  }
  if (r.mode == RecordingMode::events && r.triggers.empty()) {
    return bad("triggers", "must name at least one trigger when mode is \"events\"");
  }
  // The pre-event ring holds video only: an audio track cannot start
  // before the trigger, so the combination is refused rather than half done.
  if (r.mode == RecordingMode::events && r.audio) {
    return bad("audio", "is not available with mode \"events\" (turn audio off or choose another mode)");
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
    if (!m) return bad("mode", "must be \"off\", \"session\", \"period\" or \"events\"");
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
  const std::string post_what =
      "must be from " + std::to_string(kPostEventMinMinutes) + " to " + std::to_string(kPostEventMaxMinutes);
  const std::string pre_what =
      "must be from " + std::to_string(kPreEventMinSeconds) + " to " + std::to_string(kPreEventMaxSeconds);
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
                  read_int("idle_seconds", kIdleMinSeconds, kIdleMaxSeconds, idle_what, r.idle_seconds),
                  read_int("post_event_minutes", kPostEventMinMinutes, kPostEventMaxMinutes, post_what,
                           r.post_event_minutes),
                  read_int("pre_event_seconds", kPreEventMinSeconds, kPreEventMaxSeconds, pre_what,
                           r.pre_event_seconds)}) {
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
  if (auto it = j.find("triggers"); it != j.end()) {
    auto triggers = triggers_from_json(*it);
    if (!triggers) return std::unexpected(triggers.error());
    r.triggers = std::move(*triggers);
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
          {"idle_seconds", r.idle_seconds},
          {"triggers", triggers_to_json(r.triggers)},
          {"post_event_minutes", r.post_event_minutes},
          {"pre_event_seconds", r.pre_event_seconds}};
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
