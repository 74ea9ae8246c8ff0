#pragma once
// The knobs of the recording pipeline that are not policy: encoder tuning,
// fragment and keyframe spacing, capture backend. Recorder::start() uses the
// defaults below (measured with bench/record); benchmarks and tests may pass
// others through start_recorder().
#include <cstdint>
#include <functional>
#include <memory>

#include "capture/capture.hpp"
#include "common/time.hpp"
#include "encode/h264_encoder.hpp"
#include "record/activity_map.hpp"
#include "record/recorder.hpp"

namespace deskaudit::record {

struct RecorderTuning {
  // width, height and fps are filled in by the recorder.
  encode::EncoderOptions encoder;
  // A fragment is written (and fsync'd) at each keyframe and once it spans
  // this much media time.
  std::int64_t fragment_ms = 2000;
  // A picture that has stayed on screen this long is written (and fsync'd)
  // with its duration so far, and the duration is extended in place when the
  // next frame comes: a crash loses at most this much of a still screen.
  std::int64_t still_flush_ms = 1000;
  // A keyframe after this many frames of activity (idle time costs none),
  // once the frames since the last keyframe have cost at least as many bytes
  // as that keyframe (a clock ticking on a still desktop makes tiny frames
  // that are cheap to decode: a keyframe every 300 of them would be most of
  // the bytes); after keyframe_max_frames in any case. What a player decodes
  // to reach any point stays below about two keyframes' worth.
  int keyframe_interval_frames = 300;
  int keyframe_max_frames = 3000;
  // Coarser coding of areas in constant motion, refined once still.
  ActivityOptions activity;
  // A change of at most small_change_max_mbs macroblocks, all of them in
  // constant motion (a clock's seconds, a spinner), is taken at most every
  // small_change_interval_ms (0: at the frame rate like any other); a larger
  // change takes it along at once. An idle desktop with a ticking clock then
  // costs a frame every 4 s instead of every second (such digits are coded
  // as coarsely as H.264 goes anyway: at 2 s they were ~7% of an office
  // session's bytes, with their fragments ~20%; bench/record).
  std::int64_t small_change_interval_ms = 4000;
  int small_change_max_mbs = 12;
  // Frames that carry nothing but such a small change (a clock's tick) are
  // not each written as a fragment of their own within still_flush_ms (a
  // moof+mdat costs ~100 bytes, as much as the tick): they wait in memory,
  // up to this much media time, and go to disk together, or with the next
  // other frame (which is written within still_flush_ms as usual). Meanwhile
  // the picture on disk has its duration extended in place, so the file's
  // end stays within still_flush_ms of the screen; a crash loses at most
  // this span of ticks, never any other change. 0: off (each written within
  // still_flush_ms). Not with audio (a fragment carries the audio).
  std::int64_t small_change_fragment_ms = 10'000;
  capture::BackendChoice backend = capture::BackendChoice::best;
  // Where the pictures come from: unless set, the X display of
  // RecorderOptions::display (tests and benchmarks pass a
  // capture::ScriptedScreen's open()).
  std::function<Result<std::unique_ptr<capture::ScreenCapture>>(const capture::CaptureOptions&)> open_capture;
  // Paces frames and stamps media time; the clock the capture's wait()
  // deadlines refer to (a ScriptedScreen's clock() with its captures).
  // nullptr: capture::steady_clock(). Must outlive the recorder.
  const capture::MonotonicClock* clock = nullptr;
  // Called once, on the recorder thread, with the wall-clock time of media
  // time start_offset_ms (the first frame's capture time).
  std::function<void(EpochMs)> on_first_frame;
};

Result<std::unique_ptr<Recorder>> start_recorder(const RecorderOptions& options, RecorderTuning tuning,
                                                 Recorder::SegmentCallback on_segment_closed);

}  // namespace deskaudit::record
