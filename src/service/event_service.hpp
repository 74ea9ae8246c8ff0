#pragma once
// Activity events (docs/api.md, "Activity events"): the per-segment events
// documents agents upload, and reading them.
//
// Upload (agent): accept_document checks the document (events::
// parse_document), stores it as an object (storage::events_key, under the
// recording's prefix, so the recording's one delete procedure removes it)
// and then its rows (catalog add_event_document), idempotent by
// (recording, seq) with the same bytes, conflict with other bytes or when
// the segment is already stored without this document. The agent then
// uploads the segment naming the document's hash (AgentService), so the
// segment's hash covers the document and a document is never replaced.
//
// Reading (administrators): an event is visible exactly to those who may
// list its recording (recording:list where the recording was made, as
// RecordingService::find); a recording outside the caller's scope is
// not_found, and the search across recordings is limited to that scope.
// Reading a recording's events is a look at it: audited as
// recording.events once per viewer and recording within audit_window_ms
// (LookLog), before anything is returned; every search is audited as
// event.search with its filters. Either entry failing to be written fails
// the call (unavailable).
//
// Thread-safe as the catalog and object store are.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"
#include "service/look_log.hpp"
#include "service/recording_service.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::service {

struct EventSettings {
  EpochMs audit_window_ms = 10 * 60'000;
};

// An events document body received whole (at most events::kMaxDocumentBytes).
struct ReceivedEvents {
  std::int64_t seq = 0;
  std::string claimed_sha256;  // X-Content-SHA256
  std::string body;
};

struct EventsAccepted {
  catalog::EventDocument document;
  bool inserted = false;  // false: the same bytes were already stored
};

struct RecordingEvents {
  catalog::Recording recording;  // the events' wall time is its start_time + t_ms
  std::vector<catalog::RecordingEvent> items;
  std::string next_token;
};

// Page sizes of the event listings: default and largest.
inline constexpr int kEventPageDefault = 200;
inline constexpr int kEventPageMax = 1000;

class EventService {
 public:
  EventService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
               std::shared_ptr<const Clock> clock, RecordingService& recordings, EventSettings settings = {});

  // `recording` is the agent's own, admitted by AgentService::admit_upload
  // (open, within the upload budget). unprocessable when the body's hash is
  // not the claimed one (field X-Content-SHA256) or the document is invalid
  // (field names the first problem, "events[17].t_ms"); too_large over
  // events::kMaxDocumentBytes.
  Result<EventsAccepted> accept_document(const Caller& agent, const catalog::Recording& recording,
                                         const ReceivedEvents& events);

  // A recording's events, ascending by media time. invalid_argument for an
  // unknown type or from_ms after to_ms.
  Result<RecordingEvents> list(const Caller& who, std::string_view recording_id, const catalog::EventFilter& filter,
                               const catalog::Page& page);
  // Events across the recordings the caller may list, newest first. The
  // search's `scope` is ignored: the caller's recording:list scope applies.
  Result<catalog::PageOf<catalog::EventHit>> search(const Caller& who, const catalog::EventSearch& search,
                                                    const catalog::Page& page);

 private:
  catalog::Catalog& catalog_;
  storage::ObjectStore& store_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  RecordingService& recordings_;
  LookLog looks_;
};

// invalid_argument (field "type") unless every type is an event type.
Status check_event_types(const std::vector<std::string>& types);

}  // namespace deskaudit::service
