#pragma once
// A recording's pictures: the HLS playlist for the player, its segment files
// as stored, and the whole recording as one MP4 file (assembled on the fly,
// never copied).
//
// Privacy: every look at a recording is written to the audit log before a
// byte of media leaves, once per action (recording.play,
// recording.download), viewer and recording within `audit_window_ms`
// (LookLog); when the entry cannot be written the call fails (unavailable)
// and nothing is served.
//
// Scope as RecordingService::find: recording:play for the playlist and
// segments, recording:download for the file; outside it, not_found.
// Thread safety: every method may be called from many threads at once; the
// returned readers may be called from any thread while the service lives.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"
#include "service/look_log.hpp"
#include "service/recording_service.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::service {

struct MediaSettings {
  EpochMs audit_window_ms = 10 * 60'000;
};

struct Playlist {
  std::string text;    // application/vnd.apple.mpegurl; segment URIs "segments/<seq>"
                       // (the master playlist: the media playlist "playlist.m3u8")
  bool ended = false;  // the recording is finished: the playlist no longer changes
};

// Streams bytes [offset, offset + length) of a media file to the sink.
// False when the sink stopped or a stored read failed (logged): the
// response must then be cut short.
using RangeReader = std::function<bool(std::uint64_t offset, std::uint64_t length, const storage::ByteSink& sink)>;

// Reads bytes [offset, offset + length) of a media file through once before
// its response starts; corrupt when a stored object fails its check.
using RangeCheck = std::function<Status(std::uint64_t offset, std::uint64_t length)>;

struct MediaFile {
  std::uint64_t size_bytes = 0;
  std::string file_name;  // downloads: "<computer>_<user>_<yyyymmddThhmmss>Z.mp4"
  RangeReader read;
  // Set where the file's bytes are checked only as they are read (a store
  // that authenticates every read): the caller runs it over the range it is
  // about to serve, before the status line, so a changed stored object is an
  // error response (422) and not a body cut short. What it read (up to
  // kPrefetchMaxBytes) is kept and `read` serves that range from it.
  RangeCheck check;
};

// The most a RangeCheck keeps in memory for the read that follows it; a
// longer range is read twice (checked, then served), as a plain store's
// segment is hashed whole before it is served.
inline constexpr std::uint64_t kPrefetchMaxBytes = 8u << 20;

// Whether a download asks for the whole file or a part (a player seeking);
// both are audited, a part with "ranged": true.
enum class ReadExtent { whole, range };

class MediaService {
 public:
  MediaService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
               std::shared_ptr<const Clock> clock, RecordingService& recordings, MediaSettings settings = {});

  // corrupt when a segment's stored index is unusable.
  Result<Playlist> playlist(const Caller& who, std::string_view recording_id);
  // The multivariant playlist the player loads: one variant, the media
  // playlist ("playlist.m3u8", relative), with CODECS naming every track of
  // the stored segments (media::build_hls_master_playlist). Audited as a play.
  Result<Playlist> master_playlist(const Caller& who, std::string_view recording_id);
  // One segment file as stored; not_found for an absent seq. The stored
  // object is checked against the segment's SHA-256 and size first: corrupt
  // (naming the segment) when it changed in the object store; where the
  // store authenticates every read (ObjectStore::reads_authenticated) the
  // file's `check` reads the range to be served first instead.
  Result<MediaFile> segment(const Caller& who, std::string_view recording_id, std::int64_t seq);
  // The whole recording as one MP4 file; not_found before its first segment
  // arrived, corrupt when segment 0 has no usable init segment. Each stored
  // segment is checked (as for segment()) before the first of its bytes is
  // sent; one that changed cuts the response short there (logged): the
  // client gets an incomplete file, never a silently altered one.
  Result<MediaFile> download(const Caller& who, std::string_view recording_id, ReadExtent extent);
  // The same file for a caller that checked scope and wrote its own audit
  // entry already (no entry): unchecked by default (the evidence package
  // copies what is stored and the offline verifier judges it), or with each
  // stored segment checked as download() does.
  Result<MediaFile> whole_file(const catalog::Recording& recording, bool check_segments = false);

 private:
  // A recording the caller may play with its segments' indexes, the play
  // audited: what both playlists are made of.
  struct Played;
  Result<Played> played(const Caller& who, std::string_view recording_id);
  Result<std::string> read_bytes(const std::string& key, std::uint64_t offset, std::uint64_t size);
  // Reads the stored object whole through SHA-256, unless the store
  // authenticates its reads: corrupt when its bytes or size are not the
  // segment's (logged as an error).
  Status check_stored(const catalog::Segment& segment);

  catalog::Catalog& catalog_;
  storage::ObjectStore& store_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  RecordingService& recordings_;
  MediaSettings settings_;
  LookLog looks_;  // the audit entry before the media, once per window
};

}  // namespace deskaudit::service
