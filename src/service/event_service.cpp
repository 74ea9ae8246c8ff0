#include "service/event_service.hpp"

#include <span>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "events/events.hpp"
#include "storage/layout.hpp"

namespace deskaudit::service {

using catalog::SegmentOutcome;

Status check_event_types(const std::vector<std::string>& types) {
  for (const auto& t : types) {
    if (!events::is_event_type(t)) {
      std::string names;
      for (auto n : events::kEventTypes) names += (names.empty() ? "" : ", ") + std::string(n);
      return fail(Errc::invalid_argument, "unknown event type \"" + t + "\"; the types are " + names, "type");
    }
  }
  return {};
}

EventService::EventService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                           std::shared_ptr<const Clock> clock, RecordingService& recordings, EventSettings settings)
    : catalog_(catalog),
      store_(store),
      audit_(audit),
      clock_(std::move(clock)),
      recordings_(recordings),
      looks_(audit, clock_, settings.audit_window_ms) {}

Result<EventsAccepted> EventService::accept_document(const Caller& agent, const catalog::Recording& rec,
                                                     const ReceivedEvents& in) {
  if (rec.computer_id != agent.computer_id) return fail(Errc::not_found, "no recording " + rec.id + " on this computer");
  const auto sha = sha256_hex(in.body);
  if (sha != in.claimed_sha256) {
    return fail(Errc::unprocessable, "SHA-256 of the body is " + sha + ", not " + in.claimed_sha256,
                "X-Content-SHA256");
  }
  auto doc = events::parse_document(in.body, rec.id, in.seq);
  if (!doc) return std::unexpected(doc.error());
  // A retry of stored bytes is answered without storing anything again.
  if (auto existing = catalog_.get_event_document(rec.id, in.seq)) {
    if (existing->sha256 == sha) return EventsAccepted{std::move(*existing), false};
    return fail(Errc::conflict, "the events document of segment " + std::to_string(in.seq) + " of " + rec.id +
                                    " is already stored with other bytes");
  } else if (existing.error().code != Errc::not_found) {
    return std::unexpected(existing.error());
  }
  auto key = storage::events_key(rec.computer_id, rec.id, in.seq, sha);
  if (!key) return std::unexpected(key.error());
  catalog::EventDocument stored{rec.id,
                                in.seq,
                                *key,
                                sha,
                                static_cast<std::int64_t>(in.body.size()),
                                static_cast<std::int64_t>(doc->events.size()),
                                clock_->now_ms()};
  // The object first: a catalog row never points at a missing object.
  if (auto st = store_.put_bytes(*key, std::as_bytes(std::span(in.body.data(), in.body.size()))); !st) {
    return std::unexpected(st.error());
  }
  auto added = catalog_.add_event_document(stored, doc->events);
  if (!added) {
    // Lost a race with other bytes, the segment went in without it, or the
    // recording was deleted meanwhile: nothing will point at the object.
    if (added.error().code == Errc::conflict || added.error().code == Errc::not_found) (void)store_.remove(*key);
    return std::unexpected(added.error());
  }
  return EventsAccepted{std::move(stored), *added == SegmentOutcome::inserted};
}

Result<RecordingEvents> EventService::list(const Caller& who, std::string_view recording_id,
                                           const catalog::EventFilter& filter, const catalog::Page& page) {
  auto rec = recordings_.find(who, recording_id, auth::perm::recording_list);
  if (!rec) return std::unexpected(rec.error());
  if (auto st = check_event_types(filter.types); !st) return std::unexpected(st.error());
  if (filter.from_ms && filter.to_ms && *filter.to_ms < *filter.from_ms) {
    return fail(Errc::invalid_argument, "to_ms is before from_ms", "to_ms");
  }
  auto listed = catalog_.list_recording_events(rec->id, filter, page);
  if (!listed) return std::unexpected(listed.error());
  if (auto st = looks_.record(who, "recording.events", *rec, {{"computer_id", rec->computer_id}}); !st) {
    return std::unexpected(st.error());
  }
  return RecordingEvents{std::move(*rec), std::move(listed->items), std::move(listed->next_token)};
}

Result<catalog::PageOf<catalog::EventHit>> EventService::search(const Caller& who, const catalog::EventSearch& search,
                                                                const catalog::Page& page) {
  if (auto st = check_event_types(search.types); !st) return std::unexpected(st.error());
  if (search.start_time && search.end_time && *search.end_time < *search.start_time) {
    return fail(Errc::invalid_argument, "to is before from", "to");
  }
  catalog::EventSearch scoped = search;
  scoped.scope = who.grants.scope(auth::perm::recording_list);
  auto found = catalog_.search_events(scoped, page);
  if (!found) return std::unexpected(found.error());
  nlohmann::json filters = nlohmann::json::object();
  for (const auto& [name, value] : {std::pair{"computer_id", &search.computer_id}, {"pool_id", &search.pool_id},
                                    {"username", &search.username}, {"app", &search.app},
                                    {"window_title", &search.window_title}}) {
    if (!value->empty()) filters[name] = *value;
  }
  if (!search.types.empty()) filters["type"] = search.types;
  if (search.start_time) filters["from"] = format_rfc3339(*search.start_time);
  if (search.end_time) filters["to"] = format_rfc3339(*search.end_time);
  filters["results"] = found->items.size();
  if (auto st = audit_.record_required(who, "event.search", "events", filters); !st) return std::unexpected(st.error());
  return found;
}

}  // namespace deskaudit::service
