#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include "agent/api.hpp"
#include "common/fs.hpp"
#include "common/http_status.hpp"
#include "common/text.hpp"
#include "record/pipeline.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// The most set-aside recordings one heartbeat lists (the count is always
// exact), and how much of each one's error it carries.
constexpr std::size_t kMaxSetAsideReported = 20;
constexpr std::size_t kMaxSetAsideErrorBytes = 512;
constexpr std::size_t kMaxAudioSourceBytes = 256;
constexpr std::size_t kMaxAudioErrorBytes = 512;
// With the capture error (up to kMaxMessageBytes) the capture report stays
// under the server's 4 KiB per report.
constexpr std::size_t kMaxFallbackReasonBytes = 512;

json session_json(const std::optional<UserSession>& s) {
  if (!s) return nullptr;
  return {{"username", s->username}, {"started_at", format_rfc3339(s->started_at)}};
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)), paths_(options_.state_dir), spool_(paths_.spool()) {}

Agent::~Agent() {
  request_stop();
  if (sync_thread_.joinable()) sync_thread_.join();
}

Result<std::unique_ptr<Agent>> Agent::create(AgentOptions options) {
  if (options.state_dir.empty()) return fail(Errc::invalid_argument, "--state-dir is required", "state-dir");
  auto display = display_number(options.display);
  if (!display) return std::unexpected(display.error());
  if (!options.server_url.empty()) {
    auto url = normalize_server_url(options.server_url);
    if (!url) return std::unexpected(url.error());
    options.server_url = *url;
  }
  if (!options.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(options.ca_file, ec)) {
      return fail(Errc::invalid_argument, "--ca-file " + options.ca_file.string() + " is not a readable file",
                  "ca-file");
    }
    options.ca_file = std::filesystem::absolute(options.ca_file);
  }
  if (!options.session_user.empty()) {
    if (auto st = validate_username(options.session_user); !st) return std::unexpected(st.error());
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  agent->display_number_ = *display;
  if (auto st = ensure_private_dir(agent->paths_.dir, 0700); !st) return std::unexpected(st.error());
  if (auto st = agent->spool_.init(); !st) return std::unexpected(st.error());
  auto cred = load_credential(agent->paths_);
  if (!cred) return std::unexpected(cred.error());
  if (*cred) {
    agent->credential_ = **cred;
    // A server that moved: the flag wins over the stored URL.
    if (!agent->options_.server_url.empty()) agent->credential_.server_url = agent->options_.server_url;
  } else if (agent->options_.server_url.empty() || agent->options_.enroll_token.empty()) {
    return fail(Errc::invalid_argument,
                "this agent is not enrolled yet (no " + agent->paths_.credential().string() +
                    "): pass --server URL and --enroll-token TOKEN");
  }
  // Also the URL an older agent stored at enrollment: checked at every start.
  const std::string& url =
      agent->credential_.server_url.empty() ? agent->options_.server_url : agent->credential_.server_url;
  if (auto st = client::check_transport(url, agent->options_.insecure_http, "--insecure-http"); !st) {
    return std::unexpected(st.error());
  }
  if (auto cached = load_policy_cache(agent->paths_); cached && *cached) {
    agent->policy_ = **cached;
    agent->policy_known_ = true;
  } else if (!cached) {
    spdlog::warn("ignoring the policy cache: {}", cached.error().message);
  }
  if (agent->options_.sessions == SessionSource::socket) {
    if (auto s = load_session(agent->paths_); s && *s) {
      agent->session_ = **s;
      agent->session_generation_ = 1;
      spdlog::info("resuming the session of user={} started_at={}", (*s)->username, format_rfc3339((*s)->started_at));
    } else if (!s) {
      spdlog::warn("ignoring the saved session: {}", s.error().message);
    }
  }
  return agent;
}

void Agent::request_stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Agent::report_error(const Error& error) {
  std::string message = error.message;
  if (error.field == client::kTlsVerifyField) {
    message += options_.ca_file.empty() ? "; if the server's certificate comes from a private CA, pass --ca-file FILE"
                                        : "; is it signed by the CA in --ca-file " + options_.ca_file.string() + "?";
  }
  spdlog::warn("{}", message);
  std::lock_guard lock(mu_);
  last_error_ = utf8_truncate(message, kMaxMessageBytes);
}

client::HttpClientOptions Agent::http_options() const { return client::HttpClientOptions{options_.ca_file}; }

