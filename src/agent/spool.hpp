#pragma once
// The agent's spool: recordings waiting for upload, one directory (0700) per
// recording under the spool root (0700):
//   <root>/<local-id>/recording.json   metadata, written atomically (0600)
//   <root>/<local-id>/seg-NNNNNN.mp4   closed segments (0600), deleted only
//                                      after the server confirmed them
//   <root>/<local-id>/seg-NNNNNN.events.json  its activity events (0600),
//                                      uploaded before it, deleted after it
//   <root>/<local-id>/seg-NNNNNN.mp4.part   the segment being written
//   <root>/<local-id>/seg-NNNNNN.mp4.conflict  the server holds other bytes
//                                      under that seq (HTTP 409): kept
//   <root>/set-aside/<local-id>/       a recording the server refused for
//                                      good (a permanent 4xx): moved here
//                                      whole, with why in recording.json, and
//                                      no longer uploaded until an operator
//                                      retries it (`deskaudit-agent spool`)
// Local ids sort by creation time, so recordings upload oldest first.
//
// Thread safety: a Spool may be shared by threads; update() serialises the
// read-modify-write of recording.json. Segment files belong to the recorder
// until renamed to their final name, then to the uploader.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/time.hpp"

namespace deskaudit::agent {

enum class FinishStatus { complete, interrupted };
std::string_view finish_status_name(FinishStatus status);

// Why a recording was set aside: the server's answer.
struct SetAsideReason {
  long http_status = 0;
  std::string error;  // the server's message (with what the agent was doing)
  EpochMs at = 0;
};

struct RecordingMeta {
  std::string local_id;
  std::optional<std::string> server_id;  // set once the server created it
  std::string username;
  // The wall time of media time 0. A recording created before its recorder
  // has a picture holds the creation time and awaiting_first_frame until
  // the recorder's first frame sets both (opening a capture can take
  // seconds: a start taken before it would put every event and every
  // picture that much late on the recording's clock).
  EpochMs start_time = 0;
  bool awaiting_first_frame = false;     // the uploader does not create it yet
  nlohmann::json policy;                 // snapshot of the policy in force
  std::string policy_id;
  std::int64_t policy_version = 0;
  std::int64_t next_seq = 0;             // seq of the next segment to write
  std::int64_t media_end_ms = 0;         // end of the last closed segment
  bool finished = false;                 // no more segments will come
  FinishStatus status = FinishStatus::complete;
  std::optional<EpochMs> end_time;       // set with finished
  bool finish_confirmed = false;         // the server accepted /finish
  std::optional<SetAsideReason> set_aside;  // set while in the set-aside area
};

nlohmann::json meta_to_json(const RecordingMeta& meta);
Result<RecordingMeta> meta_from_json(const nlohmann::json& doc);

struct SegmentFile {
  std::int64_t seq = 0;
  std::filesystem::path path;
  enum class Kind { closed, part, conflict } kind = Kind::closed;
};

std::string segment_file_name(std::int64_t seq);  // "seg-000003.mp4"
// The segment's activity events document (events/event.hpp), written
// atomically beside it before the segment is closed: "seg-000003.events.json".
// Absent when the segment had no events.
std::string events_file_name(std::int64_t seq);
// Segment files of one recording directory, by seq; other names ignored.
Result<std::vector<SegmentFile>> list_segments(const std::filesystem::path& recording_dir);

// What crash recovery did to one recording.
struct RecoveryReport {
  int parts_recovered = 0;     // .part files cut to whole fragments and closed
  int parts_dropped = 0;       // .part files without a single whole fragment
  std::uint64_t bytes_cut = 0; // torn bytes cut off the .part tails
  bool marked_interrupted = false;
};

class Spool {
 public:
  explicit Spool(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }

  Status init();  // creates the root, 0700

  // A new recording directory holding recording.json; meta.local_id is set.
  Result<std::filesystem::path> create(RecordingMeta& meta);
  Result<RecordingMeta> load(const std::filesystem::path& dir) const;
  Status save(const std::filesystem::path& dir, const RecordingMeta& meta);
  // Loads, applies fn, saves: atomic with respect to other update() calls.
  Status update(const std::filesystem::path& dir, const std::function<void(RecordingMeta&)>& fn);
  // Recording directories (those with a recording.json), oldest first.
  Result<std::vector<std::filesystem::path>> recordings() const;
  // Deletes a recording directory (after the server confirmed everything).
  Status remove(const std::filesystem::path& dir);

  // The set-aside area (created 0700 on first use).
  std::filesystem::path set_aside_root() const { return root_ / "set-aside"; }
  // Moves a recording directory, files and all, into the set-aside area and
  // records why; the uploader no longer sees it. Returns its new path.
  Result<std::filesystem::path> set_aside(const std::filesystem::path& dir, SetAsideReason reason);
  // Set-aside recording directories, oldest first.
  Result<std::vector<std::filesystem::path>> set_aside_recordings() const;
  // Puts a set-aside recording (by local id) back in the upload queue. One
  // the server no longer knew (404) is created anew on the server.
  Status retry_set_aside(std::string_view local_id);
  // Deletes a set-aside recording (by local id) and its files.
  Status delete_set_aside(std::string_view local_id);

  // Closes what a stopped (or failed) recorder left open: every .part is cut
  // back to its valid prefix (media::valid_prefix_length) and renamed to its
  // final name, or removed when it holds no whole fragment; next_seq and
  // media_end_ms follow. The recording's finished state is not touched.
  Result<RecoveryReport> close_parts(const std::filesystem::path& dir);

  // Crash recovery for a recording an earlier agent process left open:
  // close_parts(), then an unfinished recording is finished as interrupted,
  // end_time = start + the end of its last whole fragment. Idempotent.
  Result<RecoveryReport> recover(const std::filesystem::path& dir);

  // Bytes of all files under the root (for the heartbeat's spool_bytes).
  std::uint64_t bytes() const;

 private:
  std::filesystem::path root_;
  std::mutex mu_;
};

// Free space of the file system holding `path`.
struct DiskSpace {
  std::uint64_t free_bytes = 0;   // available to unprivileged users
  std::uint64_t total_bytes = 0;
};
Result<DiskSpace> disk_space(const std::filesystem::path& path);

// The floor below which recording stops: free < min_free_bytes or
// free < min_free_percent of the total.
struct DiskFloor {
  std::uint64_t min_free_bytes = 512ull << 20;
  double min_free_percent = 5.0;
};
bool below_floor(const DiskSpace& space, const DiskFloor& floor);

}  // namespace deskaudit::agent
