// Finding, playing, downloading and deleting recordings. A recording outside
// the caller's scope looks absent (404) on every route, so nothing leaks.
#include <algorithm>
#include <charconv>
#include <map>

#include <spdlog/spdlog.h>

#include "media/fmp4.hpp"
#include "server/access.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

Result<Recording> visible_recording(Services& s, const Context& ctx, std::string_view permission) {
  const auto id = ctx.param(1);
  auto rec = s.catalog->get_recording(id);
  if (!rec) return std::unexpected(rec.error());
  if (!ctx.principal.grants.allows(permission, rec->computer_id, rec->pool_id)) {
    return fail(Errc::not_found, "no recording " + id);
  }
  return rec;
}

Result<std::vector<media::PlaylistSegment>> playlist_segments(const std::vector<Segment>& segments) {
  std::vector<media::PlaylistSegment> out;
  out.reserve(segments.size());
  for (const auto& seg : segments) {
    auto j = Json::parse(seg.index_json, nullptr, false);
    auto idx = media::fragment_index_from_json(j);
    if (!idx) return std::unexpected(with_context(idx.error(), "segment " + std::to_string(seg.seq) + " index"));
    out.push_back({seg.seq, std::move(*idx)});
  }
  return out;
}

// Keeps only what a file name may hold.
std::string file_part(std::string_view text) {
  std::string out;
  for (char ch : text) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    out.push_back(ok ? ch : '_');
  }
  return out.substr(0, 64);
}

std::string download_name(const Recording& r) {
  auto t = format_rfc3339(r.start_time);  // 2026-11-27T13:05:00Z
  std::erase_if(t, [](char ch) { return ch == '-' || ch == ':'; });
  return file_part(r.computer_name.empty() ? r.computer_id : r.computer_name) + "_" + file_part(r.username) + "_" +
         t.substr(0, 15) + "Z.mp4";
}

Status list_recordings(Services& s, Context& ctx) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  RecordingFilter f;
  f.computer_id = ctx.query("computer_id");
  f.pool_id = ctx.query("pool_id");
  f.policy_id = ctx.query("policy_id");
  f.username = ctx.query("username");
  auto start = time_query(ctx, "start_time");
  if (!start) return std::unexpected(start.error());
  auto end = time_query(ctx, "end_time");
  if (!end) return std::unexpected(end.error());
  if (*start && *end && **end < **start) {
    return fail(Errc::invalid_argument, "end_time is before start_time", "end_time");
  }
  f.start_time = *start;
  f.end_time = *end;
  if (ctx.has_query("status") && !ctx.query("status").empty()) {
    f.status = recording_status_from(ctx.query("status"));
    if (!f.status) return fail(Errc::invalid_argument, "status must be recording, complete or interrupted", "status");
  }
  f.scope = ctx.principal.grants.scope(auth::perm::recording_list);
  auto list = s.catalog->list_recordings(f, *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& r : list->items) items.push_back(to_json(r));
  Json out = page_json(items, list->next_token);
  if (ctx.query("count") == "true") {
    auto n = s.catalog->count_recordings(f);
    if (!n) return std::unexpected(n.error());
    out["total"] = *n;
  }
  ctx.reply(out);
  return {};
}

Status playlist(Services& s, Context& ctx) {
  auto rec = visible_recording(s, ctx, auth::perm::recording_play);
  if (!rec) return std::unexpected(rec.error());
  auto segments = s.catalog->list_segments(rec->id);
  if (!segments) return std::unexpected(segments.error());
  auto ps = playlist_segments(*segments);
  if (!ps) return std::unexpected(ps.error());
  media::PlaylistOptions opts;
  opts.ended = rec->status != RecordingStatus::recording;
  opts.segment_uri = [](std::int64_t seq) { return "segments/" + std::to_string(seq); };
  opts.program_date_time_ms = rec->start_time;
  // hls.js re-reads a live playlist every few seconds: one play is logged
  // per viewer and recording in a 10-minute window, not every reload.
  if (auto st = access::audit_media_access(s, ctx, "recording.play", *rec, {{"computer_id", rec->computer_id}}); !st) {
    return st;
  }
  ctx.res.set_header("Cache-Control", opts.ended ? "private, max-age=60" : "no-cache");
  ctx.res.set_content(media::build_hls_playlist(*ps, opts), "application/vnd.apple.mpegurl");
  return {};
}