Status Agent::enroll_if_needed() {
  const bool enrolled = !credential_.agent_token.empty();
  std::error_code ec;
  const bool had_key = std::filesystem::exists(paths_.signing_key(), ec);
  // Made on first use (also for agents enrolled before signing existed: the
  // uploader registers it); a new enrollment gets a new key pair, so a
  // re-enrolled computer never signs with a key an old install left behind.
  auto key = keys::KeyService::open({paths_.signing_key(), paths_.signing_keyring(), ""});
  if (!key) return std::unexpected(with_context(key.error(), "opening the agent's signing key"));
  signing_key_ = std::move(*key);
  if (enrolled) return {};
  if (had_key) {
    auto rotated = signing_key_->rotate();
    if (!rotated) return std::unexpected(with_context(rotated.error(), "replacing the agent's signing key"));
    spdlog::info("new signing key for the new enrollment key_id={}", rotated->key_id);
  }
  AgentApi api(options_.server_url, "", http_options());
  Backoff backoff;
  for (;;) {
    auto e = api.enroll(options_.enroll_token, host_name(), os_name(), signing_key_->current().base64());
    // A certificate that does not verify will not verify on the next try.
    if (!e && e.error().field == client::kTlsVerifyField) {
      report_error(e.error());
      return std::unexpected(with_context(e.error(), "enrollment failed"));
    }
    if (e) {
      credential_ = Credential{options_.server_url, e->computer_id, e->agent_token};
      if (auto st = save_credential(paths_, credential_); !st) return st;
      spdlog::info("enrolled computer_id={} server={}", e->computer_id, options_.server_url);
      return {};
    }
    if (!is_transient(e.error().code)) return std::unexpected(with_context(e.error(), "enrollment failed"));
    const auto delay = backoff.next();
    spdlog::warn("enrollment: {}; retrying in {} ms", e.error().message, delay.count());
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, delay, [&] { return stop_; })) return fail(Errc::unavailable, "stopped before enrolling");
  }
}

void Agent::recover_spool() {
  auto dirs = spool_.recordings();
  if (!dirs) {
    report_error(dirs.error());
    return;
  }
  for (const auto& dir : *dirs) {
    auto r = spool_.recover(dir);
    if (!r) {
      report_error(with_context(r.error(), "recovering " + dir.string()));
      continue;
    }
    if (r->marked_interrupted || r->parts_recovered || r->parts_dropped) {
      spdlog::info("recovered recording dir={} parts_recovered={} parts_dropped={} torn_bytes_cut={}",
                   dir.filename().string(), r->parts_recovered, r->parts_dropped, r->bytes_cut);
    }
  }
}

Status Agent::run() {
  if (auto st = enroll_if_needed(); !st) return st;
  recover_spool();
  UploaderOptions upload_options{credential_.server_url, credential_.agent_token, http_options(),
                                 options_.upload_backoff};
  upload_options.signing_key = signing_key_.get();
  upload_options.computer_id = credential_.computer_id;
  uploader_ = std::make_unique<Uploader>(
      spool_, std::move(upload_options),
      [this](const Error& e) { report_error(e); });
  uploader_->start();
  auto control = ControlServer::start(paths_.socket(), [this](const json& req) { return handle_control(req); });
  if (!control) {
    uploader_->stop();
    return std::unexpected(control.error());
  }
  control_ = std::move(*control);
  sync_thread_ = std::thread([this] { sync_loop(); });
  spdlog::info("agent running computer_id={} display={} state_dir={}", credential_.computer_id, options_.display,
               paths_.dir.string());

  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, 1s, [&] { return stop_ || dirty_; });
      dirty_ = false;
    }
    control_tick();
    std::lock_guard lock(mu_);
    if (stop_ && !recorder_) break;
  }

  // Shutting down: no new sessions, upload what we have within the bound.
  control_.reset();
  const auto deadline = SteadyClock::now() + options_.shutdown_timeout;
  const bool drained = uploader_->drain(deadline);
  uploader_->stop();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (!drained) {
    spdlog::warn("stopping with recordings still in the spool ({} bytes); they upload at the next start",
                 spool_.bytes());
  }
  spdlog::info("agent stopped");
  return {};
}

