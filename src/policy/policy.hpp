#pragma once
// The recording policy's one definition: its settings, the values each may
// take, and its JSON form (docs/api.md, "recording"). The server validates
// administrators' bodies with it, the agent the policy it is sent, the CLI
// names the choices from it, the recorder caps its frame rate with it, and
// the console's constants are generated from it (schema_ts.hpp).
// Pure values and functions; thread-safe.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace deskaudit::policy {

enum class RecordingMode { off, session, period };
inline constexpr std::array<RecordingMode, 3> kModes = {RecordingMode::off, RecordingMode::session,
                                                        RecordingMode::period};
std::string_view to_string(RecordingMode mode);
std::optional<RecordingMode> recording_mode_from(std::string_view text);

// Frames a second: the choices offered; a still screen costs no frames.
inline constexpr std::array<int, 4> kFpsChoices = {2, 5, 10, 15};
// Minutes after which a segment file is closed and uploaded.
inline constexpr std::array<int, 4> kSegmentMinutesChoices = {10, 20, 30, 60};
// Smaller segments would be all init segment and no video; larger ones than
// the upload's body limit could never be sent.
inline constexpr std::int64_t kSegmentMinBytes = 64 << 10;
inline constexpr std::int64_t kSegmentMaxBytes = 32 << 20;
// Seconds without input and without screen change after which the agent
// marks the session idle (activity events).
inline constexpr int kIdleMinSeconds = 10;
inline constexpr int kIdleMaxSeconds = 3600;
inline constexpr int kRetentionMinDays = 1;
inline constexpr int kRetentionMaxDays = 3650;
// Bytes of UTF-8 in the notice shown to the user.
inline constexpr std::size_t kNoticeMaxBytes = 1000;
// Bytes of UTF-8 in a policy's name (the server's display-name rule).
inline constexpr std::size_t kNameMaxBytes = 128;

inline constexpr int kMinFps = std::ranges::min(kFpsChoices);
inline constexpr int kMaxFps = std::ranges::max(kFpsChoices);

// "2, 5, 10 or 15": the choices as the error messages and --help name them.
std::string choices_text(std::span<const int> values);

constexpr bool fps_allowed(std::int64_t v) { return std::ranges::find(kFpsChoices, v) != kFpsChoices.end(); }
constexpr bool segment_minutes_allowed(std::int64_t v) {
  return std::ranges::find(kSegmentMinutesChoices, v) != kSegmentMinutesChoices.end();
}

// The screen-recording rule of a policy; the defaults are a new policy's.
struct RecordingRule {
  RecordingMode mode = RecordingMode::off;
  std::string period_start = "09:00";  // "HH:MM" local time, used when mode == period
  std::string period_end = "18:00";    // start > end crosses midnight
  int fps = 5;
  bool audio = false;
  std::int64_t segment_max_bytes = kSegmentMaxBytes;
  int segment_max_minutes = 60;
  int retention_days = 30;
  bool user_notice = false;
  std::string user_notice_message;
  int idle_seconds = 30;
  bool operator==(const RecordingRule&) const = default;
};

// The JSON keys of a rule, in api.md order.
inline constexpr std::array<std::string_view, 11> kRuleKeys = {
    "mode",           "period_start", "period_end",          "fps",         "audio", "segment_max_bytes", "segment_max_minutes",
    "retention_days", "user_notice",  "user_notice_message", "idle_seconds"};

// Checks every value of a rule against the allowed ones. Errors are
// unprocessable and name the field as "recording.<key>".
Status validate(const RecordingRule& rule);

// What a reader does with a key it does not know: the server refuses it
// (a typo must not be silently ignored); the agent ignores it, so a newer
// server's additions do not cut older agents off.
enum class UnknownKeys { reject, ignore };

// Applies the keys present in `j` onto `base` (PATCH merges onto the stored
// rule, POST onto the defaults) and validates the result: unprocessable,
// naming the field ("recording.fps").
Result<RecordingRule> rule_from_json(const nlohmann::json& j, RecordingRule base,
                                     UnknownKeys unknown = UnknownKeys::reject);
// Every key of kRuleKeys; rule_from_json reads it back to the same rule.
nlohmann::json rule_to_json(const RecordingRule& rule);

// The body of POST and PATCH /api/v1/policies.
enum class BodyKind { create, update };
struct BodyFields {
  std::optional<std::string> name;         // set when the body names the policy
  std::optional<RecordingRule> recording;  // `base` with the body's "recording" applied
};
// create: "name" is required; update: every field is optional. Errors are
// unprocessable and name the field; the name is checked before the rule.
Result<BodyFields> body_from_json(const nlohmann::json& body, BodyKind kind, const RecordingRule& base);

// A policy's name: 1..kNameMaxBytes bytes of UTF-8 without control characters.
Status check_name(const std::string& name, std::string_view field = "name");

}  // namespace deskaudit::policy
