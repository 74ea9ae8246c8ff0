// Recordings and segments of SociCatalog.
#include "catalog/page_token.hpp"
#include "catalog/rows.hpp"
#include "catalog/soci_catalog.hpp"
#include "common/crypto.hpp"
#include "common/time.hpp"

namespace deskaudit::catalog {

using sql::Sql;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

// The media time of the recording's first event matching the filter.
void first_match_column(Sql& q, const RecordingFilter& f) {
  q(", (SELECT MIN(e.t_ms)")(rows::kStoredEventsFrom)(" WHERE e.recording_id = r.id");
  rows::event_match(q, f.app, f.window_title);
  q(")");
}

// A recording row with first_match_ms (list_recordings with an event filter).
struct RecordingMatchRow : rows::RecordingRow {
  long long first = 0;
  soci::indicator first_ind = soci::i_ok;
  void bind(soci::statement& st) {
    RecordingRow::bind(st);
    st.exchange(soci::into(first, first_ind));
  }
  Recording get() const {
    Recording r = RecordingRow::get();
    r.first_match_ms = rows::opt(first, first_ind);
    return r;
  }
};

// WHERE clause of list_recordings and count_recordings. Time filters select
// recordings that overlap [start_time, end_time]; an open recording extends
// to "now", so it overlaps every range that starts before it ends.
void recording_where(Sql& q, const RecordingFilter& f) {
  q(" WHERE 1 = 1");
  if (f.has_event_filter()) {
    q(" AND EXISTS (SELECT 1")(rows::kStoredEventsFrom)(" WHERE e.recording_id = r.id");
    rows::event_match(q, f.app, f.window_title);
    q(")");
  }
  if (!f.computer_id.empty()) q(" AND r.computer_id = ").bind(f.computer_id);
  if (!f.pool_id.empty()) q(" AND r.pool_id = ").bind(f.pool_id);
  if (!f.policy_id.empty()) q(" AND r.policy_id = ").bind(f.policy_id);
  if (!f.username.empty()) q(" AND r.username = ").bind(f.username);
  if (f.start_time) q(" AND (r.end_time IS NULL OR r.end_time >= ").bind (*f.start_time)(")");
  if (f.end_time) q(" AND r.start_time <= ").bind(*f.end_time);
  if (f.status) q(" AND r.status = ").bind(to_string(*f.status));
  if (f.scope) rows::add_scope(q, *f.scope, "r.computer_id", "r.pool_id");
}

std::optional<Recording> load_recording(soci::session& s, std::string_view id) {
  Sql q("SELECT ");
  q(rows::kRecordingColumns)(rows::kRecordingFrom)(" WHERE r.id = ").bind(id);
  return rows::fetch_one<rows::RecordingRow>(s, q);
}

}  // namespace