void Agent::sync_loop() {
  AgentApi api(credential_.server_url, credential_.agent_token, http_options());
  std::string etag;
  {
    std::lock_guard lock(mu_);
    if (policy_known_) etag = policy_.etag;
  }
  bool fetch = true;  // at start-up always fetch: the cache may be stale
  bool refetched = false;
  for (;;) {
    if (fetch) {
      if (auto p = api.policy()) {
        if (auto st = save_policy_cache(paths_, *p); !st) report_error(st.error());
        {
          std::lock_guard lock(mu_);
          policy_ = *p;
          policy_known_ = true;
          dirty_ = true;
        }
        cv_.notify_all();
        spdlog::info("policy in force id={} source={} etag={} mode={}", p->policy ? p->policy->id : "none",
                     p->source, p->etag,
                     p->policy ? policy::to_string(p->policy->recording.mode) : "none");
        etag = p->etag;
        fetch = false;
      } else {
        report_error(p.error());
      }
    }
    const json body = heartbeat_body();
    if (auto reply = api.heartbeat(body)) {
      if (*reply != etag) {
        fetch = true;
        // The etag moved: fetch at once, but only once in a row, so an etag
        // that never matches costs one fetch per heartbeat, not a busy loop.
        if (!refetched) {
          refetched = true;
          continue;
        }
      }
    } else if (!is_transient(reply.error().code)) {
      report_error(reply.error());
    } else {
      spdlog::debug("heartbeat: {}", reply.error().message);
    }
    refetched = false;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.heartbeat_interval, [&] { return stop_ || sync_wake_; });
    sync_wake_ = false;
    if (stop_) return;
  }
}

json audio_report(const std::optional<record::AudioState>& audio) {
  if (!audio) return {{"enabled", false}, {"recording", false}, {"source", nullptr}, {"error", nullptr}};
  return {{"enabled", true},
          {"recording", audio->recording},
          {"source", audio->source.empty() ? json(nullptr) : json(utf8_truncate(audio->source, kMaxAudioSourceBytes))},
          {"error", audio->error.empty() ? json(nullptr) : json(utf8_truncate(audio->error, kMaxAudioErrorBytes))}};
}

json session_report(const std::optional<UserSession>& session, const json& recording_id,
                    const std::optional<record::AudioState>& audio) {
  if (!session) return nullptr;
  return {{"username", session->username},
          {"recording_id", recording_id},
          {"started_at", format_rfc3339(session->started_at)},
          {"audio", audio_report(audio)}};
}

json Agent::heartbeat_body() {
  std::optional<record::CaptureInfo> capture;
  std::optional<std::filesystem::path> dir;
  std::optional<UserSession> session;
  std::optional<record::AudioState> audio;
  std::string last_error;
  {
    std::lock_guard lock(mu_);
    capture = active_capture_;
    audio = active_audio_;
    dir = active_dir_shared_;
    session = session_;
    last_error = last_error_;
  }
  if (!capture) capture = record::probe_capture(options_.display);
  json recording_id = nullptr;
  if (session && dir) {
    if (auto meta = spool_.load(*dir); meta && meta->server_id) recording_id = *meta->server_id;
  }
  const json session_doc = session_report(session, recording_id, audio);
  json body = {{"agent_version", kAgentVersion},
               {"capture",
                {{"backend", capture->backend},
                 {"width", capture->width},
                 {"height", capture->height},
                 {"ok", capture->ok},
                 {"error", utf8_truncate(capture->error, kMaxMessageBytes)},
                 {"fallback_reason", capture->fallback_reason.empty()
                                         ? json(nullptr)
                                         : json(utf8_truncate(capture->fallback_reason, kMaxFallbackReasonBytes))}}},
               {"spool_bytes", spool_.bytes()},
               {"last_error", last_error.empty() ? json(nullptr) : json(utf8_truncate(last_error, kMaxMessageBytes))},
               {"session", session_doc}};
  add_set_aside_report(spool_, body);
  return body;
}

void add_set_aside_report(const Spool& spool, json& body) {
  auto dirs = spool.set_aside_recordings();
  if (!dirs) return;
  json items = json::array();
  // Newest first: the latest refusals matter most when the list is cut.
  for (auto it = dirs->rbegin(); it != dirs->rend() && items.size() < kMaxSetAsideReported; ++it) {
    auto meta = spool.load(*it);
    if (!meta || !meta->set_aside) continue;
    items.push_back({{"local_id", meta->local_id},
                     {"recording_id", meta->server_id ? json(*meta->server_id) : json(nullptr)},
                     {"username", meta->username},
                     {"start_time", format_rfc3339(meta->start_time)},
                     {"http_status", meta->set_aside->http_status},
                     {"error", utf8_truncate(meta->set_aside->error, kMaxSetAsideErrorBytes)},
                     {"set_aside_at", format_rfc3339(meta->set_aside->at)}});
  }
  body["set_aside_count"] = dirs->size();
  body["set_aside"] = std::move(items);
}

