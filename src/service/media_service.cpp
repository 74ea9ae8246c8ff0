#include "service/media_service.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::service {
namespace {

using catalog::Recording;
using catalog::Segment;

// The largest init segment a download reads into memory.
constexpr std::uint64_t kMaxInitBytes = 16u << 20;

Result<std::vector<media::PlaylistSegment>> playlist_segments(const std::vector<Segment>& segments) {
  std::vector<media::PlaylistSegment> out;
  out.reserve(segments.size());
  for (const auto& seg : segments) {
    auto j = nlohmann::json::parse(seg.index_json, nullptr, false);
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
    const bool ok =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
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

// Streams [offset, offset + length) of the virtual file to the sink.
// before_segment(seq) runs before the first byte of each stored segment
// read; false stops the read.
bool read_plan_range(storage::ObjectStore& store, const media::DownloadPlan& plan,
                     const std::map<std::int64_t, std::string>& keys, std::uint64_t offset, std::uint64_t length,
                     const storage::ByteSink& sink, const std::function<bool(std::int64_t)>& before_segment) {
  if (offset > plan.total_size || length > plan.total_size - offset) return false;
  std::uint64_t pos = 0;
  const std::uint64_t end = offset + length;
  for (const auto& piece : plan.pieces) {
    const std::uint64_t piece_end = pos + piece.size;
    if (piece_end > offset && pos < end) {
      const std::uint64_t from = std::max(offset, pos) - pos;
      const std::uint64_t to = std::min(end, piece_end) - pos;
      if (!piece.seq) {
        if (!sink(std::as_bytes(std::span(piece.inline_bytes.data() + from, to - from)))) return false;
      } else {
        auto key = keys.find(*piece.seq);
        if (key == keys.end()) return false;
        if (before_segment && !before_segment(*piece.seq)) return false;
        auto r = store.read(key->second, {piece.offset + from, to - from}, sink);
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

}  // namespace

MediaService::MediaService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                           std::shared_ptr<const Clock> clock, RecordingService& recordings, MediaSettings settings)
    : catalog_(catalog),
      store_(store),
      audit_(audit),
      clock_(std::move(clock)),
      recordings_(recordings),
      settings_(settings),
      looks_(audit, clock_, settings.audit_window_ms) {}

Result<std::string> MediaService::read_bytes(const std::string& key, std::uint64_t offset, std::uint64_t size) {
  std::string bytes;
  auto r = store_.read(key, {offset, size}, [&](std::span<const std::byte> b) {
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return bytes;
}

struct MediaService::Played {
  Recording recording;
  std::vector<media::PlaylistSegment> segments;
};

Result<MediaService::Played> MediaService::played(const Caller& who, std::string_view recording_id) {
  auto rec = recordings_.find(who, recording_id, auth::perm::recording_play);
  if (!rec) return std::unexpected(rec.error());
  auto segments = catalog_.list_segments(rec->id);
  if (!segments) return std::unexpected(segments.error());
  auto ps = playlist_segments(*segments);
  if (!ps) return std::unexpected(ps.error());
  if (auto st = looks_.record(who, "recording.play", *rec, {{"computer_id", rec->computer_id}}); !st) {
    return std::unexpected(st.error());
  }
  return Played{std::move(*rec), std::move(*ps)};
}

Result<Playlist> MediaService::playlist(const Caller& who, std::string_view recording_id) {
  auto p = played(who, recording_id);
  if (!p) return std::unexpected(p.error());
  media::PlaylistOptions opts;
  opts.ended = p->recording.status != catalog::RecordingStatus::recording;
  opts.segment_uri = [](std::int64_t seq) { return "segments/" + std::to_string(seq); };
  opts.program_date_time_ms = p->recording.start_time;
  return Playlist{media::build_hls_playlist(p->segments, opts), opts.ended};
}

Result<Playlist> MediaService::master_playlist(const Caller& who, std::string_view recording_id) {
  auto p = played(who, recording_id);
  if (!p) return std::unexpected(p.error());
  return Playlist{media::build_hls_master_playlist(p->segments, "playlist.m3u8"),
                  p->recording.status != catalog::RecordingStatus::recording};
}

Result<MediaFile> MediaService::segment(const Caller& who, std::string_view recording_id, std::int64_t seq) {
  auto rec = recordings_.find(who, recording_id, auth::perm::recording_play);
  if (!rec) return std::unexpected(rec.error());
  auto seg = catalog_.get_segment(rec->id, seq);
  if (!seg) return std::unexpected(seg.error());
  if (seg->size_bytes < 0) return fail(Errc::corrupt, "segment " + std::to_string(seq) + " has a negative size");
  // Fetching segment files plays the recording as surely as the playlist does.
  if (auto st = looks_.record(who, "recording.play", *rec, {{"computer_id", rec->computer_id}}); !st) {
    return std::unexpected(st.error());
  }
  MediaFile file;
  file.size_bytes = static_cast<std::uint64_t>(seg->size_bytes);
  RangeReader read_stored = [this, key = seg->object_key](std::uint64_t offset, std::uint64_t length,
                                                          const storage::ByteSink& sink) {
    auto r = store_.read(key, {offset, length}, sink);
    if (!r) spdlog::error("segment read {} failed: {}", key, r.error().message);
    return r.has_value();
  };
  if (auto sealed = store_.reads_authenticated(seg->object_key); !sealed || !*sealed) {
    if (auto st = check_stored(*seg); !st) return std::unexpected(st.error());
    file.read = std::move(read_stored);
    return file;
  }
  // Each chunk authenticates as it is read: the range to be served is read
  // (and kept, when small) before the response starts.
  struct Kept {
    std::uint64_t offset = 0;
    std::string bytes;
  };
  auto kept = std::make_shared<Kept>();
  file.check = [this, kept, seg = *seg](std::uint64_t offset, std::uint64_t length) -> Status {
    kept->bytes.clear();
    const bool keep = length <= kPrefetchMaxBytes;
    if (keep) kept->bytes.reserve(static_cast<std::size_t>(length));
    auto r = store_.read(seg.object_key, {offset, length}, [&](std::span<const std::byte> b) {
      if (keep) kept->bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
      return true;
    });
    if (!r) {
      kept->bytes.clear();
      if (r.error().code != Errc::corrupt) return std::unexpected(r.error());
      const std::string why = "segment " + std::to_string(seg.seq) + " of recording " + seg.recording_id +
                              " changed in the object store: " + r.error().message;
      spdlog::error("{} (object {})", why, seg.object_key);
      return fail(Errc::corrupt, why);
    }
    kept->offset = offset;
    return {};
  };
  file.read = [kept, read_stored = std::move(read_stored)](std::uint64_t offset, std::uint64_t length,
                                                           const storage::ByteSink& sink) {
    if (!kept->bytes.empty() && offset >= kept->offset && offset + length <= kept->offset + kept->bytes.size()) {
      const auto* at = reinterpret_cast<const std::byte*>(kept->bytes.data()) + (offset - kept->offset);
      return sink(std::span<const std::byte>(at, static_cast<std::size_t>(length)));
    }
    return read_stored(offset, length, sink);
  };
  return file;
}

Status MediaService::check_stored(const Segment& seg) {
  // A sealed object authenticates every chunk it serves (the key it is
  // sealed to names the segment's SHA-256): hashing it first would read it
  // twice. segment() checks the range it serves instead.
  if (auto sealed = store_.reads_authenticated(seg.object_key); sealed && *sealed) return {};
  Sha256 hash;
  auto read = store_.read(seg.object_key, {}, [&](std::span<const std::byte> b) {
    hash.update(b);
    return true;
  });
  if (!read) return std::unexpected(read.error());
  const auto actual = hash.hex();
  if (actual == seg.sha256 && static_cast<std::int64_t>(*read) == seg.size_bytes) return {};
  const std::string why = "segment " + std::to_string(seg.seq) + " of recording " + seg.recording_id +
                          " changed in the object store: " + std::to_string(*read) + " bytes with SHA-256 " + actual +
                          ", uploaded as " + std::to_string(seg.size_bytes) + " bytes with SHA-256 " + seg.sha256;
  spdlog::error("{} (object {})", why, seg.object_key);
  return fail(Errc::corrupt, why);
}

Result<MediaFile> MediaService::whole_file(const Recording& rec, bool check_segments) {
  auto segments = catalog_.list_segments(rec.id);
  if (!segments) return std::unexpected(segments.error());
  if (segments->empty()) return fail(Errc::not_found, "recording " + rec.id + " has no uploaded segment yet");
  auto ps = playlist_segments(*segments);
  if (!ps) return std::unexpected(ps.error());
  const auto init_size = ps->front().index.init_size;
  if (init_size == 0 || init_size > kMaxInitBytes) return fail(Errc::corrupt, "segment 0 has no usable init segment");
  auto init = read_bytes(segments->front().object_key, 0, init_size);
  if (!init) return std::unexpected(init.error());
  auto keys = std::make_shared<std::map<std::int64_t, std::string>>();
  for (const auto& seg : *segments) (*keys)[seg.seq] = seg.object_key;
  // Checked once per file, before the first of its bytes is read.
  std::function<bool(std::int64_t)> before_segment;
  if (check_segments) {
    struct Checks {
      std::map<std::int64_t, Segment> pending;
      std::mutex mu;
    };
    auto checks = std::make_shared<Checks>();
    for (const auto& seg : *segments) checks->pending.emplace(seg.seq, seg);
    before_segment = [this, checks](std::int64_t seq) {
      std::lock_guard lock(checks->mu);
      auto it = checks->pending.find(seq);
      if (it == checks->pending.end()) return true;
      if (!check_stored(it->second)) return false;
      checks->pending.erase(it);
      return true;
    };
  }
  // Where the screen size changed, the plan rewrites the head of a fragment.
  const media::SegmentReader read_stored = [&](std::int64_t seq, std::uint64_t offset,
                                               std::uint64_t size) -> Result<std::string> {
    const auto key = keys->find(seq);
    if (key == keys->end()) return fail(Errc::internal, "segment " + std::to_string(seq) + " has no object");
    return read_bytes(key->second, offset, size);
  };
  auto plan = media::build_download_plan(std::as_bytes(std::span(init->data(), init->size())), *ps, read_stored);
  if (!plan) return std::unexpected(plan.error());
  auto shared_plan = std::make_shared<media::DownloadPlan>(std::move(*plan));
  MediaFile file;
  file.size_bytes = shared_plan->total_size;
  file.file_name = download_name(rec);
  file.read = [this, shared_plan, keys, before_segment](std::uint64_t offset, std::uint64_t length,
                                                        const storage::ByteSink& sink) {
    return read_plan_range(store_, *shared_plan, *keys, offset, length, sink, before_segment);
  };
  return file;
}

Result<MediaFile> MediaService::download(const Caller& who, std::string_view recording_id, ReadExtent extent) {
  auto rec = recordings_.find(who, recording_id, auth::perm::recording_download);
  if (!rec) return std::unexpected(rec.error());
  auto file = whole_file(*rec, true);
  if (!file) return file;
  // Every download request is audited, ranged or not (a ranged read from
  // the middle is still a download); a player's seeks within the window log
  // once.
  nlohmann::json details = {{"computer_id", rec->computer_id}, {"bytes", file->size_bytes}};
  if (extent == ReadExtent::range) details["ranged"] = true;
  if (auto st = looks_.record(who, "recording.download", *rec, details); !st) return std::unexpected(st.error());
  return file;
}

}  // namespace deskaudit::service
