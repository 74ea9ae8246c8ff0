#pragma once
// The recording pipeline of one recording: X11 capture -> H.264 -> fragmented
// MP4 segment files in a spool directory. Runs on its own thread(s) between
// start() and stop().
//
// Files: segment N is written as `seg-NNNNNN.mp4.part` (6 digits, mode 0600)
// and renamed to `seg-NNNNNN.mp4` when closed. Every file starts with the
// init segment (ftyp+moov) and a keyframe, holds whole fragments
// (moof+mdat), and each fragment is fsync'd when written, so after a crash a
// .part file is valid up to its last whole fragment (media::valid_prefix).
// Timestamps continue across the segments of one recording (segment N+1's
// first decode time = segment N's end): no gap, no jump.
// A segment closes at segment_max_bytes or segment_max_ms, at a fragment
// boundary, and the next one opens at once.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "capture/sound_capture.hpp"
#include "common/error.hpp"
#include "common/time.hpp"

namespace deskaudit::record {

class Recorder;

struct SegmentClosing {
  std::int64_t seq = 0;
  std::int64_t start_ms = 0;  // media time of its first frame
  std::int64_t end_ms = 0;    // where its last sample ends
  bool last = false;          // the recorder is stopping: no segment follows
};

// Event-triggered recording: the recorder starts armed, writes nothing, and
// keeps the last keep_ms of encoded video in memory (PreEventRing, bounded by
// max_bytes) as segments of ring_segment_ms, each opened with a keyframe (a
// still screen gets its picture coded again as one at each boundary), until
// commit() makes it a recording.
struct PreEventOptions {
  std::int64_t keep_ms = 0;          // 0..120000 (policy pre_event_seconds)
  std::int64_t ring_segment_ms = 0;  // 0: keep_ms / 4 within 2..10 s
  std::int64_t max_bytes = 48ll << 20;
};

struct RecorderOptions {
  std::string display;                       // X display, ":1"
  int fps = 5;                               // upper bound, one of policy::kFpsChoices; a still screen costs no frames
  std::int64_t segment_max_bytes = 32ll << 20;
  std::int64_t segment_max_ms = 60ll * 60 * 1000;
  std::filesystem::path output_dir;          // exists, 0700, owned by the caller (unused while armed)
  std::int64_t first_seq = 0;                // seq of the first segment written
  std::int64_t start_offset_ms = 0;          // media time of the first frame
  bool draw_cursor = true;
  // Set: record what the session's user hears from this audio server as a
  // second track (record/audio_track.hpp). Unset: nothing is opened on any
  // audio server and the files have one (video) track.
  std::optional<capture::SoundOptions> audio;
  // Set: start armed (see PreEventOptions); not with audio.
  std::optional<PreEventOptions> pre_event;
  // Both run on the recorder's thread and must not block for long.
  // The screen changed at this instant (a frame was taken), beyond small
  // areas in constant motion (a clock's seconds, a spinner): for idle
  // detection, where a ticking clock is no activity.
  std::function<void(std::chrono::steady_clock::time_point)> on_screen_change;
  // A segment holding frames is about to be closed (before its rename to
  // the final name, so a side file written here is in place before the
  // segment is; see SegmentClosing), with the recorder for its media clock.
  std::function<void(const SegmentClosing&, const Recorder&)> before_segment_close;
};

// For recording-status: is sound being recorded, from where, and if not, why.
struct AudioState {
  bool recording = false;
  std::string source;  // the monitor and server while recording
  std::string error;   // why there is no audio (server absent, gone, refused)
};

struct SegmentClosed {
  std::int64_t seq = 0;
  std::filesystem::path path;       // the final seg-NNNNNN.mp4
  std::int64_t size_bytes = 0;
  std::int64_t start_offset_ms = 0;  // media time of its first frame
  std::int64_t duration_ms = 0;
};

// What the agent reports in its heartbeat about capture.
struct CaptureInfo {
  std::string backend;  // "xcb-shm+damage", "xcb-getimage", ...
  int width = 0;
  int height = 0;
  bool ok = false;
  std::string error;    // why not ok
  // Why the platform's preferred backend is not used (Windows: why DXGI
  // Desktop Duplication is not, so GDI is); empty when it is.
  std::string fallback_reason;
};

// Checks that the display can be captured (connects, reads the size, tries
// the best backend). Cheap; used for heartbeats before any session.
CaptureInfo probe_capture(const std::string& display);

struct CommitRequest {
  // Called on the recorder's thread once the recording's first frame is
  // chosen, before any file is written, with the instant of its media time
  // 0: returns the directory (exists, 0700) the recording goes to. (The
  // agent creates its spool recording here, with the right start time.)
  std::function<Result<std::filesystem::path>(std::chrono::steady_clock::time_point origin_at)> open_output;
  std::int64_t first_seq = 0;
  // The trigger's instant: the recording begins at the first ring segment
  // that starts at most keep_ms before it (or with the picture on screen now).
  std::chrono::steady_clock::time_point trigger_at;
};

struct CommitInfo {
  // The instant of the recording's media time 0 (its first frame).
  std::chrono::steady_clock::time_point origin_at;
  std::int64_t pre_event_ms = 0;  // media time written from before the trigger
  int ring_segments = 0;          // ring segments written
};

class Recorder {
 public:
  using SegmentCallback = std::function<void(const SegmentClosed&)>;

  // Opens the display and the first segment and starts recording.
  // on_segment_closed runs on the recorder's thread after each segment file
  // is closed, fsync'd and renamed; it must not block for long.
  static Result<std::unique_ptr<Recorder>> start(const RecorderOptions& options,
                                                 SegmentCallback on_segment_closed);
  virtual ~Recorder() = default;  // stops if still running
  // Stops capture, flushes the encoder, closes the last segment (calling
  // on_segment_closed for it, unless it holds no frame: then it is removed).
  virtual Status stop() = 0;
  virtual CaptureInfo capture_info() const = 0;
  // Set when the pipeline stopped by itself (display gone, disk full, ...).
  virtual std::optional<Error> failure() const = 0;
  // nullopt when the recording has no audio track.
  virtual std::optional<AudioState> audio_state() const = 0;
  // Armed recorder: the ring (what precedes the trigger) becomes the first
  // segment files of a recording in request.output_dir, the picture on
  // screen now starts the next one with a keyframe, and from now on the
  // recorder writes like one started unarmed; every media time (files,
  // SegmentClosed/Closing, media_ms_at, elapsed_ms) counts from the new
  // origin. Waits for the recorder's thread to do it. Any thread.
  virtual Result<CommitInfo> commit(const CommitRequest& request) = 0;
  virtual bool armed() const = 0;
  // Media time recorded so far (end of the last frame written).
  virtual std::int64_t elapsed_ms() const = 0;
  // The media time of a steady-clock instant (the recorder's clock, as used
  // for every video and audio timestamp); nullopt before the first frame,
  // which is media time start_offset_ms.
  virtual std::optional<std::int64_t> media_ms_at(std::chrono::steady_clock::time_point t) const = 0;
};

}  // namespace deskaudit::record