json Agent::handle_control(const json& req) {
  const std::string op = req.at("op").get<std::string>();
  std::unique_lock lock(mu_);
  if (op != "status" && options_.sessions == SessionSource::display) {
    return {{"ok", false},
            {"error",
             "this agent follows its display's session (--display-session; always so on Windows): the "
             "display's lifetime is the session, so connect/disconnect are not accepted"}};
  }
  // true: the session is (or is about to be) recorded; "armed": events mode
  // with no recording open, so nothing is recorded until a trigger matches
  // (the pre-event ring is memory only); any other string: why not.
  const auto will_record = [&]() -> json {
    if (!policy_known_) return "no policy fetched yet";
    if (!policy_.policy) return "no policy is assigned to this computer";
    if (!policy_records_at(*policy_.policy, local_minute_of_day(clock_.now_ms()))) {
      return policy_.policy->recording.mode == RecordingMode::off ? "the policy turns recording off"
                                                        : "outside the policy's time window";
    }
    if (policy_.policy->recording.mode == RecordingMode::events && !active_dir_shared_) return "armed";
    return true;
  };
  json reply = {{"ok", true}};
  if (op == "connect") {
    const std::string user = req.at("user").get<std::string>();
    if (!session_ || session_->username != user) {
      session_ = UserSession{user, clock_.now_ms()};
      ++session_generation_;
      if (auto st = save_session(paths_, session_); !st) {
        lock.unlock();
        report_error(st.error());
        lock.lock();
      }
      spdlog::info("session connected user={}", user);
    }
    reply["will_record"] = will_record();
  } else if (op == "disconnect") {
    if (session_) {
      spdlog::info("session disconnected user={}", session_->username);
      session_.reset();
      ++session_generation_;
      if (auto st = save_session(paths_, std::nullopt); !st) {
        lock.unlock();
        report_error(st.error());
        lock.lock();
      }
    } else {
      reply["note"] = "no session was open";
    }
  } else {
    reply["recording"] = active_dir_shared_.has_value();
    reply["will_record"] = will_record();
    reply["last_error"] = last_error_.empty() ? json(nullptr) : json(last_error_);
    reply["audio"] = audio_report(active_audio_);
  }
  reply["session"] = session_json(session_);
  dirty_ = true;
  sync_wake_ = true;
  lock.unlock();
  cv_.notify_all();
  return reply;
}

Agent::RecorderParams Agent::params_of(const Policy& p) {
  const auto& r = p.recording;
  const bool events = r.mode == RecordingMode::events;
  return RecorderParams{r.fps, r.segment_max_bytes, std::int64_t{r.segment_max_minutes} * 60 * 1000, r.audio, events,
                        events ? std::int64_t{r.pre_event_seconds} * 1000 : 0};
}

void Agent::watch_display() {
  const bool present = display_present(display_number_);
  std::lock_guard lock(mu_);
  if (present && !session_) {
    std::string user = options_.session_user;
    if (user.empty()) {
      auto owner = display_owner(display_number_);
      if (!owner) {
        last_error_ = owner.error().message;
        return;
      }
      user = usable_username(*owner);
    }
    session_ = UserSession{user, clock_.now_ms()};
    ++session_generation_;
    sync_wake_ = true;
    spdlog::info("display session started display={} user={}", options_.display, user);
  } else if (!present && session_) {
    spdlog::info("display session ended display={} user={}", options_.display, session_->username);
    session_.reset();
    ++session_generation_;
    sync_wake_ = true;
  }
}

