#pragma once
// The silent-agent watchdog: a computer whose policy records and which had a
// user session (or a recording) open when its heartbeats stopped may be
// recording nothing. Each such silence is written to the audit log once
// (agent.silent, with the last heartbeat's time) and shown by
// recording-status. Uses the Services clock; thread-safe like the catalog.
#include <optional>
#include <string>

#include "server/services.hpp"

namespace deskaudit::server {

// Why the computer should be recording while it is silent, or nullopt when
// it is reporting, never reported, its policy records nothing, or it had no
// session and no open recording at its last heartbeat.
Result<std::optional<std::string>> silent_during_session(Services& s, const catalog::Computer& computer,
                                                         const catalog::EffectivePolicy& policy);

// One pass over computers whose silence is not noted yet (run under the
// sweeper's lease, so by one replica at a time): audits agent.silent for
// those silent during a session and notes every silence seen. Returns how
// many it audited.
Result<int> note_silent_agents(Services& s);

}  // namespace deskaudit::server