// Streams [offset, offset+length) of the virtual file to the sink.
bool write_plan_range(Services& s, const media::DownloadPlan& plan, const std::map<std::int64_t, std::string>& keys,
                      std::uint64_t offset, std::uint64_t length, Sink& sink) {
  std::uint64_t pos = 0;
  const std::uint64_t end = offset + length;
  for (const auto& piece : plan.pieces) {
    const std::uint64_t piece_end = pos + piece.size;
    if (piece_end > offset && pos < end) {
      const std::uint64_t from = std::max(offset, pos) - pos;
      const std::uint64_t to = std::min(end, piece_end) - pos;
      if (!piece.seq) {
        if (!sink.write(piece.inline_bytes.data() + from, to - from)) return false;
      } else {
        auto key = keys.find(*piece.seq);
        if (key == keys.end()) return false;
        auto r = s.store->read(key->second, {piece.offset + from, to - from}, [&](std::span<const std::byte> b) {
          return sink.write(reinterpret_cast<const char*>(b.data()), b.size());
        });
        if (!r) {
          spdlog::error("download: reading {} failed: {}", key->second, r.error().message);
          return false;
        }
      }
    }
    pos = piece_end;
    if (pos >= end) break;
  }
  return true;
}

Status download(Services& s, Context& ctx) {
  auto rec = visible_recording(s, ctx, auth::perm::recording_download);
  if (!rec) return std::unexpected(rec.error());
  auto segments = s.catalog->list_segments(rec->id);
  if (!segments) return std::unexpected(segments.error());
  if (segments->empty()) return fail(Errc::not_found, "recording " + rec->id + " has no uploaded segment yet");
  auto ps = playlist_segments(*segments);
  if (!ps) return std::unexpected(ps.error());
  std::string init;
  const auto init_size = ps->front().index.init_size;
  if (init_size == 0 || init_size > (16u << 20)) return fail(Errc::corrupt, "segment 0 has no usable init segment");
  auto r = s.store->read(segments->front().object_key, {0, init_size}, [&](std::span<const std::byte> b) {
    init.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  if (!r) return std::unexpected(r.error());
  std::map<std::int64_t, std::string> keys;
  for (const auto& seg : *segments) keys[seg.seq] = seg.object_key;
  // Where the screen size changed, the plan rewrites the head of a fragment.
  const media::SegmentReader read_stored = [&](std::int64_t seq, std::uint64_t offset,
                                               std::uint64_t size) -> Result<std::string> {
    const auto key = keys.find(seq);
    if (key == keys.end()) return fail(Errc::internal, "segment " + std::to_string(seq) + " has no object");
    std::string bytes;
    auto r = s.store->read(key->second, {offset, size}, [&](std::span<const std::byte> b) {
      bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
      return true;
    });
    if (!r) return std::unexpected(r.error());
    return bytes;
  };
  auto plan = media::build_download_plan(std::as_bytes(std::span(init.data(), init.size())), *ps, read_stored);
  if (!plan) return std::unexpected(plan.error());
  auto shared_plan = std::make_shared<media::DownloadPlan>(std::move(*plan));
  auto shared_keys = std::make_shared<std::map<std::int64_t, std::string>>(std::move(keys));
  // Every download request is audited, ranged or not (a ranged read from
  // the middle is still a download); a player's seeks within 10 minutes log
  // once.
  Json details = {{"computer_id", rec->computer_id}, {"bytes", shared_plan->total_size}};
  if (ctx.req.has_header("Range")) details["ranged"] = true;
  if (auto st = access::audit_media_access(s, ctx, "recording.download", *rec, details); !st) return st;
  ctx.res.set_header("Content-Disposition", "attachment; filename=\"" + download_name(*rec) + "\"");
  ctx.res.set_header("Cache-Control", "private, no-store");
  ctx.res.set_content_provider(
      shared_plan->total_size, "video/mp4",
      [&s, shared_plan, shared_keys](std::size_t offset, std::size_t length, Sink& sink) {
        return write_plan_range(s, *shared_plan, *shared_keys, offset, length, sink);
      });
  return {};
}

Status segment_file(Services& s, Context& ctx) {
  auto rec = visible_recording(s, ctx, auth::perm::recording_play);
  if (!rec) return std::unexpected(rec.error());
  std::int64_t seq = -1;
  const auto text = ctx.param(2);
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || p != text.data() + text.size() || seq < 0) {
    return fail(Errc::invalid_argument, "segment number must be a whole number", "seq");
  }
  auto seg = s.catalog->get_segment(rec->id, seq);
  if (!seg) return std::unexpected(seg.error());
  // Fetching segment files plays the recording as surely as the playlist does.
  if (auto st = access::audit_media_access(s, ctx, "recording.play", *rec, {{"computer_id", rec->computer_id}}); !st) {
    return st;
  }
  const auto key = seg->object_key;
  // Screen contents: never kept by the browser or a proxy after playback.
  ctx.res.set_header("Cache-Control", "no-store");
  ctx.res.set_content_provider(static_cast<std::size_t>(seg->size_bytes), "video/mp4",
                               [&s, key](std::size_t offset, std::size_t length, Sink& sink) {
                                 auto r = s.store->read(key, {offset, length}, [&](std::span<const std::byte> b) {
                                   return sink.write(reinterpret_cast<const char*>(b.data()), b.size());
                                 });
                                 if (!r) spdlog::error("segment read {} failed: {}", key, r.error().message);
                                 return r.has_value();
                               });
  return {};
}

Status delete_recording(Services& s, Context& ctx) {
  auto rec = visible_recording(s, ctx, auth::perm::recording_delete);
  if (!rec) return std::unexpected(rec.error());
  if (rec->legal_hold) return fail(Errc::conflict, "recording " + rec->id + " is under legal hold; release it first");
  auto objects = s.store->list("recordings/" + rec->computer_id + "/" + rec->id + "/");
  if (!objects) return std::unexpected(objects.error());
  for (const auto& o : *objects) {
    if (auto st = s.store->remove(o.key); !st) return st;
  }
  if (auto st = s.catalog->delete_recording(rec->id); !st) return st;
  s.audit(ctx.principal, "recording.delete", rec->id,
          {{"computer_id", rec->computer_id}, {"username", rec->username}, {"objects", objects->size()}});
  ctx.reply_empty();
  return {};
}

Status legal_hold(Services& s, Context& ctx, bool hold) {
  auto rec = visible_recording(s, ctx, auth::perm::recording_delete);
  if (!rec) return std::unexpected(rec.error());
  if (auto st = s.catalog->set_legal_hold(rec->id, hold); !st) return st;
  s.audit(ctx.principal, hold ? "recording.hold" : "recording.release", rec->id, {{"computer_id", rec->computer_id}});
  rec->legal_hold = hold;
  ctx.reply(to_json(*rec));
  return {};
}

}  // namespace

