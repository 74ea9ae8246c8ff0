#pragma once
// The agent's state directory (0700) and the small files in it, each 0600
// and written atomically:
//   credential.json  server URL, computer id, agent token (a secret)
//   policy.json      the last effective policy fetched (to record offline)
//   session.json     the user session in progress (survives an agent restart)
//   agent.sock       the session control socket (see control_socket.hpp)
//   spool/           recordings waiting for upload (see spool.hpp)
//   signing.key      the agent's Ed25519 signing key (0600; a secret), made at
//                    enrollment, replaced at re-enrollment (docs/evidence.md)
//   signing-keys     the public keys this agent has used (0644, keys::Keyring)
#include <filesystem>
#include <optional>
#include <string>

#include "agent/policy.hpp"
#include "common/error.hpp"
#include "common/time.hpp"

namespace deskaudit::agent {

struct StatePaths {
  explicit StatePaths(std::filesystem::path root) : dir(std::move(root)) {}
  std::filesystem::path dir;
  std::filesystem::path credential() const { return dir / "credential.json"; }
  std::filesystem::path policy() const { return dir / "policy.json"; }
  std::filesystem::path session() const { return dir / "session.json"; }
  std::filesystem::path socket() const { return dir / "agent.sock"; }
  std::filesystem::path spool() const { return dir / "spool"; }
  std::filesystem::path signing_key() const { return dir / "signing.key"; }
  std::filesystem::path signing_keyring() const { return dir / "signing-keys"; }
};

// Holds the agent token: never log it.
struct Credential {
  std::string server_url;
  std::string computer_id;
  std::string agent_token;
};

// Absent file = not enrolled yet (nullopt); unreadable or malformed = error.
Result<std::optional<Credential>> load_credential(const StatePaths& paths);
Status save_credential(const StatePaths& paths, const Credential& credential);

Result<std::optional<PolicyState>> load_policy_cache(const StatePaths& paths);
Status save_policy_cache(const StatePaths& paths, const PolicyState& state);

struct UserSession {
  std::string username;
  EpochMs started_at = 0;
};

Result<std::optional<UserSession>> load_session(const StatePaths& paths);
// nullopt removes the file.
Status save_session(const StatePaths& paths, const std::optional<UserSession>& session);

// A user name as xrdp/PAM hand it over, checked as the server checks it
// (POST /api/v1/agent/recordings): 1..kMaxUserNameBytes (128) bytes of valid
// UTF-8, no control characters. Names given to the agent are refused.
Status validate_username(std::string_view name);
// A name the agent did not choose (the display's owner, a recording an older
// agent spooled) made acceptable: cut to kMaxUserNameBytes on a character
// boundary, invalid bytes as U+FFFD, control characters as '?'; never empty.
// For a valid name, the name itself.
std::string usable_username(std::string_view name);

}  // namespace deskaudit::agent
