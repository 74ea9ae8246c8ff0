#pragma once
// `deskaudit-agent.exe install|uninstall` and the service side of `run` (when
// the service control manager started it): the agent's service, built from
// the pieces of this folder. The recording itself is the agent's foreground
// `run`, started by the service as a helper in the user's session.
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::agent::windows {

inline constexpr wchar_t kAgentServiceName[] = L"deskaudit-agent";

struct AgentInstall {
  std::filesystem::path state_dir;         // the protected directory (default %ProgramData%\deskaudit)
  std::vector<std::string> run_arguments;  // the service's `run` options (never the enrollment token)
  std::string enroll_token;                // kept in the state directory until enrollment; may be empty
  std::filesystem::path ca_file;           // --ca-file: copied into the state directory (ca_copy_file); may be empty
};

// Creates the state directory with the protected DACL, writes the enrollment
// token into it (enroll_token_file), copies the CA file into it (checked
// first: a PEM file of certificates; the service then reads the copy, which
// only SYSTEM and Administrators can change, not a file a user could swap)
// and adds `--ca-file <the copy>` to the run arguments, registers the Event Log source
// (event_log.hpp) with this exe as its message file, installs the service
// with the command line `"<this exe>" run <run_arguments>` and starts it.
Status install_agent_service(const AgentInstall& install);

// Stops (the helper finishes its recording first) and deletes the service,
// then the Event Log source's registration; the state directory (and the
// log's entries) are kept.
Status uninstall_agent_service();

// The service: runs under the SCM until stopped, supervising the helper
// `"<this exe>" <helper_arguments> --stop-event <handle>` in the user's
// session (SessionSupervisor). Returns the service's exit code.
Result<int> run_agent_service(const std::vector<std::string>& helper_arguments);

// Where install keeps the CA file of --ca-file.
std::filesystem::path ca_copy_file(const std::filesystem::path& state_dir);

// Where install leaves the enrollment token for the first `run`.
std::filesystem::path enroll_token_file(const std::filesystem::path& state_dir);
// The token from that file (empty when there is none).
Result<std::string> read_enroll_token(const std::filesystem::path& state_dir);

// One argument quoted for a Windows command line (CommandLineToArgvW rules).
std::wstring quote_argument(std::wstring_view argument);

}  // namespace deskaudit::agent::windows
