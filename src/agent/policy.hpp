#pragma once
// The effective recording policy as the agent follows it, parsed from
// GET /api/v1/agent/policy, and the time-window logic of "period" mode.
// Plain values; no shared state, thread-compatible.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/error.hpp"
#include "common/time.hpp"
#include "policy/policy.hpp"

namespace deskaudit::agent {

using policy::RecordingMode;

struct Policy {
  std::string id;
  std::string name;
  std::int64_t version = 0;             // bumps on every change (server-side)
  RecordingMode mode = RecordingMode::off;
  int period_start_min = 0;             // minutes after local midnight
  int period_end_min = 0;
  int fps = 5;
  bool audio = false;
  std::int64_t segment_max_bytes = policy::kSegmentMaxBytes;
  int segment_max_minutes = 60;
  int retention_days = 30;
  bool user_notice = false;
  std::string user_notice_message;
  int idle_seconds = 30;  // activity events: idle after this long without input or screen change
};

// What the agent knows about its policy: the policy (absent = nothing
// assigned, record nothing), where it comes from, and the server's etag.
struct PolicyState {
  std::optional<Policy> policy;
  std::string source;  // "computer" | "pool" | "none"
  std::string etag;
};

// Parses one api.md policy object ({"id","name","recording":{...}}); checks
// every value by the server's rules (policy::rule_from_json: fps 2, 5, 10 or
// 15, sizes and minutes from the allowed sets, HH:MM windows), skipping
// recording keys it does not know. Errors name the field ("recording.fps").
Result<Policy> parse_policy(const nlohmann::json& policy);
nlohmann::json policy_to_json(const Policy& policy);

// Parses the whole GET /api/v1/agent/policy reply.
Result<PolicyState> parse_policy_state(const nlohmann::json& reply);
nlohmann::json policy_state_to_json(const PolicyState& state);

// True when `minute_of_day` (0..1439) lies in the window [start, end).
// start > end is a window crossing midnight (22:00-06:00); start == end is
// the whole day.
bool period_contains(int start_min, int end_min, int minute_of_day);

// Minutes after local midnight of an instant, in the machine's time zone
// (TZ honoured), so windows follow the local clock across DST changes.
int local_minute_of_day(EpochMs ms);

// Whether the policy wants a connected session recorded at local minute m.
bool policy_records_at(const Policy& policy, int minute_of_day);
// What the user notice shows: the policy's message, and when the policy
// records audio, a line that says so (the user hears it is recorded).
std::string notice_text(const Policy& policy);

}  // namespace deskaudit::agent
