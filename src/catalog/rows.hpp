#pragma once
// Internal to the catalog: the column lists of each entity and the SOCI
// into() targets that read one row of them. A Row's bind() must be paired
// with the matching k*Columns text in the same column order.
#include <soci/soci.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/sql.hpp"
#include "catalog/types.hpp"

namespace deskaudit::catalog::rows {

inline std::optional<std::string> opt(const std::string& v, soci::indicator ind) {
  return ind == soci::i_ok ? std::optional<std::string>(v) : std::nullopt;
}
inline std::optional<std::int64_t> opt(long long v, soci::indicator ind) {
  return ind == soci::i_ok ? std::optional<std::int64_t>(v) : std::nullopt;
}

inline constexpr std::string_view kPoolColumns = "p.id, p.name, p.description, p.created_at";
struct PoolRow {
  std::string id, name, description;
  long long created_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(description));
    st.exchange(soci::into(created_at));
  }
  Pool get() const { return Pool{id, name, description, created_at}; }
};

inline constexpr std::string_view kComputerColumns =
    "c.id, c.name, c.hostname, c.os, c.pool_id, c.created_at, c.agent_version, c.capture_json, c.spool_bytes, "
    "c.last_error, c.session_json, c.last_seen_at, c.last_upload_at, c.last_upload_error, c.last_session_at, "
    "(SELECT COUNT(*) FROM agent_credentials a WHERE a.computer_id = c.id), c.set_aside_json";
struct ComputerRow {
  std::string id, name, hostname, os, pool_id, agent_version, capture_json, last_error, session_json, last_upload_error,
      set_aside_json;
  soci::indicator pool_ind = soci::i_ok;
  long long created_at = 0, spool_bytes = 0, last_seen_at = 0, last_upload_at = 0, last_session_at = 0, credentials = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(hostname));
    st.exchange(soci::into(os));
    st.exchange(soci::into(pool_id, pool_ind));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(agent_version));
    st.exchange(soci::into(capture_json));
    st.exchange(soci::into(spool_bytes));
    st.exchange(soci::into(last_error));
    st.exchange(soci::into(session_json));
    st.exchange(soci::into(last_seen_at));
    st.exchange(soci::into(last_upload_at));
    st.exchange(soci::into(last_upload_error));
    st.exchange(soci::into(last_session_at));
    st.exchange(soci::into(credentials));
    st.exchange(soci::into(set_aside_json));
  }
  Computer get() const {
    Computer c;
    c.id = id;
    c.name = name;
    c.hostname = hostname;
    c.os = os;
    c.pool_id = opt(pool_id, pool_ind);
    c.enrolled = credentials > 0;
    c.created_at = created_at;
    c.agent.agent_version = agent_version;
    c.agent.capture_json = capture_json;
    c.agent.spool_bytes = spool_bytes;
    c.agent.last_error = last_error;
    c.agent.session_json = session_json;
    c.agent.last_seen_at = last_seen_at;
    c.agent.last_upload_at = last_upload_at;
    c.agent.last_upload_error = last_upload_error;
    c.agent.last_session_at = last_session_at;
    c.agent.set_aside_json = set_aside_json;
    return c;
  }
};

inline constexpr std::string_view kPolicyColumns =
    "p.id, p.name, p.mode, p.period_start, p.period_end, p.fps, p.audio, p.segment_max_bytes, "
    "p.segment_max_minutes, p.retention_days, p.user_notice, p.user_notice_message, p.version, p.created_at, "
    "p.updated_at, p.idle_seconds, p.triggers_json, p.post_event_minutes, p.pre_event_seconds";
