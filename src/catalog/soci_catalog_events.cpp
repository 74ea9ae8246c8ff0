// Activity events of SociCatalog: event documents, their rows, and the
// listings over them.
#include <algorithm>

#include "catalog/page_token.hpp"
#include "catalog/rows.hpp"
#include "catalog/soci_catalog.hpp"
#include "common/crypto.hpp"

namespace deskaudit::catalog {

using sql::Sql;

namespace {

// Rows per multi-row INSERT: 12 values each stays under SQLite's oldest
// bound-parameter cap (999).
constexpr std::size_t kEventInsertRows = 60;

int clamp_event_limit(int limit) { return std::clamp(limit, 1, 1000); }

std::string segment_name(std::string_view recording_id, std::int64_t seq) {
  return "segment " + std::to_string(seq) + " of recording " + rows::quote_id(recording_id);
}

void insert_events(soci::session& s, const EventDocument& d, EpochMs recording_start,
                   const std::vector<events::Event>& events) {
  for (std::size_t from = 0; from < events.size(); from += kEventInsertRows) {
    Sql q(
        "INSERT INTO recording_events (recording_id, seq, idx, t_ms, event_time, type, title, app, process, pid, "
        "width, height) VALUES ");
    const std::size_t to = std::min(events.size(), from + kEventInsertRows);
    for (std::size_t i = from; i < to; ++i) {
      const auto& e = events[i];
      q(i == from ? "(" : ", (").bind(d.recording_id)(", ").bind(d.seq)(", ").bind(static_cast<std::int64_t>(i));
      q(", ").bind(e.t_ms)(", ").bind(recording_start + e.t_ms)(", ").bind(e.type)(", ").bind(e.title)(", ");
      q.bind(e.app)(", ").bind(e.process)(", ").bind(e.pid)(", ").bind(e.width)(", ").bind(e.height)(")");
    }
    sql::exec(s, q);
  }
}

void add_types(Sql& q, const std::vector<std::string>& types) {
  if (!types.empty()) q(" AND e.type IN (").bind_list(types)(")");
}

}  // namespace

Result<SegmentOutcome> SociCatalog::add_event_document(const EventDocument& d,
                                                       const std::vector<events::Event>& events) {
  if (d.seq < 0) return fail(Errc::invalid_argument, "seq must be >= 0", "seq");
  if (!is_sha256_hex(d.sha256)) {
    return fail(Errc::invalid_argument, "events sha256 must be 64 lowercase hex characters", "sha256");
  }
  if (d.event_count != static_cast<std::int64_t>(events.size())) {
    return fail(Errc::invalid_argument, "event_count does not match the events", "event_count");
  }
  return run("add_event_document", "", [&](sql::Session& s) -> Result<SegmentOutcome> {
    sql::Tx tx(*s, backend_);
    Sql start("SELECT start_time FROM recordings WHERE id = ");
    start.bind(d.recording_id);
    const auto recording_start = sql::query_int(*s, start);
    if (!recording_start) return fail(Errc::not_found, "recording " + rows::quote_id(d.recording_id) + " not found");
    Sql segment("SELECT COALESCE(events_sha256, '') FROM segments WHERE recording_id = ");
    segment.bind(d.recording_id)(" AND seq = ").bind(d.seq);
    if (const auto stored = sql::query_text(*s, segment); stored && *stored != d.sha256) {
      return fail(Errc::conflict, segment_name(d.recording_id, d.seq) + " is already stored " +
                                      (stored->empty() ? "without events" : "with another events document"));
    }
    Sql ins(
        "INSERT INTO event_documents (recording_id, seq, object_key, sha256, size_bytes, event_count, created_at) "
        "VALUES (");
    ins.bind(d.recording_id)(", ").bind(d.seq)(", ").bind(d.object_key)(", ").bind(d.sha256)(", ");
    ins.bind(d.size_bytes)(", ").bind(d.event_count)(", ").bind(d.created_at)(") ON CONFLICT (recording_id, seq) DO NOTHING");
    if (sql::exec(*s, ins) == 0) {
      Sql existing("SELECT sha256 FROM event_documents WHERE recording_id = ");
      existing.bind(d.recording_id)(" AND seq = ").bind(d.seq);
      if (sql::query_text(*s, existing) == d.sha256) return SegmentOutcome::already_present;
      return fail(Errc::conflict, "the events document of " + segment_name(d.recording_id, d.seq) +
                                      " is already stored with other bytes");
    }
    insert_events(*s, d, *recording_start, events);
    tx.commit();
    return SegmentOutcome::inserted;
  });
}

Result<EventDocument> SociCatalog::get_event_document(std::string_view recording_id, std::int64_t seq) {
  Sql q("SELECT ");
  q(rows::kEventDocumentColumns)(" FROM event_documents d WHERE d.recording_id = ").bind(recording_id);
  q(" AND d.seq = ").bind(seq);
  return fetch_required<rows::EventDocumentRow>("get_event_document", std::move(q),
                                                "no events document of " + segment_name(recording_id, seq));
}

Result<PageOf<RecordingEvent>> SociCatalog::list_recording_events(std::string_view recording_id,
                                                                  const EventFilter& f, const Page& page) {
  const int limit = clamp_event_limit(page.limit);
  std::optional<std::array<std::int64_t, 3>> after;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "ev", 3);
    if (!fields) return std::unexpected(fields.error());
    std::array<std::int64_t, 3> key{};
    for (std::size_t i = 0; i < 3; ++i) {
      auto v = page_token_int((*fields)[i]);
      if (!v) return std::unexpected(v.error());
      key[i] = *v;
    }
    after = key;
  }
  return run("list_recording_events", "", [&](sql::Session& s) -> Result<PageOf<RecordingEvent>> {
    Sql q("SELECT ");
    q(rows::kEventColumns)(rows::kStoredEventsFrom)(" WHERE e.recording_id = ").bind(recording_id);
    add_types(q, f.types);
    if (f.from_ms) q(" AND e.t_ms >= ").bind(*f.from_ms);
    if (f.to_ms) q(" AND e.t_ms <= ").bind(*f.to_ms);
    if (after) {
      q(" AND (e.t_ms, e.seq, e.idx) > (").bind((*after)[0])(", ").bind((*after)[1])(", ").bind((*after)[2])(")");
    }
    q(" ORDER BY e.t_ms, e.seq, e.idx LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::EventRow>(*s, q), limit, [](const RecordingEvent& e) {
      return encode_page_token("ev", {std::to_string(e.event.t_ms), std::to_string(e.seq), std::to_string(e.idx)});
    });
  });
}