Status SociCatalog::create_recording(const Recording& r) {
  if (r.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (r.computer_id.empty()) return fail(Errc::invalid_argument, "computer_id must not be empty", "computer_id");
  if (r.retention_days < 1) return fail(Errc::invalid_argument, "retention_days must be at least 1", "retention_days");
  if (r.end_time && *r.end_time < r.start_time) {
    return fail(Errc::invalid_argument, "end_time is before start_time", "end_time");
  }
  return run("create_recording", "a recording with id " + rows::quote_id(r.id) + " already exists",
             [&](sql::Session& s) -> Status {
               Sql q(
                   "INSERT INTO recordings (id, computer_id, computer_name, pool_id, policy_id, policy_name, "
                   "username, start_time, end_time, status, size_bytes, segment_count, duration_ms, retention_days, "
                   "expires_at, legal_hold, created_at) VALUES (");
               q.bind(r.id)(", ").bind(r.computer_id)(", ");
               // The snapshot name: the caller's, else the computer's current one.
               if (r.computer_name.empty()) {
                 q("COALESCE((SELECT c.name FROM computers c WHERE c.id = ").bind(r.computer_id)("), '')");
               } else {
                 q.bind(r.computer_name);
               }
               // The pool it is made in: the caller's, else the computer's
               // pool now (read in the same statement, so a concurrent move
               // lands wholly before or after).
               q(", ");
               if (r.pool_id) {
                 q.bind(r.pool_id);
               } else {
                 q("(SELECT c.pool_id FROM computers c WHERE c.id = ").bind(r.computer_id)(")");
               }
               q(", ").bind(r.policy_id)(", ").bind(r.policy_name)(", ").bind(r.username)(", ").bind(r.start_time);
               q(", ").bind(r.end_time)(", ").bind(to_string(r.status))(", ").bind(r.size_bytes)(", ");
               q.bind(r.segment_count)(", ").bind(r.duration_ms)(", ").bind(r.retention_days)(", ");
               q.bind(r.expires_at)(", ").bind(r.legal_hold)(", ").bind(r.created_at)(")");
               sql::exec(*s, q);
               return {};
             });
}

Result<Recording> SociCatalog::get_recording(std::string_view id) {
  return run("get_recording", "", [&](sql::Session& s) -> Result<Recording> {
    auto r = load_recording(*s, id);
    if (!r) return fail(Errc::not_found, "recording " + rows::quote_id(id) + " not found");
    return *r;
  });
}

Result<PageOf<Recording>> SociCatalog::list_recordings(const RecordingFilter& filter, const Page& page) {
  const int limit = clamp_limit(page.limit);
  std::optional<std::pair<std::int64_t, std::string>> after;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "r", 2);
    if (!fields) return std::unexpected(fields.error());
    auto start = page_token_int((*fields)[0]);
    if (!start) return std::unexpected(start.error());
    after.emplace(*start, (*fields)[1]);
  }
  return run("list_recordings", "", [&](sql::Session& s) -> Result<PageOf<Recording>> {
    Sql q("SELECT ");
    q(rows::kRecordingColumns);
    if (filter.has_event_filter()) first_match_column(q, filter);
    q(rows::kRecordingFrom);
    recording_where(q, filter);
    if (after) q(" AND (r.start_time, r.id) < (").bind(after->first)(", ").bind(after->second)(")");
    q(" ORDER BY r.start_time DESC, r.id DESC LIMIT " + std::to_string(limit + 1));
    const auto token = [](const Recording& r) { return encode_page_token("r", {std::to_string(r.start_time), r.id}); };
    if (filter.has_event_filter()) return make_page(rows::fetch_all<RecordingMatchRow>(*s, q), limit, token);
    return make_page(rows::fetch_all<rows::RecordingRow>(*s, q), limit, token);
  });
}

Result<std::int64_t> SociCatalog::count_recordings(const RecordingFilter& filter) {
  return run("count_recordings", "", [&](sql::Session& s) -> Result<std::int64_t> {
    Sql q("SELECT COUNT(*)");
    q(rows::kRecordingFrom);
    recording_where(q, filter);
    return sql::query_int(*s, q).value_or(0);
  });
}

Result<Recording> SociCatalog::finish_recording(std::string_view id, EpochMs end_time, RecordingStatus status) {
  if (status == RecordingStatus::recording) {
    return fail(Errc::invalid_argument, "a finished recording's status must be complete or interrupted", "status");
  }
  return run("finish_recording", "", [&](sql::Session& s) -> Result<Recording> {
    sql::Tx tx(*s, backend_);
    // Two passes at most: when a concurrent finish commits between our read
    // and our conditional UPDATE (PostgreSQL), the second pass sees its end.
    for (int pass = 0; pass < 2; ++pass) {
      auto r = load_recording(*s, id);
      if (!r) return fail(Errc::not_found, "recording " + rows::quote_id(id) + " not found");
      if (r->end_time) {
        // A retried finish (same end) succeeds; a different end is a clash.
        if (*r->end_time == end_time) return *r;
        return fail(Errc::conflict,
                    "recording " + rows::quote_id(id) + " already finished at " + format_rfc3339(*r->end_time));
      }
      if (end_time < r->start_time) return fail(Errc::invalid_argument, "end_time is before the recording's start");
      std::int64_t retention_ms = 0;
      std::int64_t expires = 0;
      if (__builtin_mul_overflow(static_cast<std::int64_t>(r->retention_days), kDayMs, &retention_ms) ||
          __builtin_add_overflow(end_time, retention_ms, &expires)) {
        return fail(Errc::invalid_argument, "end_time plus retention overflows");
      }
      Sql q("UPDATE recordings SET end_time = ");
      q.bind(end_time)(", status = ").bind(to_string(status))(", expires_at = ").bind(expires)(" WHERE id = ").bind(id);
      q(" AND end_time IS NULL");
      if (sql::exec(*s, q) == 0) continue;
      auto updated = load_recording(*s, id);
      tx.commit();
      if (!updated) return fail(Errc::internal, "recording " + rows::quote_id(id) + " vanished while finishing");
      return *updated;
    }
    return fail(Errc::unavailable, "recording " + rows::quote_id(id) + " is being finished concurrently; retry");
  });
}

