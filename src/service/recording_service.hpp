#pragma once
// Recordings as administrators see them: finding and listing within the
// caller's scope, details, legal hold, deletion, and the retention sweep.
//
// Scope: a recording is visible under a permission when the caller holds it
// on the recording's computer or on the pool the computer was in when the
// recording was made (Recording::pool_id). A recording outside the caller's
// scope is not_found, exactly as an absent one: scoped administrators learn
// nothing about other pools.
//
// Deleting a recording (DELETE and the retention sweep share one procedure):
//  1. Re-read the row; a recording under legal hold is refused (conflict),
//     so a hold placed after the sweeper listed its batch still wins.
//  2. Remove every object under storage::recording_prefix().
//  3. Delete the catalog rows (recording and segments).
//  4. Remove what an upload in flight put under the prefix meanwhile.
// Objects go before rows because the rows are the only index to the
// objects. Rows first, a crash in between would leave screen contents stored
// with nothing that points at them: kept past their retention, invisible to
// every listing and to the sweeper, forever. Objects first, a crash in
// between leaves rows whose objects are partly gone: playing it fails
// (not_found/corrupt) but the recording is still listed, the sweeper finds it
// again while it is expired, and DELETE finds it again otherwise; every step
// is idempotent (removing an absent object and deleting absent rows both
// succeed), so rerunning the procedure finishes it. The second pass (4)
// catches a segment whose upload stored its object after the first listing
// but before the rows went; an upload that stores later finds no row
// (catalog add_segment answers not_found) and must remove its object
// itself. No order of two stores without a
// shared transaction avoids both outcomes; this one leaves only the outcome
// that is found and repaired.
//
// Thread safety: as the catalog and object store (every method may be called
// from many threads at once).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::service {

// Filters of a listing; its `scope` is ignored: the service sets the
// caller's recording:list scope.
using RecordingQuery = catalog::RecordingFilter;

enum class CountTotal { no, yes };

struct RecordingList {
  std::vector<catalog::Recording> items;
  std::string next_token;             // empty on the last page
  std::optional<std::int64_t> total;  // with CountTotal::yes
};

struct RecordingDetails {
  catalog::Recording recording;
  std::vector<catalog::Segment> segments;  // by seq
};

enum class LegalHold { release, hold };

class RecordingService {
 public:
  RecordingService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                   std::shared_ptr<const Clock> clock);

  // Newest first, within the caller's recording:list scope.
  // invalid_argument when end_time is before start_time. With an event
  // filter (app, window_title) each recording carries first_match_ms and
  // the search is audited (event.search; unavailable when that fails).
  Result<RecordingList> list(const Caller& who, const RecordingQuery& query, const catalog::Page& page,
                             CountTotal count = CountTotal::no);
  // The recording if the caller holds `permission` where it was made;
  // not_found otherwise.
  Result<catalog::Recording> find(const Caller& who, std::string_view id, std::string_view permission);
  // The recording and its segments (recording:list).
  Result<RecordingDetails> details(const Caller& who, std::string_view id);
  // Places or releases a legal hold (recording:delete scope); audited as
  // recording.hold / recording.release. Returns the updated recording.
  Result<catalog::Recording> set_legal_hold(const Caller& who, std::string_view id, LegalHold hold);
  // Deletes now (recording:delete scope) by the procedure above; conflict
  // under legal hold. Audited as recording.delete.
  Status remove(const Caller& who, std::string_view id);
  // Deletes every recording whose expiry has passed and that is not under
  // legal hold, by the procedure above, as actor "system" (recording.expire).
  // Returns how many were deleted; stops at the first failure.
  Result<int> sweep_expired();

 private:
  // The procedure above; returns how many objects were removed.
  Result<std::size_t> erase(std::string_view id);

  catalog::Catalog& catalog_;
  storage::ObjectStore& store_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
};

}  // namespace deskaudit::service