struct PolicyRow {
  std::string id, name, mode, period_start, period_end, user_notice_message, triggers_json;
  int fps = 0, audio = 0, segment_max_minutes = 0, retention_days = 0, user_notice = 0, idle_seconds = 30;
  int post_event_minutes = 10, pre_event_seconds = 30;
  long long segment_max_bytes = 0, version = 0, created_at = 0, updated_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(mode));
    st.exchange(soci::into(period_start));
    st.exchange(soci::into(period_end));
    st.exchange(soci::into(fps));
    st.exchange(soci::into(audio));
    st.exchange(soci::into(segment_max_bytes));
    st.exchange(soci::into(segment_max_minutes));
    st.exchange(soci::into(retention_days));
    st.exchange(soci::into(user_notice));
    st.exchange(soci::into(user_notice_message));
    st.exchange(soci::into(version));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
    st.exchange(soci::into(idle_seconds));
    st.exchange(soci::into(triggers_json));
    st.exchange(soci::into(post_event_minutes));
    st.exchange(soci::into(pre_event_seconds));
  }
  Policy get() const {
    Policy p;
    p.id = id;
    p.name = name;
    p.recording.mode = recording_mode_from(mode).value_or(RecordingMode::off);
    p.recording.period_start = period_start;
    p.recording.period_end = period_end;
    p.recording.fps = fps;
    p.recording.audio = audio != 0;
    p.recording.segment_max_bytes = segment_max_bytes;
    p.recording.segment_max_minutes = segment_max_minutes;
    p.recording.retention_days = retention_days;
    p.recording.user_notice = user_notice != 0;
    p.recording.user_notice_message = user_notice_message;
    p.recording.idle_seconds = idle_seconds;
    // Written by the server from a validated rule; a row edited by hand
    // into something else reads as no triggers.
    if (auto t = policy::triggers_from_json(nlohmann::json::parse(triggers_json, nullptr, false))) {
      p.recording.triggers = std::move(*t);
    }
    p.recording.post_event_minutes = post_event_minutes;
    p.recording.pre_event_seconds = pre_event_seconds;
    p.version = version;
    p.created_at = created_at;
    p.updated_at = updated_at;
    return p;
  }
};

inline constexpr std::string_view kEnrollmentColumns =
    "e.id, e.token_sha256, e.pool_id, e.expires_at, e.max_uses, e.uses, e.created_by, e.created_at, e.revoked";
struct EnrollmentRow {
  std::string id, token_sha256, pool_id, created_by;
  soci::indicator pool_ind = soci::i_ok, expires_ind = soci::i_ok, max_uses_ind = soci::i_ok;
  long long expires_at = 0, max_uses = 0, uses = 0, created_at = 0;
  int revoked = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(token_sha256));
    st.exchange(soci::into(pool_id, pool_ind));
    st.exchange(soci::into(expires_at, expires_ind));
    st.exchange(soci::into(max_uses, max_uses_ind));
    st.exchange(soci::into(uses));
    st.exchange(soci::into(created_by));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(revoked));
  }
  EnrollmentToken get() const {
    EnrollmentToken t;
    t.id = id;
    t.token_sha256 = token_sha256;
    t.pool_id = opt(pool_id, pool_ind);
    t.expires_at = opt(expires_at, expires_ind);
    t.max_uses = opt(max_uses, max_uses_ind);
    t.uses = uses;
    t.created_by = created_by;
    t.created_at = created_at;
    t.revoked = revoked != 0;
    return t;
  }
};

// Recordings join their computer for the current name; the snapshot name
// stands in once the computer is deleted. The pool is the recording's own:
// the computer's pool when the recording was made, which a later move of
// the computer does not change.
inline constexpr std::string_view kRecordingColumns =
    "r.id, r.computer_id, COALESCE(c.name, r.computer_name), r.pool_id, r.policy_id, r.policy_name, r.username, "
    "r.start_time, r.end_time, r.status, r.size_bytes, r.segment_count, r.duration_ms, r.retention_days, "
    "r.expires_at, r.legal_hold, r.created_at";