Status SociCatalog::set_legal_hold(std::string_view id, bool hold) {
  return run("set_legal_hold", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE recordings SET legal_hold = ");
    q.bind(hold)(" WHERE id = ").bind(id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "recording " + rows::quote_id(id) + " not found");
    return {};
  });
}

Result<std::vector<Recording>> SociCatalog::list_expired_recordings(EpochMs now, int limit) {
  const int n = std::clamp(limit, 1, 1000);
  return run("list_expired_recordings", "", [&](sql::Session& s) -> Result<std::vector<Recording>> {
    Sql q("SELECT ");
    q(rows::kRecordingColumns)(rows::kRecordingFrom)(" WHERE r.expires_at IS NOT NULL AND r.expires_at <= ");
    q.bind(now)(" AND r.legal_hold = 0 ORDER BY r.expires_at, r.id LIMIT " + std::to_string(n));
    return rows::fetch_all<rows::RecordingRow>(*s, q);
  });
}

Status SociCatalog::delete_recording(std::string_view id) {
  return run("delete_recording", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    sql::exec(*s, "DELETE FROM recording_events WHERE recording_id = ", id);
    sql::exec(*s, "DELETE FROM event_documents WHERE recording_id = ", id);
    sql::exec(*s, "DELETE FROM segments WHERE recording_id = ", id);
    sql::exec(*s, "DELETE FROM recordings WHERE id = ", id);
    tx.commit();
    return {};
  });
}

Result<SegmentOutcome> SociCatalog::add_segment(const Segment& g) {
  if (g.seq < 0) return fail(Errc::invalid_argument, "segment seq must be >= 0", "seq");
  if (g.size_bytes < 0) return fail(Errc::invalid_argument, "segment size_bytes must be >= 0", "size_bytes");
  if (g.duration_ms < 0 || g.start_offset_ms < 0) {
    return fail(Errc::invalid_argument, "segment duration and offset must be >= 0", "duration_ms");
  }
  if (!is_sha256_hex(g.sha256)) {
    return fail(Errc::invalid_argument, "segment sha256 must be 64 lowercase hex characters", "sha256");
  }
  if (g.events_sha256 && !is_sha256_hex(*g.events_sha256)) {
    return fail(Errc::invalid_argument, "segment events_sha256 must be 64 lowercase hex characters", "events_sha256");
  }
  return run("add_segment", "", [&](sql::Session& s) -> Result<SegmentOutcome> {
    sql::Tx tx(*s, backend_);
    if (!rows::row_exists(*s, "recordings", g.recording_id)) {
      return fail(Errc::not_found, "recording " + rows::quote_id(g.recording_id) + " not found");
    }
    // ON CONFLICT DO NOTHING instead of catching a unique violation: on
    // PostgreSQL a failed statement would abort the whole transaction, and a
    // concurrent insert of the same seq waits here for the other to commit.
    Sql ins(
        "INSERT INTO segments (recording_id, seq, object_key, size_bytes, sha256, start_offset_ms, duration_ms, "
        "index_json, created_at, events_sha256, signature_key_id, signature) VALUES (");
    ins.bind(g.recording_id)(", ").bind(g.seq)(", ").bind(g.object_key)(", ").bind(g.size_bytes)(", ");
    ins.bind(g.sha256)(", ").bind(g.start_offset_ms)(", ").bind(g.duration_ms)(", ").bind(g.index_json)(", ");
    ins.bind(g.created_at)(", ").bind(g.events_sha256)(", ").bind(g.signature_key_id)(", ").bind(g.signature);
    ins(") ON CONFLICT (recording_id, seq) DO NOTHING");
    if (sql::exec(*s, ins) == 0) {
      Sql existing("SELECT ");
      existing(rows::kSegmentColumns)(" FROM segments s WHERE s.recording_id = ").bind(g.recording_id);
      existing(" AND s.seq = ").bind(g.seq);
      const auto stored = rows::fetch_one<rows::SegmentRow>(*s, existing);
      if (stored && stored->sha256 == g.sha256 && stored->events_sha256 == g.events_sha256) {
        return SegmentOutcome::already_present;
      }
      if (stored && stored->sha256 == g.sha256) {
        return fail(Errc::conflict, "segment " + std::to_string(g.seq) + " of recording " +
                                        rows::quote_id(g.recording_id) + " is already stored with " +
                                        (stored->events_sha256 ? "another events document" : "no events document"));
      }
      return fail(Errc::conflict, "segment " + std::to_string(g.seq) + " of recording " +
                                      rows::quote_id(g.recording_id) + " already exists with different content");
    }
    Sql totals("UPDATE recordings SET size_bytes = size_bytes + ");
    totals.bind(g.size_bytes)(", segment_count = segment_count + 1, duration_ms = duration_ms + ").bind(g.duration_ms);
    totals(" WHERE id = ").bind(g.recording_id);
    sql::exec(*s, totals);
    tx.commit();
    return SegmentOutcome::inserted;
  });
}

