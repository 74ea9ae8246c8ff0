#include "server/watchdog.hpp"

#include <spdlog/spdlog.h>

namespace deskaudit::server {

using namespace catalog;

Result<std::optional<std::string>> silent_during_session(Services& s, const Computer& computer,
                                                         const EffectivePolicy& policy) {
  const auto& a = computer.agent;
  const auto now = s.now();
  if (a.last_seen_at == 0 || now - a.last_seen_at <= s.config.agent_offline_after_ms) return std::nullopt;
  // The server cannot tell the agent's local time, so a period policy counts
  // as recording; the open session or recording is the evidence.
  if (!policy.policy || policy.policy->recording.mode == RecordingMode::off) return std::nullopt;
  const bool session_open = a.session_json != "null" && !a.session_json.empty();
  RecordingFilter f;
  f.computer_id = computer.id;
  f.status = RecordingStatus::recording;
  auto open = s.catalog->count_recordings(f);
  if (!open) return std::unexpected(open.error());
  if (!session_open && *open == 0) return std::nullopt;
  std::string why = "no heartbeat since " + format_rfc3339(a.last_seen_at) + ", while policy \"" + policy.policy->name +
                    "\" records and ";
  why += session_open ? "a user session was open" : std::to_string(*open) + " recording(s) were open";
  why += ": this session may not be recorded";
  return std::optional<std::string>{std::move(why)};
}

Result<int> note_silent_agents(Services& s) {
  int audited = 0;
  for (;;) {
    auto silent = s.catalog->list_newly_silent(s.now() - s.config.agent_offline_after_ms, 100);
    if (!silent) return std::unexpected(silent.error());
    if (silent->empty()) return audited;
    for (const auto& quiet : *silent) {
      auto computer = s.catalog->get_computer(quiet.computer_id);
      if (!computer) {
        if (computer.error().code == Errc::not_found) continue;  // deleted meanwhile
        return std::unexpected(computer.error());
      }
      auto policy = s.catalog->effective_policy(computer->id);
      if (!policy) return std::unexpected(policy.error());
      auto why = silent_during_session(s, *computer, *policy);
      if (!why) return std::unexpected(why.error());
      // Noted first: a heartbeat arriving now makes this false, and then the
      // agent is back and there is nothing to report.
      auto noted = s.catalog->note_silence(computer->id, quiet.last_seen_at);
      if (!noted) return std::unexpected(noted.error());
      if (!*noted || !*why) continue;
      s.audit_as("system", "agent.silent", computer->id,
                 {{"last_heartbeat", format_rfc3339(quiet.last_seen_at)},
                  {"computer_name", computer->name},
                  {"policy_id", policy->policy->id},
                  {"detail", **why}});
      spdlog::warn("agent of computer {} silent since {} during a recorded session", computer->id,
                   format_rfc3339(quiet.last_seen_at));
      ++audited;
    }
  }
}

}  // namespace deskaudit::server