inline constexpr std::string_view kRecordingFrom = " FROM recordings r LEFT JOIN computers c ON c.id = r.computer_id";
struct RecordingRow {
  std::string id, computer_id, computer_name, pool_id, policy_id, policy_name, username, status;
  soci::indicator name_ind = soci::i_ok, pool_ind = soci::i_ok, policy_ind = soci::i_ok, end_ind = soci::i_ok,
                  expires_ind = soci::i_ok;
  long long start_time = 0, end_time = 0, size_bytes = 0, segment_count = 0, duration_ms = 0, expires_at = 0,
            created_at = 0;
  int retention_days = 0, legal_hold = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(computer_id));
    st.exchange(soci::into(computer_name, name_ind));
    st.exchange(soci::into(pool_id, pool_ind));
    st.exchange(soci::into(policy_id, policy_ind));
    st.exchange(soci::into(policy_name));
    st.exchange(soci::into(username));
    st.exchange(soci::into(start_time));
    st.exchange(soci::into(end_time, end_ind));
    st.exchange(soci::into(status));
    st.exchange(soci::into(size_bytes));
    st.exchange(soci::into(segment_count));
    st.exchange(soci::into(duration_ms));
    st.exchange(soci::into(retention_days));
    st.exchange(soci::into(expires_at, expires_ind));
    st.exchange(soci::into(legal_hold));
    st.exchange(soci::into(created_at));
  }
  Recording get() const {
    Recording r;
    r.id = id;
    r.computer_id = computer_id;
    r.computer_name = name_ind == soci::i_ok ? computer_name : std::string();
    r.pool_id = opt(pool_id, pool_ind);
    r.policy_id = opt(policy_id, policy_ind);
    r.policy_name = policy_name;
    r.username = username;
    r.start_time = start_time;
    r.end_time = opt(end_time, end_ind);
    r.status = recording_status_from(status).value_or(RecordingStatus::interrupted);
    r.size_bytes = size_bytes;
    r.segment_count = segment_count;
    r.duration_ms = duration_ms;
    r.retention_days = retention_days;
    r.expires_at = opt(expires_at, expires_ind);
    r.legal_hold = legal_hold != 0;
    r.created_at = created_at;
    return r;
  }
};

inline constexpr std::string_view kSegmentColumns =
    "s.recording_id, s.seq, s.object_key, s.size_bytes, s.sha256, s.start_offset_ms, s.duration_ms, s.index_json, "
    "s.created_at, s.events_sha256, s.signature_key_id, s.signature";
struct SegmentRow {
  std::string recording_id, object_key, sha256, index_json, events_sha256, signature_key_id, signature;
  soci::indicator events_ind = soci::i_ok;
  long long seq = 0, size_bytes = 0, start_offset_ms = 0, duration_ms = 0, created_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(recording_id));
    st.exchange(soci::into(seq));
    st.exchange(soci::into(object_key));
    st.exchange(soci::into(size_bytes));
    st.exchange(soci::into(sha256));
    st.exchange(soci::into(start_offset_ms));
    st.exchange(soci::into(duration_ms));
    st.exchange(soci::into(index_json));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(events_sha256, events_ind));
    st.exchange(soci::into(signature_key_id));
    st.exchange(soci::into(signature));
  }
  Segment get() const {
    return Segment{recording_id, seq,        object_key, size_bytes, sha256, start_offset_ms, duration_ms,
                   index_json,   created_at, opt(events_sha256, events_ind), signature_key_id, signature};
  }
};

inline constexpr std::string_view kEventDocumentColumns =
    "d.recording_id, d.seq, d.object_key, d.sha256, d.size_bytes, d.event_count, d.created_at";
struct EventDocumentRow {
  std::string recording_id, object_key, sha256;
  long long seq = 0, size_bytes = 0, event_count = 0, created_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(recording_id));
    st.exchange(soci::into(seq));
    st.exchange(soci::into(object_key));
    st.exchange(soci::into(sha256));
    st.exchange(soci::into(size_bytes));
    st.exchange(soci::into(event_count));
    st.exchange(soci::into(created_at));
  }
  EventDocument get() const {
    return EventDocument{recording_id, seq, object_key, sha256, size_bytes, event_count, created_at};
  }
};

inline constexpr std::string_view kEventColumns =
    "e.recording_id, e.seq, e.idx, e.t_ms, e.type, e.title, e.app, e.process, e.pid, e.width, e.height";
struct EventRow {
  std::string recording_id, type, title, app, process;
  soci::indicator title_ind = soci::i_ok, app_ind = soci::i_ok, process_ind = soci::i_ok, pid_ind = soci::i_ok,
                  width_ind = soci::i_ok, height_ind = soci::i_ok;
  long long seq = 0, idx = 0, t_ms = 0, pid = 0, width = 0, height = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(recording_id));
    st.exchange(soci::into(seq));
    st.exchange(soci::into(idx));
    st.exchange(soci::into(t_ms));
    st.exchange(soci::into(type));
    st.exchange(soci::into(title, title_ind));
    st.exchange(soci::into(app, app_ind));
    st.exchange(soci::into(process, process_ind));
    st.exchange(soci::into(pid, pid_ind));
    st.exchange(soci::into(width, width_ind));
    st.exchange(soci::into(height, height_ind));
  }
  RecordingEvent get() const {
    RecordingEvent r;
    r.recording_id = recording_id;
    r.seq = seq;
    r.idx = idx;
    r.event.t_ms = t_ms;
    r.event.type = type;
    r.event.title = opt(title, title_ind);
    r.event.app = opt(app, app_ind);
    r.event.process = opt(process, process_ind);
    r.event.pid = opt(pid, pid_ind);
    r.event.width = opt(width, width_ind);
    r.event.height = opt(height, height_ind);
    return r;
  }
};

