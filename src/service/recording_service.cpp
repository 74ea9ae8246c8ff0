#include "service/recording_service.hpp"

#include <spdlog/spdlog.h>

#include "storage/layout.hpp"

namespace deskaudit::service {

using catalog::Recording;

RecordingService::RecordingService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                                   std::shared_ptr<const Clock> clock)
    : catalog_(catalog), store_(store), audit_(audit), clock_(std::move(clock)) {}

Result<RecordingList> RecordingService::list(const Caller& who, const RecordingQuery& query, const catalog::Page& page,
                                             CountTotal count) {
  if (query.start_time && query.end_time && *query.end_time < *query.start_time) {
    return fail(Errc::invalid_argument, "end_time is before start_time", "end_time");
  }
  catalog::RecordingFilter f = query;
  f.scope = who.grants.scope(auth::perm::recording_list);
  auto listed = catalog_.list_recordings(f, page);
  if (!listed) return std::unexpected(listed.error());
  if (query.has_event_filter()) {
    nlohmann::json filters = {{"results", listed->items.size()}, {"listing", "recordings"}};
    if (!query.app.empty()) filters["app"] = query.app;
    if (!query.window_title.empty()) filters["window_title"] = query.window_title;
    if (auto st = audit_.record_required(who, "event.search", "recordings", filters); !st) {
      return std::unexpected(st.error());
    }
  }
  RecordingList out{std::move(listed->items), std::move(listed->next_token), std::nullopt};
  if (count == CountTotal::yes) {
    auto n = catalog_.count_recordings(f);
    if (!n) return std::unexpected(n.error());
    out.total = *n;
  }
  return out;
}

Result<Recording> RecordingService::find(const Caller& who, std::string_view id, std::string_view permission) {
  auto rec = catalog_.get_recording(id);
  if (!rec) return std::unexpected(rec.error());
  if (!who.grants.allows(permission, rec->computer_id, rec->pool_id)) {
    return fail(Errc::not_found, "no recording " + std::string(id));
  }
  return rec;
}

Result<RecordingDetails> RecordingService::details(const Caller& who, std::string_view id) {
  auto rec = find(who, id, auth::perm::recording_list);
  if (!rec) return std::unexpected(rec.error());
  auto segments = catalog_.list_segments(rec->id);
  if (!segments) return std::unexpected(segments.error());
  return RecordingDetails{std::move(*rec), std::move(*segments)};
}

Result<Recording> RecordingService::set_legal_hold(const Caller& who, std::string_view id, LegalHold hold) {
  auto rec = find(who, id, auth::perm::recording_delete);
  if (!rec) return std::unexpected(rec.error());
  const bool held = hold == LegalHold::hold;
  if (auto st = catalog_.set_legal_hold(rec->id, held); !st) return std::unexpected(st.error());
  audit_.record(who, held ? "recording.hold" : "recording.release", rec->id, {{"computer_id", rec->computer_id}});
  rec->legal_hold = held;
  return rec;
}

Status RecordingService::remove(const Caller& who, std::string_view id) {
  auto rec = find(who, id, auth::perm::recording_delete);
  if (!rec) return std::unexpected(rec.error());
  auto objects = erase(rec->id);
  if (!objects) return std::unexpected(objects.error());
  audit_.record(who, "recording.delete", rec->id,
                {{"computer_id", rec->computer_id}, {"username", rec->username}, {"objects", *objects}});
  return {};
}

Result<int> RecordingService::sweep_expired() {
  int deleted = 0;
  for (;;) {
    auto expired = catalog_.list_expired_recordings(clock_->now_ms(), 100);
    if (!expired) return std::unexpected(expired.error());
    if (expired->empty()) return deleted;
    const int before = deleted;
    for (const auto& rec : *expired) {
      auto objects = erase(rec.id);
      if (!objects) {
        // Held or deleted since the listing: skipped, neither is listed again.
        if (objects.error().code == Errc::conflict || objects.error().code == Errc::not_found) continue;
        return std::unexpected(objects.error());
      }
      audit_.record_as("system", "recording.expire", rec.id,
                       {{"computer_id", rec.computer_id},
                        {"username", rec.username},
                        {"expires_at", rec.expires_at ? format_rfc3339(*rec.expires_at) : ""},
                        {"objects", *objects}});
      ++deleted;
    }
    if (deleted == before) return deleted;  // a batch of skipped ones only: the next run sees a fresh list
  }
}

Result<std::size_t> RecordingService::erase(std::string_view id) {
  auto rec = catalog_.get_recording(id);
  if (!rec) return std::unexpected(rec.error());
  if (rec->legal_hold) {
    return fail(Errc::conflict, "recording " + rec->id + " is under legal hold; release it first");
  }
  auto prefix = storage::recording_prefix(rec->computer_id, rec->id);
  if (!prefix) return std::unexpected(prefix.error());
  std::size_t removed = 0;
  const auto remove_all = [&]() -> Status {
    auto objects = store_.list(*prefix);
    if (!objects) return std::unexpected(objects.error());
    for (const auto& o : *objects) {
      if (auto st = store_.remove(o.key); !st) return st;
      ++removed;
    }
    return {};
  };
  if (auto st = remove_all(); !st) return std::unexpected(st.error());
  if (auto st = catalog_.delete_recording(rec->id); !st) return std::unexpected(st.error());
  if (auto st = remove_all(); !st) {
    // The recording is deleted (its rows are gone); only objects of an
    // upload that raced the deletion may be left, and nothing finds them.
    spdlog::error("recording {} deleted, but removing objects stored during its deletion under {} failed: {}", rec->id,
                  *prefix, st.error().message);
  }
  return removed;
}

}  // namespace deskaudit::service