Result<PageOf<EventHit>> SociCatalog::search_events(const EventSearch& f, const Page& page) {
  const int limit = clamp_event_limit(page.limit);
  struct After {
    std::int64_t time = 0;
    std::string recording_id;
    std::int64_t seq = 0, idx = 0;
  };
  std::optional<After> after;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "es", 4);
    if (!fields) return std::unexpected(fields.error());
    auto time = page_token_int((*fields)[0]);
    auto seq = page_token_int((*fields)[2]);
    auto idx = page_token_int((*fields)[3]);
    if (!time) return std::unexpected(time.error());
    if (!seq) return std::unexpected(seq.error());
    if (!idx) return std::unexpected(idx.error());
    after = After{*time, (*fields)[1], *seq, *idx};
  }
  return run("search_events", "", [&](sql::Session& s) -> Result<PageOf<EventHit>> {
    Sql q("SELECT ");
    q(rows::kEventColumns)(", ")(rows::kEventHitColumns)(rows::kStoredEventsFrom);
    q(" JOIN recordings r ON r.id = e.recording_id LEFT JOIN computers c ON c.id = r.computer_id WHERE 1 = 1");
    if (!f.computer_id.empty()) q(" AND r.computer_id = ").bind(f.computer_id);
    if (!f.pool_id.empty()) q(" AND r.pool_id = ").bind(f.pool_id);
    if (!f.username.empty()) q(" AND r.username = ").bind(f.username);
    rows::event_match(q, f.app, f.window_title);
    add_types(q, f.types);
    if (f.start_time) q(" AND e.event_time >= ").bind(*f.start_time);
    if (f.end_time) q(" AND e.event_time <= ").bind(*f.end_time);
    if (f.scope) rows::add_scope(q, *f.scope, "r.computer_id", "r.pool_id");
    if (after) {
      q(" AND (e.event_time, e.recording_id, e.seq, e.idx) < (").bind(after->time)(", ").bind(after->recording_id);
      q(", ").bind(after->seq)(", ").bind(after->idx)(")");
    }
    q(" ORDER BY e.event_time DESC, e.recording_id DESC, e.seq DESC, e.idx DESC LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::EventHitRow>(*s, q), limit, [](const EventHit& h) {
      return encode_page_token("es", {std::to_string(h.recording_start + h.event.event.t_ms), h.event.recording_id,
                                      std::to_string(h.event.seq), std::to_string(h.event.idx)});
    });
  });
}

}  // namespace deskaudit::catalog