void Agent::control_tick() {
  if (options_.sessions == SessionSource::display) watch_display();
  notices_.reap();

  bool stop;
  std::optional<UserSession> session;
  std::uint64_t generation;
  std::optional<Policy> policy;
  {
    std::lock_guard lock(mu_);
    stop = stop_;
    session = session_;
    generation = session_generation_;
    if (policy_known_) policy = policy_.policy;
  }

  bool disk_low = false;
  if (auto space = disk_space(spool_.root())) {
    disk_low = below_floor(*space, options_.disk_floor);
    if (disk_low && !disk_low_reported_ && (session || recorder_)) {
      report_error(Error{Errc::io,
                         "recording stopped: only " + std::to_string(space->free_bytes >> 20) +
                             " MiB free on the spool's file system (floor " +
                             std::to_string(options_.disk_floor.min_free_bytes >> 20) + " MiB or " +
                             std::to_string(options_.disk_floor.min_free_percent) + "%)",
                         {}});
      disk_low_reported_ = true;
    }
    if (!disk_low) disk_low_reported_ = false;
  } else {
    report_error(space.error());
  }

  const bool want = !stop && session && policy && !disk_low &&
                    policy_records_at(*policy, local_minute_of_day(clock_.now_ms()));

  if (recorder_ && recorder_->armed()) {
    // Armed (events mode): nothing is recorded; any change re-arms.
    if (recorder_->failure()) {
      report_error(with_context(*recorder_->failure(), "recorder stopped"));
      disarm();
      retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    } else if (!want || generation != active_generation_ || params_of(*policy) != active_params_) {
      disarm();
    } else {
      events_tick(*session, *policy);
    }
  } else if (recorder_) {
    if (auto failure = recorder_->failure()) {
      // In display-session mode the X server going away is the session's
      // normal end; give its socket a moment to disappear.
      bool display_gone = false;
      if (options_.sessions == SessionSource::display) {
        for (int i = 0; i < 10 && !display_gone; ++i) {
          display_gone = !display_present(display_number_);
          if (!display_gone) std::this_thread::sleep_for(100ms);
        }
      }
      if (!display_gone) report_error(with_context(*failure, "recorder stopped"));
      end_recording(display_gone ? FinishStatus::complete : FinishStatus::interrupted);
      if (display_gone) watch_display();
      if (!display_gone) retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    } else if (!want || generation != active_generation_) {
      end_recording(stop || disk_low ? FinishStatus::interrupted : FinishStatus::complete,
                    generation != active_generation_ || !session);
    } else if (params_of(*policy).events != active_params_.events) {
      end_recording(FinishStatus::complete);  // another mode: a new recording (or arming) follows
    } else if (params_of(*policy) != active_params_) {
      restart_recorder(params_of(*policy));
    } else if (active_params_.events) {
      events_tick(*session, *policy);
    }
    if (collector_ && policy) collector_->set_idle_after(std::chrono::seconds(policy->recording.idle_seconds));
  }
  if (!recorder_ && want && SteadyClock::now() >= retry_start_at_) {
    if (policy->recording.mode == RecordingMode::events) {
      arm(*session, *policy, generation);
    } else {
      start_recording(*session, *policy, generation);
    }
  }

  if (!session && !recorder_) display_session_closed();
  std::lock_guard lock(mu_);
  active_capture_ = recorder_ ? std::optional(recorder_->capture_info()) : std::nullopt;
  active_audio_ = recorder_ ? recorder_->audio_state() : std::nullopt;
  active_dir_shared_ = recorder_ && !recorder_->armed() ? std::optional(active_dir_) : std::nullopt;
}

