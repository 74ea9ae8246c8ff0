#include "agent/windows/supervisor.hpp"

#include <thread>

#include <spdlog/spdlog.h>

namespace deskaudit::agent::windows {

SessionSupervisor::SessionSupervisor(SupervisorOptions options, SessionWatcher::Enumerate enumerate)
    : options_(std::move(options)),
      watcher_(
          std::move(enumerate), [this](const SessionUpdate& u) { on_update(u); }, options_.poll_interval) {}

void SessionSupervisor::post(const SessionEvent& event) { watcher_.post(event); }

void SessionSupervisor::on_update(const SessionUpdate& update) {
  {
    std::lock_guard lock(mutex_);
    updates_.push_back(update);
  }
  cv_.notify_all();
}

DWORD SessionSupervisor::helper_pid() const {
  std::lock_guard lock(mutex_);
  return helper_pid_;
}

int SessionSupervisor::helpers_started() const {
  std::lock_guard lock(mutex_);
  return helpers_started_;
}

std::vector<DWORD> SessionSupervisor::unrecorded_sessions() const {
  std::lock_guard lock(mutex_);
  return {unrecorded_.begin(), unrecorded_.end()};
}

namespace {

std::string session_list(const std::set<DWORD>& sessions) {
  std::string out;
  for (const DWORD s : sessions) out += (out.empty() ? "" : ", ") + std::to_string(s);
  return out;
}

}  // namespace

void SessionSupervisor::stop_helper() {
  if (!helper_) return;
  helper_->request_stop();
  auto code = helper_->wait_exit(options_.stop_timeout);
  if (code && code->has_value()) {
    spdlog::info("session helper {} stopped (exit {})", helper_->pid(), **code);
  } else {
    spdlog::warn("session helper {} did not stop within {} ms: ended", helper_->pid(), options_.stop_timeout.count());
    if (auto st = helper_->terminate(1); !st) spdlog::warn("{}", st.error().message);
  }
  helper_.reset();
  std::lock_guard lock(mutex_);
  helper_pid_ = 0;
  helper_exited_ = false;
}

void SessionSupervisor::run(std::stop_token stop) {
  std::jthread watcher([this](std::stop_token s) { watcher_.run(s); });
  std::set<DWORD> live;  // the sessions started and not ended
  // When to start the helper next; never: no start is due.
  constexpr auto never = std::chrono::steady_clock::time_point::max();
  auto launch_at = never;
  while (!stop.stop_requested()) {
    std::deque<SessionUpdate> updates;
    bool exited = false;
    {
      std::unique_lock lock(mutex_);
      auto ready = [&] { return !updates_.empty() || helper_exited_; };
      if (launch_at != never)
        cv_.wait_until(lock, stop, launch_at, ready);
      else
        cv_.wait(lock, stop, ready);
      updates.swap(updates_);
      exited = std::exchange(helper_exited_, false);
    }
    if (stop.stop_requested()) break;
    for (const auto& u : updates) {
      spdlog::info("session {} {}", u.session_id, session_update_name(u.kind));
      if (u.kind == SessionUpdate::Kind::started) live.insert(u.session_id);
      if (u.kind != SessionUpdate::Kind::ended) continue;
      live.erase(u.session_id);
      if (session_ == u.session_id) {
        stop_helper();
        session_.reset();
        launch_at = never;
      }
    }
    if (exited && helper_) {
      auto code = helper_->wait_exit(std::chrono::milliseconds(0));
      spdlog::warn("session helper {} exited ({}) while session {} lasts: restarting in {} ms", helper_->pid(),
                   code && code->has_value() ? std::to_string(**code) : std::string("?"), *session_,
                   options_.restart_delay.count());
      helper_.reset();
      {
        std::lock_guard lock(mutex_);
        helper_pid_ = 0;
      }
      launch_at = std::chrono::steady_clock::now() + options_.restart_delay;
    }
    if (!session_ && !live.empty()) {
      session_ = *live.begin();
      launch_at = std::chrono::steady_clock::now();
    }
    std::set<DWORD> unrecorded = live;
    if (session_) unrecorded.erase(*session_);
    if (std::lock_guard lock(mutex_); unrecorded != unrecorded_) {
      if (!unrecorded.empty()) {
        spdlog::warn(
            "session(s) {} signed in but not recorded: this agent records one session at a time (session {}); "
            "multi-session hosts are not supported yet (docs/windows.md)",
            session_list(unrecorded), session_ ? std::to_string(*session_) : std::string("none"));
      } else {
        spdlog::info("every signed-in session is recorded again");
      }
      unrecorded_ = std::move(unrecorded);
    }
    if (session_ && !helper_ && launch_at != never && std::chrono::steady_clock::now() >= launch_at) {
      launch_at = never;
      auto helper =
          SessionProcess::launch({*session_, options_.account, options_.helper_exe, options_.helper_arguments});
      if (!helper) {
        spdlog::warn("starting the session helper in session {}: {}", *session_, helper.error().message);
        launch_at = std::chrono::steady_clock::now() + options_.restart_delay;
        continue;
      }
      spdlog::info("session helper {} started in session {} ({})", helper->pid(), *session_,
                   launch_path_name(helper->path()));
      if (auto st = helper->watch([this](DWORD) {
            {
              std::lock_guard lock(mutex_);
              helper_exited_ = true;
            }
            cv_.notify_all();
          });
          !st)
        spdlog::warn("{}", st.error().message);
      std::lock_guard lock(mutex_);
      helper_pid_ = helper->pid();
      ++helpers_started_;
      helper_ = std::move(*helper);
    }
  }
  watcher.request_stop();
  watcher.join();
  stop_helper();
}

}  // namespace deskaudit::agent::windows