// An event with its recording's columns (search_events).
inline constexpr std::string_view kEventHitColumns =
    "r.computer_id, COALESCE(c.name, r.computer_name), r.pool_id, r.username, r.start_time";
struct EventHitRow {
  EventRow event;
  std::string computer_id, computer_name, pool_id, username;
  soci::indicator pool_ind = soci::i_ok;
  long long start_time = 0;
  void bind(soci::statement& st) {
    event.bind(st);
    st.exchange(soci::into(computer_id));
    st.exchange(soci::into(computer_name));
    st.exchange(soci::into(pool_id, pool_ind));
    st.exchange(soci::into(username));
    st.exchange(soci::into(start_time));
  }
  EventHit get() const {
    return EventHit{event.get(), computer_id, computer_name, opt(pool_id, pool_ind), username, start_time};
  }
};

inline constexpr std::string_view kAgentKeyColumns = "k.key_id, k.computer_id, k.public_key, k.created_at, k.retired_at";
struct AgentKeyRow {
  std::string key_id, computer_id, public_key;
  long long created_at = 0, retired_at = 0;
  soci::indicator retired_ind = soci::i_ok;
  void bind(soci::statement& st) {
    st.exchange(soci::into(key_id));
    st.exchange(soci::into(computer_id));
    st.exchange(soci::into(public_key));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(retired_at, retired_ind));
  }
  AgentKey get() const { return AgentKey{key_id, computer_id, public_key, created_at, opt(retired_at, retired_ind)}; }
};

inline constexpr std::string_view kUserColumns =
    "u.id, u.username, u.password_hash, u.disabled, u.created_at, u.password_changed_at, u.failed_logins, "
    "u.locked_until, u.must_change_password";
struct UserRow {
  std::string id, username, password_hash;
  int disabled = 0, must_change_password = 0;
  long long created_at = 0, password_changed_at = 0, failed_logins = 0, locked_until = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(username));
    st.exchange(soci::into(password_hash));
    st.exchange(soci::into(disabled));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(password_changed_at));
    st.exchange(soci::into(failed_logins));
    st.exchange(soci::into(locked_until));
    st.exchange(soci::into(must_change_password));
  }
  User get() const {
    return User{id,           username,      password_hash, disabled != 0, created_at, password_changed_at,
                failed_logins, locked_until, must_change_password != 0};
  }
};

inline constexpr std::string_view kTokenColumns =
    "t.id, t.user_id, t.kind, t.name, t.token_sha256, t.created_at, t.expires_at, t.last_used_at, t.revoked";
struct TokenRow {
  std::string id, user_id, kind, name, token_sha256;
  soci::indicator expires_ind = soci::i_ok;
  long long created_at = 0, expires_at = 0, last_used_at = 0;
  int revoked = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(name));
    st.exchange(soci::into(token_sha256));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(expires_at, expires_ind));
    st.exchange(soci::into(last_used_at));
    st.exchange(soci::into(revoked));
  }
  ApiToken get() const {
    ApiToken t;
    t.id = id;
    t.user_id = user_id;
    t.kind = kind == "session" ? TokenKind::session : TokenKind::api;
    t.name = name;
    t.token_sha256 = token_sha256;
    t.created_at = created_at;
    t.expires_at = opt(expires_at, expires_ind);
    t.last_used_at = last_used_at;
    t.revoked = revoked != 0;
    return t;
  }
};

inline constexpr std::string_view kAuditColumns =
    "l.seq, l.entry_time, l.actor, l.action, l.target, l.details_json, l.prev_hash, l.hash";
struct AuditRow {
  std::string actor, action, target, details_json, prev_hash, hash;
  long long seq = 0, time = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(seq));
    st.exchange(soci::into(time));
    st.exchange(soci::into(actor));
    st.exchange(soci::into(action));
    st.exchange(soci::into(target));
    st.exchange(soci::into(details_json));
    st.exchange(soci::into(prev_hash));
    st.exchange(soci::into(hash));
  }
  AuditEntry get() const { return AuditEntry{seq, time, actor, action, target, details_json, prev_hash, hash}; }
};