void add_recording_routes(std::vector<Route>& routes, Services& s) {
  routes.push_back({"GET", "/api/v1/recordings", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) { return list_recordings(s, ctx); }, false,
                    "Recordings, newest first; filters computer_id, pool_id, policy_id, username, start_time, end_time, status"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)", Access::need(auth::perm::recording_list),
                    [&s](Context& ctx) -> Status {
                      auto rec = visible_recording(s, ctx, auth::perm::recording_list);
                      if (!rec) return std::unexpected(rec.error());
                      auto segments = s.catalog->list_segments(rec->id);
                      if (!segments) return std::unexpected(segments.error());
                      Json j = to_json(*rec);
                      Json segs = Json::array();
                      for (const auto& seg : *segments) segs.push_back(to_json(seg));
                      j["segments"] = segs;
                      add_media_summary(j, *segments);
                      ctx.reply(j);
                      return {};
                    },
                    false, "One recording with its segments"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/playlist\\.m3u8", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return playlist(s, ctx); }, false,
                    "HLS playlist (EXT-X-MAP + EXT-X-BYTERANGE per fragment) for the player"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/download", Access::need(auth::perm::recording_download),
                    [&s](Context& ctx) { return download(s, ctx); }, false,
                    "The whole recording as one MP4 file (Range supported)"});
  routes.push_back({"GET", "/api/v1/recordings/([^/]+)/segments/([^/]+)", Access::need(auth::perm::recording_play),
                    [&s](Context& ctx) { return segment_file(s, ctx); }, false, "One segment file as stored (Range supported)"});
  routes.push_back({"DELETE", "/api/v1/recordings/([^/]+)", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return delete_recording(s, ctx); }, false,
                    "Delete a recording now (objects first, then rows)"});
  routes.push_back({"PUT", "/api/v1/recordings/([^/]+)/legal-hold", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return legal_hold(s, ctx, true); }, false,
                    "Keep a recording past its expiry until released"});
  routes.push_back({"DELETE", "/api/v1/recordings/([^/]+)/legal-hold", Access::need(auth::perm::recording_delete),
                    [&s](Context& ctx) { return legal_hold(s, ctx, false); }, false, "Release a legal hold"});
}

}  // namespace deskaudit::server
