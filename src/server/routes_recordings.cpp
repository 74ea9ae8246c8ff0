// Finding, playing, downloading and deleting recordings: each handler parses
// the request, calls RecordingService or MediaService (scope, legal hold,
// deletion and the audit entries live there) and renders the result. A
// recording outside the caller's scope looks absent (404) on every route.
#include <charconv>

#include "events/events.hpp"
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

// limit (1..1000, default 200) and page_token (or next_token) of the event
// listings.
Result<catalog::Page> event_page_from(const Context& ctx) {
  catalog::Page page;
  page.limit = service::kEventPageDefault;
  if (ctx.has_query("limit")) {
    const auto text = ctx.query("limit");
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > service::kEventPageMax) {
      return fail(Errc::invalid_argument, "limit must be a whole number from 1 to 1000", "limit");
    }
    page.limit = v;
  }
  page.next_token = ctx.has_query("page_token") ? ctx.query("page_token") : ctx.query("next_token");
  return page;
}

// The event listings' page: items, next_page_token (null on the last page)
// and, as every other listing, next_token when more follow.
Json event_page_json(const Json& items, const std::string& next_token) {
  Json out = page_json(items, next_token);
  out["next_page_token"] = next_token.empty() ? Json(nullptr) : Json(next_token);
  return out;
}

// type=window,app.start (repeatable): the types asked for.
std::vector<std::string> types_query(const Context& ctx) {
  std::vector<std::string> out;
  const auto [from, to] = ctx.req.params.equal_range("type");
  for (auto it = from; it != to; ++it) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (const auto t = rest.substr(0, comma); !t.empty()) out.emplace_back(t);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

// An optional media time in ms (from_ms, to_ms).
Result<std::optional<std::int64_t>> ms_query(const Context& ctx, const std::string& name) {
  if (!ctx.has_query(name) || ctx.query(name).empty()) return std::optional<std::int64_t>{};
  const auto text = ctx.query(name);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v > events::kMaxTimeMs) {
    return fail(Errc::invalid_argument, name + " must be a whole number of milliseconds from 0", name);
  }
  return std::optional<std::int64_t>{v};
}

Status list_recordings(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  service::RecordingQuery q;
  q.computer_id = ctx.query("computer_id");
  q.pool_id = ctx.query("pool_id");
  q.policy_id = ctx.query("policy_id");
  q.username = ctx.query("username");
  q.app = ctx.query("app");
  q.window_title = ctx.query("window_title");
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

Status recording_events(Services& s, Context& ctx) {
  auto page = event_page_from(ctx);
  if (!page) return std::unexpected(page.error());
  catalog::EventFilter f;
  f.types = types_query(ctx);
  auto from = ms_query(ctx, "from_ms");
  if (!from) return std::unexpected(from.error());
  auto to = ms_query(ctx, "to_ms");
  if (!to) return std::unexpected(to.error());
  f.from_ms = *from;
  f.to_ms = *to;
  auto list = s.events->list(caller_of(ctx.principal), ctx.param(1), f, *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& e : list->items) items.push_back(to_json(e, list->recording.start_time));
  ctx.reply(event_page_json(items, list->next_token));
  return {};
}

Status search_events(Services& s, Context& ctx) {
  auto page = event_page_from(ctx);
  if (!page) return std::unexpected(page.error());
  catalog::EventSearch q;
  q.computer_id = ctx.query("computer_id");
  q.pool_id = ctx.query("pool_id");
  q.username = ctx.query("username");
  q.app = ctx.query("app");
  q.window_title = ctx.query("window_title");
  q.types = types_query(ctx);
  auto from = time_query(ctx, "from");
  if (!from) return std::unexpected(from.error());
  auto to = time_query(ctx, "to");
  if (!to) return std::unexpected(to.error());
  q.start_time = *from;
  q.end_time = *to;
  auto found = s.events->search(caller_of(ctx.principal), q, *page);
  if (!found) return std::unexpected(found.error());
  Json items = Json::array();
  for (const auto& h : found->items) items.push_back(to_json(h));
  ctx.reply(event_page_json(items, found->next_token));
  return {};
}

enum class PlaylistKind { master, media };

Status playlist(Services& s, Context& ctx, PlaylistKind kind) {
  const auto who = caller_of(ctx.principal);
  auto p = kind == PlaylistKind::master ? s.media->master_playlist(who, ctx.param(1)) : s.media->playlist(who, ctx.param(1));
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
  if (file->check) {
    // The range the transport will serve (an unsatisfiable one is its 416).
    if (auto range = parse_range(ctx.req.get_header_value("Range"), file->size_bytes); range) {
      const ByteRange r = range->value_or(ByteRange{0, file->size_bytes});
      if (auto st = file->check(r.first, r.length); !st) return st;
    }
  }
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
                    "Recordings, newest first; filters computer_id, pool_id, policy_id, username, start_time, end_time, "
                    "status, app, window_title (with first_match_ms)"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return recording_details(s, ctx); }, false, "One recording with its segments"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/master\\.m3u8", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return playlist(s, ctx, PlaylistKind::master); }, false,
                    "HLS multivariant playlist (CODECS of both tracks) pointing at playlist.m3u8; the player loads it"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/events", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return recording_events(s, ctx); }, false,
                    "A recording's activity events by media time; filters type, from_ms, to_ms"});
  routes.push_back({"GET", "/api/v1/events", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return search_events(s, ctx); }, false,
                    "Activity events across recordings, newest first; filters computer_id, pool_id, username, app, "
                    "window_title, type, from, to"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/playlist\\.m3u8", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return playlist(s, ctx, PlaylistKind::media); }, false,
                    "HLS media playlist (EXT-X-MAP + EXT-X-BYTERANGE per fragment)"});
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
