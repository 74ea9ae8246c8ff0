// deskaudit-agent: records the user sessions of this cloud computer and
// uploads them to the deskaudit server. Thin CLI over deskaudit::agent.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#endif
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "agent/agent.hpp"
#include "agent/api.hpp"
#include "agent/control_socket.hpp"
#include "agent/desktop.hpp"
#include "agent/spool.hpp"
#include "agent/state.hpp"
#include "common/log.hpp"
#ifdef _WIN32
#include "agent/windows/agent_service.hpp"
#include "agent/windows/event_log.hpp"
#include "agent/windows/service.hpp"
#include "agent/windows/session_process.hpp"
#endif

namespace {

using namespace deskaudit;
using namespace deskaudit::agent;

#ifdef _WIN32
// Ctrl+C, Ctrl+Break, closing the console, logoff or shutdown: the handler
// runs on a thread of its own and only asks the agent to stop.
std::atomic<Agent*> g_running_agent{nullptr};

BOOL WINAPI on_console_event(DWORD event) {
  Agent* agent = g_running_agent.load();
  if (agent == nullptr) return FALSE;
  spdlog::info("console event {}: finishing the open recording and uploading", event);
  agent->request_stop();
  return TRUE;
}

int run_agent(AgentOptions options) {
  auto agent = Agent::create(std::move(options));
  if (!agent) {
    std::fprintf(stderr, "deskaudit-agent: %s\n", agent.error().message.c_str());
    return 1;
  }
  g_running_agent = agent->get();
  SetConsoleCtrlHandler(on_console_event, TRUE);
  const Status result = (*agent)->run();
  g_running_agent = nullptr;
  if (!result) {
    std::fprintf(stderr, "deskaudit-agent: %s\n", result.error().message.c_str());
    return 1;
  }
  return 0;
}
// The service's helper (agent/windows/supervisor.hpp) is asked to stop through
// an inherited event: once it is signalled, the agent is asked to stop (as soon
// as it exists).
std::jthread watch_stop_event(deskaudit::agent::windows::HandlePtr event) {
  return std::jthread([event = std::move(event)](std::stop_token stop) {
    while (!stop.stop_requested()) {
      if (WaitForSingleObject(event.get(), 200) != WAIT_OBJECT_0) continue;
      spdlog::info("the service asked this helper to stop: finishing the open recording and uploading");
      while (!stop.stop_requested()) {
        if (Agent* agent = g_running_agent.load(); agent != nullptr) {
          agent->request_stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}
#else
int run_agent(AgentOptions options) {
  // Signals are taken by sigtimedwait below, on this thread only: block them
  // before any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto agent = Agent::create(std::move(options));
  if (!agent) {
    std::fprintf(stderr, "deskaudit-agent: %s\n", agent.error().message.c_str());
    return 1;
  }
  std::atomic<bool> done{false};
  Status result;
  std::thread runner([&] {
    result = (*agent)->run();
    done = true;
  });
  const timespec tick{0, 200'000'000};
  bool stopping = false;
  while (!done) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      spdlog::info("signal {}: finishing the open recording and uploading", sig);
      (*agent)->request_stop();
      stopping = true;
    }
  }
  runner.join();
  if (!result) {
    std::fprintf(stderr, "deskaudit-agent: %s\n", result.error().message.c_str());
    return 1;
  }
  return 0;
}
#endif

int session_command(const std::filesystem::path& state_dir, const nlohmann::json& request) {
  auto reply = control_request(StatePaths(state_dir).socket(), request);
  if (!reply) {
    std::fprintf(stderr, "deskaudit-agent session: %s\n", reply.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", reply->dump().c_str());
  if (!reply->value("ok", false)) {
    std::fprintf(stderr, "deskaudit-agent session: %s\n", reply->value("error", std::string("refused")).c_str());
    return 1;
  }
  return 0;
}

// `deskaudit-agent spool list|retry|delete`: the recordings the server
// refused for good. Works on the files, with or without a running agent.
int spool_command(const std::filesystem::path& state_dir, const std::string& verb, const std::string& local_id) {
  Spool spool(StatePaths(state_dir).spool());
  if (verb == "list") {
    auto dirs = spool.set_aside_recordings();
    if (!dirs) {
      std::fprintf(stderr, "deskaudit-agent spool: %s\n", dirs.error().message.c_str());
      return 1;
    }
    if (dirs->empty()) std::printf("no recordings are set aside in %s\n", spool.set_aside_root().string().c_str());
    for (const auto& dir : *dirs) {
      std::error_code ec;
      std::uint64_t bytes = 0;
      for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code fec;
        if (it->is_regular_file(fec)) bytes += it->file_size(fec);
      }
      auto meta = spool.load(dir);
      if (!meta || !meta->set_aside) {
        std::printf("%s  (unreadable: %s)\n", dir.filename().string().c_str(),
                    meta ? "no set_aside" : meta.error().message.c_str());
        continue;
      }
      std::printf("%s  recording=%s user=%s start=%s bytes=%llu set_aside_at=%s http_status=%ld\n    %s\n",
                  meta->local_id.c_str(), meta->server_id.value_or("-").c_str(), meta->username.c_str(),
                  format_rfc3339(meta->start_time).c_str(), static_cast<unsigned long long>(bytes),
                  format_rfc3339(meta->set_aside->at).c_str(), meta->set_aside->http_status,
                  meta->set_aside->error.c_str());
    }
    return 0;
  }
  const Status st = verb == "retry" ? spool.retry_set_aside(local_id) : spool.delete_set_aside(local_id);
  if (!st) {
    std::fprintf(stderr, "deskaudit-agent spool %s: %s\n", verb.c_str(), st.error().message.c_str());
    return 1;
  }
  std::printf(verb == "retry" ? "%s is back in the upload queue\n" : "%s deleted\n", local_id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef _WIN32
  CLI::App app{"deskaudit-agent " + std::string(kAgentVersion) +
               ": records the signed-in user's desktop, as this computer's deskaudit policy says, and uploads it.\n"
               "As administrator: `deskaudit-agent install --server URL --enroll-token TOKEN` installs and starts "
               "the service; `deskaudit-agent uninstall` removes it (README-windows.txt)."};
  namespace win = deskaudit::agent::windows;
  // `install` takes the options of `run` (checked by run's parser below) and
  // gives them to the service's command line.
  std::vector<char*> args(argv, argv + argc);
  std::string run_word = "run";
  const bool installing = argc >= 2 && std::string_view(argv[1]) == "install";
  if (installing) args[1] = run_word.data();
  app.add_subcommand("install",
                     "Install and start the Windows service (administrator); takes the options of `run` "
                     "(`deskaudit-agent install --help` lists them).");
  auto* uninstall = app.add_subcommand("uninstall", "Stop and remove the Windows service (administrator); "
                                                     "the state directory and its unsent recordings are kept.");
#else
  CLI::App app{
      "deskaudit-agent " + std::string(kAgentVersion) +
      ": records the user sessions of this cloud computer, as its deskaudit policy says, and uploads them.\n"
      "Run `deskaudit-agent run` as a service; xrdp or PAM hooks call `deskaudit-agent session connect|disconnect`."};
#endif
  app.require_subcommand(1);

  AgentOptions options;
  std::string log_level = "info";
  std::string log_format = "text";
  double heartbeat_s = 15, shutdown_s = 30, retry_max_s = 30;
  std::uint64_t min_free_mib = 512;
  bool display_session = false;
  std::int64_t test_minute_ms = 60000;
  std::int64_t test_capture_delay_ms = 0;

  auto* run = app.add_subcommand("run", "Enroll (first time), then record and upload until SIGTERM.");
  run->add_option("--server", options.server_url,
                  "Server URL, e.g. https://audit.example.com (needed to enroll; later taken from the credential). "
                  "http:// is refused except to 127.0.0.0/8, ::1 and localhost unless --insecure-http.");
  run->add_flag("--insecure-http", options.insecure_http,
                "Allow a plain http:// server URL to another host: the agent token and the recordings then cross "
                "the network unencrypted. Checked at every start (also against the URL saved at enrollment).");
  run->add_option("--ca-file", options.ca_file,
                  "PEM file of the CA that signed the server's certificate (a private CA); default: the system's "
                  "CA bundle. Give it at every start.")
      ->check(CLI::ExistingFile);
  run->add_option("--enroll-token", options.enroll_token,
                  "Enrollment token from the console (POST /api/v1/enrollment-tokens); used once, when the state "
                  "directory holds no credential yet. Also read from DESKAUDIT_ENROLL_TOKEN.")
      ->envname("DESKAUDIT_ENROLL_TOKEN");
#ifdef _WIN32
  run->add_option("--state-dir", options.state_dir, "State directory: credential, policy cache, spool.")
      ->default_val(default_state_dir().string());
#else
  run->add_option("--state-dir", options.state_dir,
                  "State directory (created 0700): credential, policy cache, session socket, spool.")
      ->required();
#endif
#ifdef _WIN32
  // Windows: the desktop of the agent's session is the session (its control
  // pipe answers `session status`; connect/disconnect are refused).
  display_session = true;
  run->add_option("--display", options.display, "What to record: the desktop of this session.")
      ->default_val(default_display());
  run->add_option("--user", options.session_user,
                  "The user of the session (default: the user signed in to the agent's session).");
  run->add_option("--sound-device", options.sound_source,
                  "When the policy records audio: the sound device to record, by its name or id (a playback device "
                  "through its loopback, a recording device such as 'Stereo Mix' directly; default: the loopback of "
                  "the default playback device, followed when the default changes).");
#else
  run->add_option("--display", options.display, "X display to record.")->default_val(default_display());
  run->add_flag("--display-session", display_session,
                "The display's lifetime is the session: recording starts when it appears and ends when it goes away "
                "(no session connect/disconnect needed).");
  run->add_option("--user", options.session_user,
                  "With --display-session: the user of the session (default: owner of /tmp/.X11-unix/X<N>).");
  run->add_option("--pulse-server", options.sound_source,
                  "The session's audio server, when the policy records audio (libpulse server string; default: "
                  "$PULSE_SERVER, else the session user's /run/user/<uid>/pulse/native).");
#endif
  run->add_option("--heartbeat-seconds", heartbeat_s, "Seconds between heartbeats (policy changes show up then).")
      ->default_val(15)
      ->check(CLI::Range(0.2, 3600.0));
  run->add_option("--min-free-mib", min_free_mib, "Stop recording when the spool's file system has less free (MiB).")
      ->default_val(512)
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40));
  run->add_option("--min-free-percent", options.disk_floor.min_free_percent,
                  "... or less than this percentage free.")
      ->default_val(5.0)
      ->check(CLI::Range(0.0, 100.0));
  run->add_option("--shutdown-timeout", shutdown_s, "Seconds to finish uploading after SIGTERM before exiting.")
      ->default_val(30)
      ->check(CLI::Range(0.0, 3600.0));
  run->add_option("--retry-max-seconds", retry_max_s,
                  "Longest wait between upload retries (exponential backoff with jitter up to this).")
      ->default_val(30)
      ->check(CLI::Range(1.0, 3600.0));
  // A test hook, hidden from --help: the Xvfb integration test watches a
  // policy's post_event_minutes (10..60, validated as ever) run out in
  // seconds. Never needed in production.
  run->add_option("--test-post-event-minute-ms", test_minute_ms,
                  "(tests only) how long one minute of post_event_minutes lasts, in ms")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{60000}))
      ->group("");
  // A test hook, hidden from --help: opening the screen capture takes this
  // much longer (as DXGI's probe does under Wine), so the Xvfb integration
  // test sees that a recording's start is its first frame's time, not the
  // time the agent began to open the capture.
  run->add_option("--test-capture-open-delay-ms", test_capture_delay_ms,
                  "(tests only) a delay added to each opening of the screen capture, in ms")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{10000}))
      ->group("");
#ifdef _WIN32
  std::string stop_event;
  run->add_option("--stop-event", stop_event, "(the service's helper) the inherited event that asks it to stop")
      ->group("");
#endif
  run->add_option("--log-level", log_level, "trace, debug, info, warn, error.")->default_val("info");
  run->add_option("--log-format", log_format, "text or json.")->default_val("text")->check(CLI::IsMember({"text", "json"}));