Result<std::unique_ptr<record::Recorder>> Agent::start_recorder(const RecorderParams& params, std::int64_t first_seq,
                                                                std::int64_t start_offset_ms, bool armed) {
  record::RecorderOptions ro;
  ro.display = options_.display;
  ro.fps = params.fps;
  ro.segment_max_bytes = params.segment_max_bytes;
  ro.segment_max_ms = params.segment_max_ms;
  ro.output_dir = active_dir_;
  ro.first_seq = first_seq;
  ro.start_offset_ms = start_offset_ms;
  // An audio server that cannot be found does not stop the video: the track
  // is then silence and recording-status says why.
  if (params.audio) ro.audio = capture::session_sound_options(active_username_, options_.sound_source);
  if (armed) ro.pre_event = record::PreEventOptions{params.pre_event_ms};
  // An armed recorder learns its directory at commit_recording(): its
  // open_output sets active_dir_ on the recorder's thread before any
  // segment closes, while the control loop waits in commit(); it then stays
  // until the recorder is stopped.
  const auto* dir_of = &active_dir_;
  if (collector_) {
    ro.on_screen_change = [c = collector_.get()](SteadyClock::time_point t) { c->note_screen_change(t); };
    ro.before_segment_close = [this, dir_of](const record::SegmentClosing& s, const record::Recorder& r) {
      write_events(*dir_of, r, s.seq, s.start_ms, s.last ? std::nullopt : std::optional(s.end_ms));
    };
  }
  record::RecorderTuning tuning;
  if (const auto delay = options_.capture_open_delay_for_tests; delay.count() > 0) {
    tuning.open_capture = [delay](const capture::CaptureOptions& co) {
      std::this_thread::sleep_for(delay);
      return capture::open_screen_capture(co);
    };
  }
  if (!armed && first_seq == 0 && start_offset_ms == 0) {
    // The recording was created awaiting its first frame (start_recording):
    // its start becomes that frame's wall time, media time 0, and only then
    // may the uploader create it on the server. Runs on the recorder's
    // thread, before the frame is written anywhere.
    tuning.on_first_frame = [this, dir_of](EpochMs wall) {
      const auto& dir = *dir_of;
      EpochMs created = 0;
      auto st = spool_.update(dir, [&](RecordingMeta& m) {
        created = m.start_time;
        m.start_time = wall;
        m.awaiting_first_frame = false;
      });
      if (!st) {
        report_error(with_context(st.error(), "setting the recording's start to its first frame"));
        return;
      }
      spdlog::info("first frame local_id={} start_ms_after_creation={}", dir.filename().string(), wall - created);
      if (uploader_) uploader_->wake();
    };
  }
  // Runs on the recorder's thread: touch only the spool and the uploader.
  return record::start_recorder(ro, std::move(tuning), [this, dir_of](const record::SegmentClosed& s) {
    const auto& dir = *dir_of;
    auto st = spool_.update(dir, [&](RecordingMeta& m) {
      m.next_seq = std::max(m.next_seq, s.seq + 1);
      m.media_end_ms = std::max(m.media_end_ms, s.start_offset_ms + s.duration_ms);
    });
    if (!st) report_error(st.error());
    spdlog::debug("segment closed seq={} bytes={} duration_ms={}", s.seq, s.size_bytes, s.duration_ms);
    if (uploader_) uploader_->wake();
  });
}

void Agent::write_events(const std::filesystem::path& dir, const record::Recorder& recorder, std::int64_t seq,
                         std::int64_t start_ms, std::optional<std::int64_t> end_ms) {
  if (!collector_) return;
  auto list = collector_->take([&](SteadyClock::time_point t) { return recorder.media_ms_at(t); }, start_ms, end_ms);
  if (list.empty()) return;  // no document: the segment is uploaded without one
  const auto doc = activity::build_document(seq, std::move(list));
  if (doc.dropped > 0) {
    spdlog::warn("activity events: {} events of segment {} left out (over {} events or {} bytes)", doc.dropped, seq,
                 events::kMaxEventsPerDocument, events::kMaxDocumentBytes);
  }
  if (auto st = write_file_atomic(dir / events_file_name(seq), doc.json); !st) {
    report_error(with_context(st.error(), "writing the activity events of segment " + std::to_string(seq)));
  }
}

void Agent::start_collector(const UserSession& session, const Policy& policy, std::uint64_t generation) {
  activity::CollectorOptions co;
  co.display = options_.display;
  co.idle_after = std::chrono::seconds(policy.recording.idle_seconds);
  if (const auto uid = local_user_id(session.username)) {
    co.uid = *uid;
  } else if (activity::app_events_need_uid()) {
    spdlog::warn("activity events: no local user {}: no application start/exit events", session.username);
  }
  auto c = activity::Collector::start(co);
  if (!c) {
    report_error(with_context(c.error(), "activity events"));
    return;
  }
  collector_ = std::move(*c);
  spdlog::info("activity events: {}", collector_->sources());
  // A recording that begins with its session (not at a period's start
  // or after a restart) says so.
  if (generation != connect_event_generation_) {
    connect_event_generation_ = generation;
    collector_->add(activity::Event{SteadyClock::now(), activity::EventType::session_connect, {}, {}, {}, {}, {}, {}});
  }
}

void Agent::arm(const UserSession& session, const Policy& policy, std::uint64_t generation) {
  active_username_ = session.username;
  active_dir_.clear();
  start_collector(session, policy, generation);
  if (!collector_) {
    // Without the collector no trigger can be seen: recording nothing
    // silently would look like an idle session.
    retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    return;
  }
  const auto params = params_of(policy);
  auto rec = start_recorder(params, 0, 0, true);
  if (!rec) {
    collector_.reset();
    report_error(with_context(rec.error(), "starting the recorder on " + options_.display));
    retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    return;
  }
  start_backoff_.reset();
  recorder_ = std::move(*rec);
  active_generation_ = generation;
  active_params_ = params;
  trigger_window_.emplace(policy.recording.post_event_minutes * options_.post_event_minute_for_tests);
  spdlog::info("armed for event-triggered recording user={} triggers={} pre_event_seconds={} post_event_minutes={}",
               session.username, policy.recording.triggers.size(), policy.recording.pre_event_seconds,
               policy.recording.post_event_minutes);
}

