#include "agent/windows/sessions.hpp"

#include <wtsapi32.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

struct WtsFreer {
  void operator()(void* p) const noexcept { WTSFreeMemory(p); }
};
template <class T>
using WtsPtr = std::unique_ptr<T, WtsFreer>;

bool has_user(DWORD id) {
  wchar_t* name = nullptr;
  DWORD bytes = 0;
  if (!WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, id, WTSUserName, &name, &bytes)) return false;
  WtsPtr<wchar_t> owned(name);
  return name != nullptr && name[0] != L'\0';
}

// WTSINFOEXW (Windows 7 and later) up to SessionFlags: mingw-w64's
// wtsapi32.h lacks it. The union after Level holds LARGE_INTEGERs, hence the
// alignment.
constexpr int kWtsSessionInfoEx = 25;  // WTS_INFO_CLASS WTSSessionInfoEx
constexpr LONG kWtsSessionStateLock = 0;
constexpr LONG kWtsSessionStateUnlock = 1;
struct WtsInfoExHead {
  DWORD level;
  alignas(8) ULONG session_id;
  DWORD session_state;
  LONG session_flags;
};

std::optional<bool> lock_state(DWORD id) {
  wchar_t* raw = nullptr;
  DWORD bytes = 0;
  if (!WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, id, static_cast<WTS_INFO_CLASS>(kWtsSessionInfoEx), &raw,
                                   &bytes))
    return std::nullopt;
  WtsPtr<wchar_t> owned(raw);
  if (raw == nullptr || bytes < sizeof(WtsInfoExHead)) return std::nullopt;
  WtsInfoExHead head;
  std::memcpy(&head, raw, sizeof(head));
  if (head.level != 1) return std::nullopt;
  // Windows 7 / Server 2008 R2 report these two the other way round; the
  // agent supports Windows 10 / Server 2016 and later.
  if (head.session_flags == kWtsSessionStateLock) return true;
  if (head.session_flags == kWtsSessionStateUnlock) return false;
  return std::nullopt;
}

}  // namespace

Result<SessionSnapshot> enumerate_sessions() {
  WTS_SESSION_INFOW* list = nullptr;
  DWORD count = 0;
  if (!WTSEnumerateSessionsW(WTS_CURRENT_SERVER_HANDLE, 0, 1, &list, &count))
    return fail(Errc::unavailable, win_error("WTSEnumerateSessionsW"));
  WtsPtr<WTS_SESSION_INFOW> owned(list);
  SessionSnapshot out;
  if (count == 0) {
    const DWORD console = WTSGetActiveConsoleSessionId();
    out.source = SessionSource::console_fallback;
    if (console != 0xFFFFFFFF) out.sessions.push_back({console, true, lock_state(console)});
    return out;
  }
  for (DWORD i = 0; i < count; ++i) {
    const auto& s = list[i];
    if (s.SessionId == 0) continue;  // services
    if (s.State != WTSActive && s.State != WTSConnected && s.State != WTSDisconnected) continue;
    if (!has_user(s.SessionId)) continue;
    out.sessions.push_back({s.SessionId, s.State != WTSDisconnected, lock_state(s.SessionId)});
  }
  return out;
}

std::string_view session_update_name(SessionUpdate::Kind kind) noexcept {
  switch (kind) {
    case SessionUpdate::Kind::started: return "started";
    case SessionUpdate::Kind::ended: return "ended";
    case SessionUpdate::Kind::locked: return "locked";
    case SessionUpdate::Kind::unlocked: return "unlocked";
    case SessionUpdate::Kind::connected: return "connected";
    case SessionUpdate::Kind::disconnected: return "disconnected";
  }
  return "unknown";
}

std::vector<SessionUpdate> SessionTracker::start(DWORD id, SessionInfo info) {
  info.id = id;
  std::vector<SessionUpdate> out{{SessionUpdate::Kind::started, id}};
  if (!info.connected) out.push_back({SessionUpdate::Kind::disconnected, id});
  if (info.locked.value_or(false)) out.push_back({SessionUpdate::Kind::locked, id});
  sessions_[id] = info;
  return out;
}