  auto* session = app.add_subcommand("session", "Tell the running agent that a user session connected or ended.");
  session->require_subcommand(1);
  std::filesystem::path session_state_dir;
  std::string user;
  auto* connect = session->add_subcommand("connect", "A user connected: start recording if the policy says so.");
  connect
      ->add_option("--user", user,
                   "The user's name: 1 to 128 bytes of UTF-8, no control characters (what the server accepts).")
      ->required();
  connect->add_option("--state-dir", session_state_dir, "The running agent's --state-dir.")->required();
  auto* disconnect = session->add_subcommand("disconnect", "The user disconnected: finish the recording.");
  disconnect->add_option("--state-dir", session_state_dir, "The running agent's --state-dir.")->required();
  auto* status = session->add_subcommand("status", "Print the agent's session and recording state as JSON.");
  status->add_option("--state-dir", session_state_dir, "The running agent's --state-dir.")->required();

  auto* spool_cmd = app.add_subcommand(
      "spool",
      "Recordings the server refused for good (deleted on the server, refused as invalid, conflicting bytes): the "
      "agent sets them aside with their files under <state-dir>/spool/set-aside/ (they still take disk space and count "
      "toward the --min-free floor), reports them in its heartbeat, and uploads the others.");
  spool_cmd->require_subcommand(1);
  std::string spool_verb, local_id;
  for (const auto& [verb, help] :
       {std::pair{"list", "List set-aside recordings: local id, server recording, user, size, HTTP status, error."},
        std::pair{"retry",
                  "Put a set-aside recording back in the upload queue (one deleted on the server is "
                  "uploaded as a new recording)."},
        std::pair{"delete", "Delete a set-aside recording and its files for good."}}) {
    auto* cmd = spool_cmd->add_subcommand(verb, help);
    cmd->add_option("--state-dir", session_state_dir, "The agent's --state-dir.")->required();
    if (std::string_view(verb) != "list")
      cmd->add_option("local_id", local_id, "Local id, from `spool list`.")->required();
    cmd->callback([&spool_verb, verb] { spool_verb = verb; });
  }

#ifdef _WIN32
  CLI11_PARSE(app, static_cast<int>(args.size()), args.data());
  if (*uninstall) {
    if (auto st = win::uninstall_agent_service(); !st) {
      std::fprintf(stderr, "deskaudit-agent uninstall: %s\n", st.error().message.c_str());
      return st.error().code == Errc::not_found ? 3 : 1;
    }
    std::printf("stopped and removed the service %ls; %s is kept\n", win::kAgentServiceName,
                options.state_dir.string().c_str());
    return 0;
  }
#else
  CLI11_PARSE(app, argc, argv);
#endif