void Agent::disarm() {
  if (collector_) collector_->stop();
  if (auto st = recorder_->stop(); !st) report_error(with_context(st.error(), "stopping the recorder"));
  recorder_.reset();
  collector_.reset();
  trigger_window_.reset();
  spdlog::info("disarmed: no recording was made");
}

void Agent::events_tick(const UserSession& session, const Policy& policy) {
  if (!collector_ || !trigger_window_) return;
  const auto now = SteadyClock::now();
  const auto match = matching_trigger(policy.recording.triggers, collector_->state());
  trigger_window_->set_post_event(policy.recording.post_event_minutes * options_.post_event_minute_for_tests);
  const bool on = trigger_window_->update(now, match.has_value());
  if (recorder_->armed()) {
    // Events from before what the ring can hold never reach a recording.
    // (The ring's segments reach at most 10 s further back than that.)
    collector_->drop_before(now - std::chrono::milliseconds(active_params_.pre_event_ms) - 12s);
    if (on) commit_recording(session, policy, match ? match->what() : std::string("a trigger"));
  } else if (!on) {
    spdlog::info("no trigger for {} minute(s): the event-triggered recording ends",
                 policy.recording.post_event_minutes);
    end_recording(FinishStatus::complete);
  }
}

void Agent::commit_recording(const UserSession& session, const Policy& policy, const std::string& why) {
  const auto trigger_at = SteadyClock::now();
  // Runs on the recorder's thread while this one waits in commit(): the
  // spool recording is created with its real start (the ring's first frame),
  // before the uploader can see it.
  auto open_output = [&](SteadyClock::time_point origin_at) -> Result<std::filesystem::path> {
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - origin_at);
    RecordingMeta meta;
    meta.username = session.username;
    meta.start_time = clock_.now_ms() - std::max<std::int64_t>(0, before.count());
    meta.policy = policy_to_json(policy);
    meta.policy_id = policy.id;
    meta.policy_version = policy.version;
    auto dir = spool_.create(meta);
    if (!dir) return std::unexpected(with_context(dir.error(), "creating a spool recording"));
    active_dir_ = *dir;
    if (collector_) {
      // Nothing from before the recording's first frame, but the window in
      // front then, so the timeline starts with it.
      collector_->drop_before(origin_at);
      const auto state = collector_->state();
      if (!state.title.empty() || !state.app.empty()) {
        activity::Event e{origin_at, activity::EventType::window, state.title, state.app, state.process, {}, {}, {}};
        collector_->add(std::move(e));
      }
    }
    return *dir;
  };
  auto info = recorder_->commit(record::CommitRequest{open_output, 0, trigger_at});
  if (!info) {
    report_error(with_context(info.error(), "starting the event-triggered recording"));
    if (!active_dir_.empty()) mark_interrupted(active_dir_);
    disarm();
    retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    return;
  }
  if (collector_) {
    activity::Event e{trigger_at, activity::EventType::trigger, {}, {}, {}, {}, {}, {}};
    e.title = why;
    collector_->add(std::move(e));
  }
  spdlog::info("recording started by a trigger local_id={} user={} trigger={} pre_event_ms={}",
               active_dir_.filename().string(), session.username, why, info->pre_event_ms);
  if (policy.recording.user_notice) {
    if (auto st = notices_.show(options_.display, notice_text(policy)); !st) report_error(st.error());
  }
  uploader_->wake();
}

void Agent::start_recording(const UserSession& session, const Policy& policy, std::uint64_t generation) {
  RecordingMeta meta;
  meta.username = session.username;
  meta.start_time = clock_.now_ms();  // until the first frame's (start_recorder)
  meta.awaiting_first_frame = true;
  meta.policy = policy_to_json(policy);
  meta.policy_id = policy.id;
  meta.policy_version = policy.version;
  auto dir = spool_.create(meta);
  if (!dir) {
    report_error(with_context(dir.error(), "creating a spool recording"));
    retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    return;
  }
  active_dir_ = *dir;
  active_username_ = session.username;
  start_collector(session, policy, generation);
  const auto params = params_of(policy);
  auto rec = start_recorder(params, 0, 0);
  if (!rec) {
    collector_.reset();
    report_error(with_context(rec.error(), "starting the recorder on " + options_.display));
    // Finished with no segment: the uploader drops it (or finishes it as
    // interrupted if the server recording exists already).
    mark_interrupted(*dir);
    retry_start_at_ = SteadyClock::now() + start_backoff_.next();
    return;
  }
  start_backoff_.reset();
  recorder_ = std::move(*rec);
  active_generation_ = generation;
  active_params_ = params;
  spdlog::info("recording started local_id={} user={} fps={} segment_max_bytes={} audio={}", meta.local_id,
               session.username, params.fps, params.segment_max_bytes, params.audio);
  if (policy.recording.user_notice) {
    if (auto st = notices_.show(options_.display, notice_text(policy)); !st) report_error(st.error());
  }
  uploader_->wake();
}