std::vector<SessionUpdate> SessionTracker::apply(const SessionEvent& event) {
  using K = SessionUpdate::Kind;
  const DWORD id = event.session_id;
  auto it = sessions_.find(id);
  const bool known = it != sessions_.end();
  switch (event.change) {
    case SessionChange::logon:
      if (known) return {};
      return start(id, {id, true, false});
    case SessionChange::logoff:
      if (!known) return {};
      sessions_.erase(it);
      return {{K::ended, id}};
    case SessionChange::lock:
      if (!known) return start(id, {id, true, true});
      if (it->second.locked == true) return {};
      it->second.locked = true;
      return {{K::locked, id}};
    case SessionChange::unlock:
      if (!known) return start(id, {id, true, false});
      if (it->second.locked == false) return {};
      it->second.locked = false;
      return {{K::unlocked, id}};
    case SessionChange::console_connect:
    case SessionChange::remote_connect:
      if (!known || it->second.connected) return {};
      it->second.connected = true;
      return {{K::connected, id}};
    case SessionChange::console_disconnect:
    case SessionChange::remote_disconnect:
      if (!known) return start(id, {id, false, std::nullopt});
      if (!it->second.connected) return {};
      it->second.connected = false;
      return {{K::disconnected, id}};
  }
  return {};
}

std::vector<SessionUpdate> SessionTracker::reconcile(const SessionSnapshot& snapshot) {
  using K = SessionUpdate::Kind;
  std::vector<SessionUpdate> out;
  std::map<DWORD, const SessionInfo*> seen;
  for (const auto& s : snapshot.sessions) seen[s.id] = &s;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (!seen.contains(it->first)) {
      out.push_back({K::ended, it->first});
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [id, s] : seen) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      auto started = start(id, *s);
      out.insert(out.end(), started.begin(), started.end());
      continue;
    }
    auto& known = it->second;
    if (known.connected != s->connected) {
      known.connected = s->connected;
      out.push_back({s->connected ? K::connected : K::disconnected, id});
    }
    if (s->locked.has_value() && known.locked != s->locked) {
      known.locked = s->locked;
      out.push_back({*s->locked ? K::locked : K::unlocked, id});
    }
  }
  return out;
}

std::vector<SessionInfo> SessionTracker::sessions() const {
  std::vector<SessionInfo> out;
  for (const auto& [id, s] : sessions_) out.push_back(s);
  return out;
}

SessionWatcher::SessionWatcher(Enumerate enumerate, OnUpdate on_update, std::chrono::milliseconds poll_interval)
    : enumerate_(std::move(enumerate)), on_update_(std::move(on_update)), poll_interval_(poll_interval) {}

void SessionWatcher::post(const SessionEvent& event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  cv_.notify_one();
}

std::optional<SessionSource> SessionWatcher::last_source() const {
  std::lock_guard lock(mutex_);
  return last_source_;
}

void SessionWatcher::run(std::stop_token stop) {
  auto next_poll = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    std::vector<SessionUpdate> updates;
    if (std::chrono::steady_clock::now() >= next_poll) {
      auto snapshot = enumerate_();
      if (snapshot) {
        {
          std::lock_guard lock(mutex_);
          last_source_ = snapshot->source;
        }
        updates = tracker_.reconcile(*snapshot);
      } else {
        spdlog::warn("session poll: {}", snapshot.error().message);
      }
      next_poll = std::chrono::steady_clock::now() + poll_interval_;
    }
    std::deque<SessionEvent> events;
    {
      std::unique_lock lock(mutex_);
      if (updates.empty()) cv_.wait_until(lock, stop, next_poll, [&] { return !events_.empty(); });
      events.swap(events_);
    }
    for (const auto& e : events) {
      auto more = tracker_.apply(e);
      updates.insert(updates.end(), more.begin(), more.end());
    }
    for (const auto& u : updates) on_update_(u);
  }
}

}  // namespace deskaudit::agent::windows