inline constexpr std::string_view kCheckpointColumns =
    "k.n, k.seq, k.entry_hash, k.prev_signature, k.signed_at, k.kind, k.replica, k.key_id, k.signature";
struct CheckpointRow {
  std::string entry_hash, prev_signature, kind, replica, key_id, signature;
  long long n = 0, seq = 0, signed_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(n));
    st.exchange(soci::into(seq));
    st.exchange(soci::into(entry_hash));
    st.exchange(soci::into(prev_signature));
    st.exchange(soci::into(signed_at));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(replica));
    st.exchange(soci::into(key_id));
    st.exchange(soci::into(signature));
  }
  AuditCheckpoint get() const {
    return AuditCheckpoint{n, seq, entry_hash, prev_signature, signed_at, kind, replica, key_id, signature};
  }
};

inline constexpr std::string_view kPublishedKeyColumns = "s.key_id, s.algorithm, s.public_key, s.first_seen_at";
struct PublishedKeyRow {
  std::string key_id, algorithm, public_key;
  long long first_seen_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(key_id));
    st.exchange(soci::into(algorithm));
    st.exchange(soci::into(public_key));
    st.exchange(soci::into(first_seen_at));
  }
  PublishedKey get() const { return PublishedKey{key_id, algorithm, public_key, first_seen_at}; }
};

// Events that are part of their recording: their segment is stored (with
// the document's hash, checked when it was stored).
inline constexpr std::string_view kStoredEventsFrom =
    " FROM recording_events e JOIN segments s ON s.recording_id = e.recording_id AND s.seq = e.seq AND "
    "s.events_sha256 IS NOT NULL";

// The event filters of RecordingFilter and EventSearch, as " AND ..." terms
// over recording_events e.
inline void event_match(sql::Sql& q, std::string_view app, std::string_view window_title) {
  if (!app.empty()) {
    const std::string pattern = sql::like_contains(app);
    q(" AND (LOWER(e.app) LIKE LOWER(").bind(pattern)(") ESCAPE '!' OR LOWER(e.process) LIKE LOWER(");
    q.bind(pattern)(") ESCAPE '!')");
  }
  if (!window_title.empty()) {
    q(" AND e.type = 'window' AND LOWER(e.title) LIKE LOWER(").bind(sql::like_contains(window_title))(") ESCAPE '!'");
  }
}

// "'id'" for messages.
inline std::string quote_id(std::string_view id) { return "'" + std::string(id) + "'"; }

// Whether `table` (a constant name, never input) has a row with this id.
inline bool row_exists(soci::session& s, std::string_view table, std::string_view id) {
  sql::Sql q("SELECT COUNT(*) FROM ");
  q(table)(" WHERE id = ").bind(id);
  return sql::query_int(s, q).value_or(0) > 0;
}

// Scope: a computer listed by id, or a computer whose pool is listed. An
// empty scope matches nothing.
inline void add_scope(sql::Sql& q, const Scope& scope, std::string_view computer_col, std::string_view pool_col) {
  if (scope.computer_ids.empty() && scope.pool_ids.empty()) {
    q(" AND 1 = 0");
    return;
  }
  q(" AND (");
  if (!scope.computer_ids.empty()) {
    q(computer_col)(" IN (").bind_list(scope.computer_ids)(")");
    if (!scope.pool_ids.empty()) q(" OR ");
  }
  if (!scope.pool_ids.empty()) q(pool_col)(" IN (").bind_list(scope.pool_ids)(")");
  q(")");
}

// Every row of q, read through Row.
template <class Row>
auto fetch_all(soci::session& s, sql::Sql& q) {
  Row row;
  std::vector<decltype(row.get())> out;
  sql::query(
      s, q, [&](soci::statement& st) { row.bind(st); }, [&] { out.push_back(row.get()); });
  return out;
}

// The first row of q, if any.
template <class Row>
auto fetch_one(soci::session& s, sql::Sql& q) {
  Row row;
  std::optional<decltype(row.get())> out;
  sql::query(
      s, q, [&](soci::statement& st) { row.bind(st); },
      [&] {
        if (!out) out = row.get();
      });
  return out;
}

}  // namespace deskaudit::catalog::rows