  if (*run) {
    try {
      init_logging("agent", log_level, log_format == "json" ? LogFormat::json : LogFormat::text);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deskaudit-agent: %s\n", e.what());
      return 2;
    }
    if (!display_session && !options.session_user.empty()) {
      std::fprintf(stderr, "deskaudit-agent: --user applies to --display-session only\n");
      return 2;
    }
#ifndef _WIN32
    if (options.sound_source.empty()) {
      if (const char* env = std::getenv("PULSE_SERVER"); env != nullptr) options.sound_source = env;
    }
#endif
    options.sessions = display_session ? SessionSource::display : SessionSource::socket;
    options.heartbeat_interval = std::chrono::milliseconds(static_cast<std::int64_t>(heartbeat_s * 1000));
    options.shutdown_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(shutdown_s * 1000));
    options.post_event_minute_for_tests = std::chrono::milliseconds(test_minute_ms);
    options.capture_open_delay_for_tests = std::chrono::milliseconds(test_capture_delay_ms);
    options.disk_floor.min_free_bytes = min_free_mib << 20;
    options.upload_backoff.max = std::chrono::milliseconds(static_cast<std::int64_t>(retry_max_s * 1000));
#ifdef _WIN32
    if (installing) {
      // The token stays out of the service's command line (readable by
      // everyone in the registry): install keeps it in the state directory.
      std::vector<std::string> run_args;
      for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--enroll-token") {
          ++i;
          continue;
        }
        if (a.starts_with("--enroll-token=")) continue;
        // The service reads its own copy of the CA file (install_agent_service).
        if (a == "--ca-file") {
          ++i;
          continue;
        }
        if (a.starts_with("--ca-file=")) continue;
        run_args.emplace_back(a);
      }
      if (auto st = win::install_agent_service({options.state_dir, run_args, options.enroll_token, options.ca_file});
          !st) {
        std::fprintf(stderr, "deskaudit-agent install: %s\n", st.error().message.c_str());
        return 1;
      }
      std::printf("installed and started the service %ls; state directory %s\n", win::kAgentServiceName,
                  options.state_dir.string().c_str());
      return 0;
    }
    // The service and its helper have no console: they also log to rotated
    // files in the (protected) state directory, where an administrator
    // finds them (docs/windows.md).
    const bool as_service = win::started_by_service_manager();
    if (as_service || !stop_event.empty()) {
      const auto file = options.state_dir / "logs" / (as_service ? "agent-service.log" : "agent-session.log");
      if (auto st = add_log_file(file, 5 << 20, 4); !st) spdlog::warn("{}", st.error().message);
      // And from info on to the Windows Event Log (source deskaudit-agent),
      // where administrators and their event forwarding look.
      if (auto sink = win::EventLogSink::open(spdlog::level::info)) {
        spdlog::default_logger()->sinks().push_back(std::move(*sink));
      } else {
        spdlog::warn("{}: logging to the files only", sink.error().message);
      }
    }
    if (as_service) {
      // The service: it runs this same command line as a helper in the
      // user's session (which then is no service) and supervises it.
      auto code = win::run_agent_service(std::vector<std::string>(argv + 1, argv + argc));
      if (!code) {
        spdlog::error("{}", code.error().message);
        return 1;
      }
      return *code;
    }
    // The token install left, until the agent has enrolled.
    if (std::filesystem::exists(StatePaths(options.state_dir).credential())) {
      std::error_code ec;
      std::filesystem::remove(win::enroll_token_file(options.state_dir), ec);
    } else if (options.enroll_token.empty()) {
      auto token = win::read_enroll_token(options.state_dir);
      if (!token) {
        std::fprintf(stderr, "deskaudit-agent: %s\n", token.error().message.c_str());
        return 1;
      }
      options.enroll_token = *token;
    }
    std::jthread stop_waiter;
    if (!stop_event.empty()) {
      auto event = win::stop_event_from_argument(stop_event);
      if (!event) {
        std::fprintf(stderr, "deskaudit-agent: %s\n", event.error().message.c_str());
        return 2;
      }
      stop_waiter = watch_stop_event(std::move(*event));
    }
#endif
    return run_agent(std::move(options));
  }
  if (*connect) return session_command(session_state_dir, {{"op", "connect"}, {"user", user}});
  if (*disconnect) return session_command(session_state_dir, {{"op", "disconnect"}});
  if (*status) return session_command(session_state_dir, {{"op", "status"}});
  if (*spool_cmd) return spool_command(session_state_dir, spool_verb, local_id);
  return 2;
}