void Agent::close_open_segment(const std::filesystem::path& dir) {
  // A recorder that failed (display gone, disk full) leaves its open segment
  // as a .part, valid up to its last whole fragment: close it as recovery does.
  auto report = spool_.close_parts(dir);
  if (!report) {
    report_error(with_context(report.error(), "closing the open segment"));
  } else if (report->parts_recovered + report->parts_dropped > 0) {
    spdlog::info("closed the segment a stopped recorder left open parts_recovered={} parts_dropped={}",
                 report->parts_recovered, report->parts_dropped);
  }
}

void Agent::end_recording(FinishStatus status, bool session_ended) {
  if (collector_) {
    if (session_ended) {
      collector_->add(activity::Event{SteadyClock::now(), activity::EventType::session_disconnect, {}, {}, {}, {}, {}, {}});
    }
    collector_->stop();
  }
  const bool failed = recorder_->failure().has_value();
  if (auto st = recorder_->stop(); !st) report_error(with_context(st.error(), "stopping the recorder"));
  if (failed && collector_) {
    // A recorder that failed left its segment open (a .part): its events go
    // beside it before it is closed like recovery does.
    if (auto meta = spool_.load(active_dir_)) {
      std::error_code ec;
      const auto part = active_dir_ / (segment_file_name(meta->next_seq) + ".part");
      if (std::filesystem::exists(part, ec)) write_events(active_dir_, *recorder_, meta->next_seq, 0, std::nullopt);
    }
  }
  recorder_.reset();
  collector_.reset();
  trigger_window_.reset();
  close_open_segment(active_dir_);
  const EpochMs end = clock_.now_ms();
  if (auto st = spool_.update(active_dir_, [&](RecordingMeta& m) {
        m.finished = true;
        m.status = status;
        m.end_time = std::max(end, m.start_time + m.media_end_ms);
      });
      !st) {
    report_error(st.error());
  }
  spdlog::info("recording ended local_id={} status={}", active_dir_.filename().string(), finish_status_name(status));
  uploader_->wake();
}

void Agent::mark_interrupted(const std::filesystem::path& dir) {
  collector_.reset();
  close_open_segment(dir);
  if (auto st = spool_.update(dir, [&](RecordingMeta& m) {
        m.finished = true;
        m.status = FinishStatus::interrupted;
        m.end_time = std::max(clock_.now_ms(), m.start_time + m.media_end_ms);
      });
      !st) {
    report_error(st.error());
  }
  uploader_->wake();
}

void Agent::restart_recorder(const RecorderParams& params) {
  // The Recorder's limits are fixed per instance: close the current segment
  // and continue the same recording with a new one (seq and media time go on).
  if (auto st = recorder_->stop(); !st) report_error(with_context(st.error(), "stopping the recorder"));
  recorder_.reset();
  close_open_segment(active_dir_);
  auto meta = spool_.load(active_dir_);
  if (!meta) {
    report_error(meta.error());
    mark_interrupted(active_dir_);
    return;
  }
  // A recorder that never took a frame leaves the recording awaiting its
  // first: the new one starts it (media time 0, the start set by its frame).
  const std::int64_t offset =
      meta->awaiting_first_frame ? 0 : std::max(meta->media_end_ms, clock_.now_ms() - meta->start_time);
  auto rec = start_recorder(params, meta->next_seq, offset);
  if (!rec) {
    report_error(with_context(rec.error(), "restarting the recorder with the new policy"));
    mark_interrupted(active_dir_);
    return;
  }
  recorder_ = std::move(*rec);
  active_params_ = params;
  spdlog::info("policy change applied from segment {} fps={} segment_max_bytes={}", meta->next_seq, params.fps,
               params.segment_max_bytes);
}

}  // namespace deskaudit::agent
