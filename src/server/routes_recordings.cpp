// Finding, playing, downloading and deleting recordings: each handler parses
// the request, calls RecordingService or MediaService (scope, legal hold,
// deletion and the audit entries live there) and renders the result. A
// recording outside the caller's scope looks absent (404) on every route.
#include <charconv>

#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

// The service's reader as the transport's content provider (which serves
// Range requests from it).
ContentProvider provider_of(service::RangeReader read) {
  return [read = std::move(read)](std::size_t offset, std::size_t length, Sink& sink) {
    return read(offset, length, [&](std::span<const std::byte> b) {
      return sink.write(reinterpret_cast<const char*>(b.data()), b.size());
    });
  };
}

Status list_recordings(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  service::RecordingQuery q;
  q.computer_id = ctx.query("computer_id");
  q.pool_id = ctx.query("pool_id");
  q.policy_id = ctx.query("policy_id");
  q.username = ctx.query("username");
  auto start = time_query(ctx, "start_time");
  if (!start) return std::unexpected(start.error());
  auto end = time_query(ctx, "end_time");
  if (!end) return std::unexpected(end.error());
  q.start_time = *start;
  q.end_time = *end;
  if (ctx.has_query("status") && !ctx.query("status").empty()) {
    q.status = recording_status_from(ctx.query("status"));
    if (!q.status) return fail(Errc::invalid_argument, "status must be recording, complete or interrupted", "status");
  }
  const auto count = ctx.query("count") == "true" ? service::CountTotal::yes : service::CountTotal::no;
  auto list = s.recordings->list(caller_of(ctx.principal), q, *page, count);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& r : list->items) items.push_back(to_json(r));
  Json out = page_json(items, list->next_token);
  if (list->total) out["total"] = *list->total;
  ctx.reply(out);
  return {};
}

Status recording_details(Services& s, Context& ctx) {
  auto d = s.recordings->details(caller_of(ctx.principal), ctx.param(1));
  if (!d) return std::unexpected(d.error());
  Json j = to_json(d->recording);
  Json segs = Json::array();
  for (const auto& seg : d->segments) segs.push_back(to_json(seg));
  j["segments"] = segs;
  add_media_summary(j, d->segments);
  ctx.reply(j);
  return {};
}

Status playlist(Services& s, Context& ctx) {
  auto p = s.media->playlist(caller_of(ctx.principal), ctx.param(1));
  if (!p) return std::unexpected(p.error());
  // hls.js re-reads a live playlist every few seconds.
  ctx.res.set_header("Cache-Control", p->ended ? "private, max-age=60" : "no-cache");
  ctx.res.set_content(std::move(p->text), "application/vnd.apple.mpegurl");
  return {};
}

Status download(Services& s, Context& ctx) {
  const auto extent = ctx.req.has_header("Range") ? service::ReadExtent::range : service::ReadExtent::whole;
  auto file = s.media->download(caller_of(ctx.principal), ctx.param(1), extent);
  if (!file) return std::unexpected(file.error());
  ctx.res.set_header("Content-Disposition", "attachment; filename=\"" + file->file_name + "\"");
  ctx.res.set_header("Cache-Control", "private, no-store");
  ctx.res.set_content_provider(file->size_bytes, "video/mp4", provider_of(std::move(file->read)));
  return {};
}

Status evidence_package(Services& s, Context& ctx) {
  auto file = s.evidence->export_package(caller_of(ctx.principal), ctx.param(1));
  if (!file) return std::unexpected(file.error());
  ctx.res.set_header("Content-Disposition", "attachment; filename=\"" + file->file_name + "\"");
  ctx.res.set_header("Cache-Control", "private, no-store");
  ctx.res.set_content_provider(file->size_bytes, "application/x-tar", provider_of(std::move(file->read)));
  return {};
}

Status segment_file(Services& s, Context& ctx) {
  std::int64_t seq = -1;
  const auto text = ctx.param(2);
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || p != text.data() + text.size() || seq < 0) {
    return fail(Errc::invalid_argument, "segment number must be a whole number", "seq");
  }
  auto file = s.media->segment(caller_of(ctx.principal), ctx.param(1), seq);
  if (!file) return std::unexpected(file.error());
  // Screen contents: never kept by the browser or a proxy after playback.
  ctx.res.set_header("Cache-Control", "no-store");
  ctx.res.set_content_provider(file->size_bytes, "video/mp4", provider_of(std::move(file->read)));
  return {};
}

Status delete_recording(Services& s, Context& ctx) {
  if (auto st = s.recordings->remove(caller_of(ctx.principal), ctx.param(1)); !st) return st;
  ctx.reply_empty();
  return {};
}

Status legal_hold(Services& s, Context& ctx, service::LegalHold hold) {
  auto rec = s.recordings->set_legal_hold(caller_of(ctx.principal), ctx.param(1), hold);
  if (!rec) return std::unexpected(rec.error());
  ctx.reply(to_json(*rec));
  return {};
}

}  // namespace

void add_recording_routes(std::vector<Route>& routes, Services& s) {
  routes.push_back({"GET", "/api/v1/recordings", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return list_recordings(s, ctx); }, false,
                    "Recordings, newest first; filters computer_id, pool_id, policy_id, username, start_time, end_time, status"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return recording_details(s, ctx); }, false, "One recording with its segments"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/playlist\\.m3u8", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return playlist(s, ctx); }, false,
                    "HLS playlist (EXT-X-MAP + EXT-X-BYTERANGE per fragment) for the player"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/download", Access::need(auth::perm::recording_download),
                    [&s](Context& ctx) { return download(s, ctx); }, false,
                    "The whole recording as one MP4 file (Range supported)"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/evidence", Access::need(auth::perm::recording_download),
                    [&s](Context& ctx) { return evidence_package(s, ctx); }, false,
                    "Evidence package (tar): recording.mp4, segments, signed manifest, public keys (docs/evidence.md)"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/segments/([^/]+)", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return segment_file(s, ctx); }, false, "One segment file as stored (Range supported)"});
  routes.push_back({"DELETE", "/api/v1/recordings/([^/]+)", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return delete_recording(s, ctx); }, false,
                    "Delete a recording now (objects first, then rows)"});
  routes.push_back({"PUT", "/api/v1/recordings/([^/]+)/legal-hold", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return legal_hold(s, ctx, service::LegalHold::hold); }, false,
                    "Keep a recording past its expiry until released"});
  routes.push_back({"DELETE", "/api/v1/recordings/([^/]+)/legal-hold", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return legal_hold(s, ctx, service::LegalHold::release); }, false,
                    "Release a legal hold"});
}

}  // namespace deskaudit::server
