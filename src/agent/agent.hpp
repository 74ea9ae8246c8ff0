#pragma once
// The agent runtime: enrolls, keeps the policy current, follows user
// sessions, runs one Recorder per recording and hands closed segments to the
// Uploader.
//
// Threads: run() is the control loop (the only owner of the Recorder); a sync
// thread sends heartbeats and fetches the policy; the Uploader and the
// ControlServer run their own. Shared state lives behind one mutex.
// request_stop() may be called from any thread (e.g. a signal-waiting one).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/backoff.hpp"
#include "agent/control_socket.hpp"
#include "agent/desktop.hpp"
#include "agent/policy.hpp"
#include "agent/spool.hpp"
#include "agent/state.hpp"
#include "agent/triggers.hpp"
#include "agent/uploader.hpp"
#include "common/time.hpp"
#include "activity/collector.hpp"
#include "record/recorder.hpp"

namespace deskaudit::agent {

enum class SessionSource {
  socket,   // sessions come from `deskaudit-agent session connect|disconnect`
  display,  // the display's lifetime is the session (--display-session)
};

struct AgentOptions {
  std::string server_url;    // may be empty once enrolled (taken from the credential)
  bool insecure_http = false;     // allow http:// to a non-loopback server
  std::filesystem::path ca_file;  // private CA for an https server (empty: the system's)
  std::string enroll_token;  // secret; needed only before the first enrollment
  std::filesystem::path state_dir;
  std::string display = ":0";
  SessionSource sessions = SessionSource::socket;
  std::string session_user;  // display sessions: the user; empty = the display socket's owner
  // Where the session's sound comes from when the policy records audio
  // (capture::session_sound_options). Linux: the libpulse server string
  // (--pulse-server; empty: $PULSE_SERVER, else the session user's
  // /run/user/<uid>/pulse/native). Windows: the sound device's name or id
  // (--sound-device; empty: the default playback device's loopback).
  std::string sound_source;
  std::chrono::milliseconds heartbeat_interval{15000};
  DiskFloor disk_floor;
  std::chrono::milliseconds shutdown_timeout{30000};  // to finish uploading on SIGTERM
  BackoffOptions upload_backoff;
  // Event-triggered recording: how long a policy's "minute" of
  // post_event_minutes lasts. One minute outside tests: only the Xvfb
  // integration test sets it shorter (the hidden --test-post-event-minute-ms
  // of deskaudit-agent run), so a post-event span of the policy's 10..60
  // can be watched to its end; the policy's own range is checked as ever.
  std::chrono::milliseconds post_event_minute_for_tests{60000};
  // Added to each opening of the screen capture: only the Xvfb integration
  // test sets it (the hidden --test-capture-open-delay-ms).
  std::chrono::milliseconds capture_open_delay_for_tests{0};
};

class Agent {
 public:
  // Checks the options and prepares the state directory; no network yet.
  static Result<std::unique_ptr<Agent>> create(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Enrolls if needed (retrying while the server is unreachable), recovers
  // the spool, then records and uploads until request_stop(); on the way out
  // finishes the open recording and uploads within shutdown_timeout.
  Status run();
  void request_stop();

 private:
  explicit Agent(AgentOptions options);

  Status enroll_if_needed();
  void recover_spool();
  void sync_loop();
  void control_tick();
  nlohmann::json handle_control(const nlohmann::json& request);
  nlohmann::json heartbeat_body();
  // recording-status's "audio": {"enabled","recording","source","error"}. mu_ held.
  void report_error(const Error& error);
  client::HttpClientOptions http_options() const;

  struct RecorderParams {
    int fps = 0;
    std::int64_t segment_max_bytes = 0;
    std::int64_t segment_max_ms = 0;
    bool audio = false;
    bool events = false;            // mode "events": armed until a trigger
    std::int64_t pre_event_ms = 0;  // events mode: the pre-event ring's span
    bool operator==(const RecorderParams&) const = default;
  };
  static RecorderParams params_of(const Policy& policy);
  void start_recording(const UserSession& session, const Policy& policy, std::uint64_t generation);
  // armed: the recorder starts with its pre-event ring (params.pre_event_ms)
  // and writes nothing until commit_recording().
  Result<std::unique_ptr<record::Recorder>> start_recorder(const RecorderParams& params, std::int64_t first_seq,
                                                           std::int64_t start_offset_ms, bool armed = false);
  // Starts the activity collector of a session (a failure costs the events,
  // not the recording).
  void start_collector(const UserSession& session, const Policy& policy, std::uint64_t generation);
  // Events mode: the collector and an armed recorder run, nothing is written.
  void arm(const UserSession& session, const Policy& policy, std::uint64_t generation);
  // Events mode, each look: starts the recording when a trigger is on (the
  // ring first), ends it post_event_minutes after the last one went off.
  void events_tick(const UserSession& session, const Policy& policy);
  void commit_recording(const UserSession& session, const Policy& policy, const std::string& why);
  // Stops an armed recorder (nothing was recorded).
  void disarm();
  // session_ended: the user session disconnected (a session.disconnect event).
  void end_recording(FinishStatus status, bool session_ended = false);
  // Writes the activity events up to end_ms (all: nullopt) as the events
  // document of segment seq (recorder thread or control loop).
  void write_events(const std::filesystem::path& dir, const record::Recorder& recorder, std::int64_t seq,
                    std::int64_t start_ms, std::optional<std::int64_t> end_ms);
  void mark_interrupted(const std::filesystem::path& dir);
  void close_open_segment(const std::filesystem::path& dir);
  void restart_recorder(const RecorderParams& params);
  void watch_display();

  AgentOptions options_;
  StatePaths paths_;
  Credential credential_;
  std::unique_ptr<keys::KeyService> signing_key_;  // signs segment uploads (docs/evidence.md)
  Spool spool_;
  SystemClock clock_;
  int display_number_ = 0;

  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<ControlServer> control_;
  std::thread sync_thread_;

  // Shared state.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool dirty_ = false;       // control loop: look now
  bool sync_wake_ = false;   // sync loop: send a heartbeat now
  std::optional<UserSession> session_;
  std::uint64_t session_generation_ = 0;  // bumps on every connect/disconnect
  PolicyState policy_;
  bool policy_known_ = false;
  std::string last_error_;
  std::optional<record::CaptureInfo> active_capture_;
  std::optional<record::AudioState> active_audio_;  // set while recording with audio
  std::string active_username_;
  std::optional<std::filesystem::path> active_dir_shared_;

  // Control-loop state (run()'s thread only).
  std::unique_ptr<record::Recorder> recorder_;
  // Activity events of the open recording; outlives each Recorder of it.
  std::unique_ptr<activity::Collector> collector_;
  std::uint64_t connect_event_generation_ = 0;  // the session generation a session.connect was written for
  std::filesystem::path active_dir_;
  std::uint64_t active_generation_ = 0;
  RecorderParams active_params_;
  std::optional<TriggerWindow> trigger_window_;  // events mode, while armed or recording
  std::chrono::steady_clock::time_point retry_start_at_{};
  Backoff start_backoff_{BackoffOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(60000), 2.0}};
  bool disk_low_reported_ = false;
  NoticeShower notices_;
};

// The audio of a recording as `session status` and the heartbeat report it:
// {"enabled" (the recording has an audio track), "recording", "source",
// "error" (why there is no sound)}; source cut to 256 bytes, error to 512
// (UTF-8 boundaries), so a session report stays far below the server's 4 KiB.
nlohmann::json audio_report(const std::optional<record::AudioState>& audio);
// The heartbeat's "session": null without a user session, else
// {"username", "recording_id" (null until the server knows the recording),
// "started_at", "audio": audio_report(audio)}.
nlohmann::json session_report(const std::optional<UserSession>& session, const nlohmann::json& recording_id,
                              const std::optional<record::AudioState>& audio);

// Adds "set_aside_count" and "set_aside" (the newest few set-aside
// recordings: ids, user, HTTP status, error) to a heartbeat body.
void add_set_aside_report(const Spool& spool, nlohmann::json& body);

}  // namespace deskaudit::agent
