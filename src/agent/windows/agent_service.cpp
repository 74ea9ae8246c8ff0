#include "agent/windows/agent_service.hpp"

#include <windows.h>

#include <spdlog/spdlog.h>

#include "agent/windows/event_log.hpp"
#include "agent/windows/protected_dir.hpp"
#include "agent/windows/service.hpp"
#include "agent/windows/supervisor.hpp"
#include "agent/windows/win_util.hpp"
#include "client/ca_trust_windows.hpp"
#include "common/fs.hpp"

namespace deskaudit::agent::windows {
namespace {

std::wstring join_arguments(const std::vector<std::string>& arguments) {
  std::wstring out;
  for (const auto& a : arguments) {
    if (!out.empty()) out += L' ';
    out += quote_argument(widen(a));
  }
  return out;
}

Result<std::wstring> own_exe() {
  auto command = own_command_line(L"");
  if (!command) return std::unexpected(command.error());
  return command->substr(1, command->size() - 2);  // without the quotes
}

}  // namespace

std::wstring quote_argument(std::wstring_view argument) {
  if (!argument.empty() && argument.find_first_of(L" \t\n\v\"") == std::wstring_view::npos)
    return std::wstring(argument);
  std::wstring out = L"\"";
  std::size_t backslashes = 0;
  for (const wchar_t c : argument) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    // Backslashes before a quote are doubled, the quote escaped.
    out.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
    backslashes = 0;
    out += c;
  }
  // Before the closing quote, backslashes are doubled.
  out.append(backslashes * 2, L'\\');
  out += L'"';
  return out;
}

std::filesystem::path enroll_token_file(const std::filesystem::path& state_dir) { return state_dir / "enroll-token"; }

std::filesystem::path ca_copy_file(const std::filesystem::path& state_dir) { return state_dir / "server-ca.pem"; }

Result<std::string> read_enroll_token(const std::filesystem::path& state_dir) {
  auto text = read_file(enroll_token_file(state_dir), 64 * 1024);
  if (!text) {
    if (text.error().code == Errc::not_found) return std::string();
    return std::unexpected(text.error());
  }
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r' || text->back() == ' ')) text->pop_back();
  return *text;
}

Status install_agent_service(const AgentInstall& install) {
  // Checked before anything is written or installed.
  std::string pem;  // the file's bytes, copied below
  if (!install.ca_file.empty()) {
    if (auto store = client::load_ca_file(install.ca_file, &pem); !store) {
      return fail(store.error().code, "--ca-file: " + store.error().message, "ca-file");
    }
  }
  if (auto st = ensure_protected_dir(install.state_dir); !st) return st;
  if (!install.enroll_token.empty()) {
    // Inside the protected directory: inherits its DACL.
    if (auto st = write_file_atomic(enroll_token_file(install.state_dir), install.enroll_token); !st) return st;
  }
  std::vector<std::string> run_arguments = install.run_arguments;
  if (!install.ca_file.empty()) {
    const auto copy = ca_copy_file(install.state_dir);
    if (auto st = write_file_atomic(copy, pem); !st) return st;
    run_arguments.insert(run_arguments.end(), {"--ca-file", copy.string()});
  }
  auto command =
      own_command_line(L"run" + std::wstring(run_arguments.empty() ? L"" : L" ") + join_arguments(run_arguments));
  if (!command) return std::unexpected(command.error());
  auto exe = own_exe();
  if (!exe) return std::unexpected(exe.error());
  // Before the service starts: its first lines go to the Event Log.
  if (auto st = register_event_source(*exe); !st) return st;
  ServiceConfig config{kAgentServiceName, L"deskaudit agent",
                       L"Records the signed-in user's desktop and uploads the recordings to the deskaudit server.",
                       *command};
  if (auto st = install_service(config); !st) return st;
  return start_service(kAgentServiceName);
}

Status uninstall_agent_service() {
  // Long enough for the helper to finish its recording (SupervisorOptions::stop_timeout).
  auto st = uninstall_service(kAgentServiceName, std::chrono::seconds(90));
  // Also when the service was gone already. The entries stay in the log;
  // Event Viewer shows them without the message file as "the description ...
  // cannot be found" plus the line.
  auto unregistered = unregister_event_source();
  return st ? unregistered : st;
}

Result<int> run_agent_service(const std::vector<std::string>& helper_arguments) {
  auto exe = own_exe();
  if (!exe) return std::unexpected(exe.error());
  SupervisorOptions options;
  options.helper_exe = *exe;
  options.helper_arguments = join_arguments(helper_arguments);
  SessionSupervisor supervisor(options, enumerate_sessions);
  ServiceCallbacks callbacks;
  callbacks.run = [&](std::stop_token stop) {
    spdlog::info("deskaudit-agent service running; helper: {} {}", narrow(options.helper_exe),
                 narrow(options.helper_arguments));
    supervisor.run(stop);
    return 0;
  };
  callbacks.on_session_change = [&](const SessionEvent& e) { supervisor.post(e); };
  return run_as_service(kAgentServiceName, std::move(callbacks));
}

}  // namespace deskaudit::agent::windows