Result<Segment> SociCatalog::get_segment(std::string_view recording_id, std::int64_t seq) {
  Sql q("SELECT ");
  q(rows::kSegmentColumns)(" FROM segments s WHERE s.recording_id = ").bind(recording_id)(" AND s.seq = ").bind(seq);
  return fetch_required<rows::SegmentRow>(
      "get_segment", std::move(q),
      "segment " + std::to_string(seq) + " of recording " + rows::quote_id(recording_id) + " not found");
}

Result<std::vector<Segment>> SociCatalog::list_segments(std::string_view recording_id) {
  return run("list_segments", "", [&](sql::Session& s) -> Result<std::vector<Segment>> {
    Sql q("SELECT ");
    q(rows::kSegmentColumns)(" FROM segments s WHERE s.recording_id = ").bind(recording_id)(" ORDER BY s.seq");
    return rows::fetch_all<rows::SegmentRow>(*s, q);
  });
}

// --- agent signing keys ----------------------------------------------------------

Result<bool> SociCatalog::add_agent_key(const AgentKey& k) {
  if (k.key_id.empty() || k.computer_id.empty() || k.public_key.empty()) {
    return fail(Errc::invalid_argument, "agent key id, computer id and public key must not be empty");
  }
  return run("add_agent_key", "", [&](sql::Session& s) -> Result<bool> {
    sql::Tx tx(*s, backend_);
    Sql existing("SELECT ");
    existing(rows::kAgentKeyColumns)(" FROM agent_keys k WHERE k.key_id = ").bind(k.key_id);
    if (auto row = rows::fetch_one<rows::AgentKeyRow>(*s, existing)) {
      if (row->computer_id != k.computer_id) {
        return fail(Errc::conflict, "this public key is registered for another computer");
      }
      if (row->retired_at) return fail(Errc::conflict, "this public key was retired; make a new key pair");
      return false;
    }
    Sql retire("UPDATE agent_keys SET retired_at = ");
    retire.bind(k.created_at)(" WHERE computer_id = ").bind(k.computer_id)(" AND retired_at IS NULL");
    sql::exec(*s, retire);
    Sql ins("INSERT INTO agent_keys (key_id, computer_id, public_key, created_at, retired_at) VALUES (");
    ins.bind(k.key_id)(", ").bind(k.computer_id)(", ").bind(k.public_key)(", ").bind(k.created_at)(", NULL)");
    sql::exec(*s, ins);
    tx.commit();
    return true;
  });
}

Result<AgentKey> SociCatalog::get_agent_key(std::string_view key_id) {
  Sql q("SELECT ");
  q(rows::kAgentKeyColumns)(" FROM agent_keys k WHERE k.key_id = ").bind(key_id);
  return fetch_required<rows::AgentKeyRow>("get_agent_key", std::move(q),
                                           "agent key " + rows::quote_id(key_id) + " not found");
}

Result<std::vector<AgentKey>> SociCatalog::list_agent_keys(std::string_view computer_id) {
  return run("list_agent_keys", "", [&](sql::Session& s) -> Result<std::vector<AgentKey>> {
    Sql q("SELECT ");
    q(rows::kAgentKeyColumns)(" FROM agent_keys k WHERE k.computer_id = ").bind(computer_id);
    q(" ORDER BY k.created_at, k.key_id");
    return rows::fetch_all<rows::AgentKeyRow>(*s, q);
  });
}

}  // namespace deskaudit::catalog
