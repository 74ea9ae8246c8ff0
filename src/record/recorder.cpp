#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/fs.hpp"
#include "common/wakeup.hpp"
#include "encode/fmp4_muxer.hpp"
#include "policy/policy.hpp"
#include "record/audio_track.hpp"
#include "record/pipeline.hpp"
#include "record/pre_event_ring.hpp"
#include "record/segment_files.hpp"

namespace deskaudit::record {
namespace {

using SteadyClock = std::chrono::steady_clock;
using capture::CaptureStatus;
using encode::FrameKind;

// moof/traf/tfhd/tfdt/trun headers plus mdat header, and per-sample trun entry:
// a generous bound so a fragment never exceeds its estimate.
constexpr std::int64_t kFragmentOverheadBytes = 256;
constexpr std::int64_t kSampleOverheadBytes = 16;
// Room kept in a segment for the audio a fragment carries (a fragment spans
// about fragment_ms: 2 s are ~12 KB of Opus at 48 kb/s, plus 4 bytes a frame):
// this much, or an eighth of a small segment. A fragment carries no more
// audio than that; the rest waits for the next one.
constexpr std::int64_t kAudioReserveBytes = 256 << 10;

class RecorderImpl final : public Recorder {
 public:
  RecorderImpl(RecorderOptions options, RecorderTuning tuning, SegmentCallback cb)
      : options_(std::move(options)),
        tuning_(std::move(tuning)),
        on_closed_(std::move(cb)),
        clock_(tuning_.clock != nullptr ? tuning_.clock : &capture::steady_clock()),
        segments_(options_.output_dir, options_.first_seq) {}
  ~RecorderImpl() override { (void)stop(); }

  Status init();
  Status stop() override;
  CaptureInfo capture_info() const override {
    std::lock_guard lock(mu_);
    return info_;
  }
  std::optional<Error> failure() const override {
    std::lock_guard lock(mu_);
    return failure_;
  }
  std::int64_t elapsed_ms() const override { return elapsed_ms_.load() - origin_ms_.load(); }
  std::optional<std::int64_t> media_ms_at(SteadyClock::time_point t) const override {
    const auto t0 = t0_ns_.load();
    if (t0 == kNotStarted) return std::nullopt;
    return options_.start_offset_ms - origin_ms_.load() +
           std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() - std::chrono::nanoseconds(t0))
               .count();
  }
  Result<CommitInfo> commit(const CommitRequest& request) override;
  bool armed() const override { return armed_flag_.load(); }
  std::optional<AudioState> audio_state() const override {
    if (!audio_) return std::nullopt;
    return audio_->state();
  }

 private:
  void run();
  Status loop();
  Status take_frame(SteadyClock::time_point now);
  Status handle_resize();
  // changed: the areas that differ from the previous encoded picture.
  // minor: the frame carries only a small change in constant motion (see
  // RecorderTuning::small_change_fragment_ms).
  Status encode_and_mux(std::int64_t pts, std::span<const encode::QualityRegion> regions,
                        std::span<const encode::ChangedArea> changed, bool minor = false);
  Status refine(SteadyClock::time_point now);
  // Encodes what take_frame() held back (deferred_), now.
  Status take_deferred(SteadyClock::time_point now);
  Status repeat_frame(SteadyClock::time_point now);
  Status add_packet(encode::AvPacketPtr pkt, FrameKind kind, bool new_segment, bool minor);
  Status flush_fragment(std::size_t count, bool hold_last = false);
  // Sets the held picture's duration to end at until_ms, for good.
  Status extend_held(std::int64_t until_ms);
  // Still screen but for frames of small changes waiting in frag_: the held
  // picture's duration is extended (provisionally) to cover their time.
  Status cover_with_held(std::int64_t until_ms);
  bool groups_small_changes() const { return tuning_.small_change_fragment_ms > 0 && !audio_; }
  Status close_segment(bool last = false);
  Result<CommitInfo> do_commit(const CommitRequest& request);
  Status finish(SteadyClock::time_point now);
  SteadyClock::time_point now() const { return clock_->now(); }
  SteadyClock::time_point time_of(std::int64_t media) const {
    return t0_ + std::chrono::milliseconds(media - options_.start_offset_ms);
  }
  // Frames are stamped on a grid of the frame interval from the first frame
  // (start_offset_ms + k * 1000 / fps): with every gap a whole number of
  // intervals, tools that guess a constant rate from the timestamps (ffmpeg
  // transcoding, players) guess the cap or a divisor of it, never a rate at
  // which two frames share one output tick.
  std::int64_t grid_floor(std::int64_t media) const {
    const std::int64_t k = (media - options_.start_offset_ms) * options_.fps / 1000;
    return options_.start_offset_ms + k * 1000 / options_.fps;
  }
  std::int64_t grid_ceil(std::int64_t media) const {
    const std::int64_t k = ((media - options_.start_offset_ms) * options_.fps + 999) / 1000;
    return options_.start_offset_ms + k * 1000 / options_.fps;
  }
  std::int64_t media_ms(SteadyClock::time_point t) const {
    return options_.start_offset_ms + std::chrono::duration_cast<std::chrono::milliseconds>(t - t0_).count();
  }
  std::int64_t audio_reserve() const {
    return audio_ ? std::min(kAudioReserveBytes, options_.segment_max_bytes / 8) : 0;
  }
  bool fits(std::int64_t packet_bytes) const {
    const std::int64_t n = static_cast<std::int64_t>(frag_.size()) + 1;
    return segments_.size_bytes() + frag_bytes_ + packet_bytes + kFragmentOverheadBytes + n * kSampleOverheadBytes +
               audio_reserve() <=
           options_.segment_max_bytes;
  }

  RecorderOptions options_;
  RecorderTuning tuning_;
  SegmentCallback on_closed_;
  const capture::MonotonicClock* clock_;
  SegmentFiles segments_;
  std::unique_ptr<capture::ScreenCapture> capture_;
  std::optional<encode::H264Encoder> encoder_;
  std::optional<ActivityMap> activity_;
  std::unique_ptr<AudioTrack> audio_;
  std::vector<encode::AvPacketPtr> audio_pending_;  // taken from audio_, not yet written
  std::unique_ptr<encode::Fmp4Muxer> muxer_;
  bool new_muxer_pending_ = true;
  std::vector<encode::AvPacketPtr> frag_;  // the fragment being built; the last duration is unknown
  std::int64_t frag_bytes_ = 0;
  bool frag_minor_ = false;     // every frame in frag_ carries only a small change in constant motion
  bool minor_covered_ = false;  // frag_'s time is on disk as the held picture's extended duration
  int frames_since_key_ = 0;
  std::int64_t last_key_bytes_ = 0;
  std::int64_t bytes_since_key_ = 0;
  bool started_ = false;
  SteadyClock::time_point t0_{};
  std::int64_t last_pts_ = -1;
  std::int64_t last_packet_pts_ = -1;  // of the last packet added to a fragment
  // The last sample on disk, written while its picture was still on screen:
  // its duration (at file offset duration_at) is extended when the next one comes.
  struct Held {
    std::int64_t pts = 0;
    std::int64_t duration_at = 0;
  };
  std::optional<Held> held_;
  // A small change in constant motion that is in the picture but not yet
  // encoded (see RecorderTuning::small_change_interval_ms): its areas, and
  // when it is encoded if nothing else comes first.
  struct Deferred {
    std::vector<capture::Rect> rects;
    SteadyClock::time_point due;
  };
  std::optional<Deferred> deferred_;

  std::optional<Wakeup> stop_;
  std::thread thread_;
  mutable std::mutex mu_;
  CaptureInfo info_;
  std::optional<Error> failure_;
  bool stopped_ = false;
  std::atomic<std::int64_t> elapsed_ms_{0};
  // t0_ for other threads (media_ms_at), in steady-clock nanoseconds.
  static constexpr std::int64_t kNotStarted = INT64_MIN;
  std::atomic<std::int64_t> t0_ns_{kNotStarted};

  // Event-triggered recording (RecorderOptions::pre_event): while armed_,
  // segments go to ring_ and are ring_segment_ms_ long.
  std::optional<PreEventRing> ring_;
  std::int64_t ring_keep_ms_ = 0;
  std::int64_t ring_segment_ms_ = 0;
  bool armed_ = false;  // the recorder thread's view
  std::atomic<bool> armed_flag_{false};
  bool force_new_segment_ = false;
  // Media time (recorder clock) of the recording's time 0 once committed.
  std::atomic<std::int64_t> origin_ms_{0};
  // commit() hands its request to the recorder thread under mu_.
  std::optional<CommitRequest> commit_request_;
  std::optional<Result<CommitInfo>> commit_result_;
  std::condition_variable commit_cv_;
  bool thread_done_ = false;
};

Status RecorderImpl::init() {
  const auto& o = options_;
  // The policy's limits (src/policy): a recorder is only ever started with them.
  if (!policy::fps_allowed(o.fps)) {
    return fail(Errc::invalid_argument, "fps " + std::to_string(o.fps) + " is not one of the policy's choices", "fps");
  }
  if (o.segment_max_bytes < policy::kSegmentMinBytes)
    return fail(Errc::invalid_argument, "segment_max_bytes below 64 KiB", "segment_max_bytes");
  if (o.segment_max_ms < 1000) return fail(Errc::invalid_argument, "segment_max_ms below 1 s", "segment_max_ms");
  if (o.first_seq < 0 || o.first_seq > 999999)
    return fail(Errc::invalid_argument, "first_seq outside 0..999999", "first_seq");
  if (o.start_offset_ms < 0) return fail(Errc::invalid_argument, "negative start_offset_ms", "start_offset_ms");
  if (tuning_.fragment_ms < 100 || tuning_.keyframe_interval_frames < 1 || tuning_.still_flush_ms < 100 ||
      tuning_.keyframe_max_frames < tuning_.keyframe_interval_frames || tuning_.small_change_interval_ms < 0 ||
      tuning_.small_change_interval_ms > 10'000 || tuning_.small_change_max_mbs < 0 ||
      tuning_.small_change_fragment_ms < 0 || tuning_.small_change_fragment_ms > 60'000 ||
      tuning_.activity.hot_gap_ms < 0 || tuning_.activity.hot_gap_ms > 10'000)
    return fail(Errc::invalid_argument,
                "fragment_ms or still_flush_ms below 100, keyframe interval below 1 or above the maximum, "
                "small_change_interval_ms outside 0..10000, small_change_max_mbs negative, "
                "small_change_fragment_ms outside 0..60000 or activity.hot_gap_ms outside 0..10000");
  if (o.pre_event) {
    const auto& pe = *o.pre_event;
    if (o.audio) {
      return fail(Errc::invalid_argument, "the pre-event ring holds video only: no audio with pre_event", "audio");
    }
    if (pe.keep_ms < 0 || pe.keep_ms > 120'000 || pe.max_bytes < 1 || pe.ring_segment_ms < 0 ||
        (pe.ring_segment_ms != 0 && pe.ring_segment_ms < 1000)) {
      return fail(Errc::invalid_argument,
                  "pre_event keep_ms outside 0..120000, max_bytes below 1 or ring_segment_ms below 1 s", "pre_event");
    }
    ring_keep_ms_ = pe.keep_ms;
    ring_segment_ms_ = pe.ring_segment_ms != 0 ? pe.ring_segment_ms
                                               : std::clamp<std::int64_t>(pe.keep_ms / 4, 2000, 10'000);
    ring_.emplace(pe.keep_ms, pe.max_bytes);
    segments_.buffer_in(&*ring_);
    armed_ = true;
    armed_flag_ = true;
  } else {
    if (std::error_code ec; !std::filesystem::is_directory(o.output_dir, ec))
      return fail(Errc::invalid_argument, "output directory " + o.output_dir.string() + " does not exist",
                  "output_dir");
  }

  auto stop = Wakeup::create();
  if (!stop) return std::unexpected(stop.error());
  stop_.emplace(std::move(*stop));

  capture::CaptureOptions co;
  co.display = o.display;
  co.draw_cursor = o.draw_cursor;
  co.backend = tuning_.backend;
  co.cursor_poll_interval = std::chrono::milliseconds(1000 / o.fps);
  auto cap = tuning_.open_capture ? tuning_.open_capture(co) : capture::open_screen_capture(co);
  if (!cap) return std::unexpected(cap.error());
  capture_ = std::move(*cap);
  elapsed_ms_ = o.start_offset_ms;

  auto eo = tuning_.encoder;
  eo.width = capture_->width();
  eo.height = capture_->height();
  eo.fps = o.fps;
  auto enc = encode::H264Encoder::open(eo);
  if (!enc) return std::unexpected(enc.error());
  encoder_.emplace(std::move(*enc));
  activity_.emplace(eo.width, eo.height, tuning_.activity);
  if (o.audio) {
    AudioTrackOptions ao;
    ao.sound = *o.audio;
    auto track = AudioTrack::open(std::move(ao));
    if (!track) return std::unexpected(track.error());
    audio_ = std::move(*track);
  }
  // The first frame is captured at media time start_offset_ms, so the first
  // segment can be opened now and a bad spool fails start(), not the thread.
  auto m = encode::Fmp4Muxer::open(encoder_->parameters(), o.start_offset_ms, audio_ ? audio_->codec() : nullptr);
  if (!m) return std::unexpected(m.error());
  muxer_ = std::move(*m);
  new_muxer_pending_ = false;
  if (auto st = segments_.open(muxer_->init_segment(), o.start_offset_ms); !st) return st;
  {
    std::lock_guard lock(mu_);
    info_ = CaptureInfo{std::string(capture_->backend()), capture_->width(), capture_->height(), true, {},
                        std::string(capture_->fallback_reason())};
  }
  thread_ = std::thread([this] { run(); });
  return {};
}

void RecorderImpl::run() {
  Status st = loop();
  {
    std::lock_guard lock(mu_);
    thread_done_ = true;
  }
  commit_cv_.notify_all();
  if (!st) {
    spdlog::error("recording stopped: {}", st.error().message);
    {
      std::lock_guard lock(mu_);
      failure_ = st.error();
      info_.ok = false;
      info_.error = st.error().message;
    }
    // Keep what is on disk usable: whole fragments are already there; the
    // open segment stays a .part file (valid up to its last fragment).
  }
}

Status RecorderImpl::loop() {
  const auto interval = std::chrono::microseconds(1'000'000 / options_.fps);
  // A burst of drawing (a window mapping) right after a still period is
  // caught whole instead of half-drawn and again 1/fps later. Only then: in
  // motion (a change seen less than two frame intervals after the last
  // frame) the next grid point takes it. A capture that finds changes by
  // polling (GDI) sees them only when it reads, right after a frame's own
  // work; a settle there pushed every frame of a moving window one grid
  // point further (2.5 fps instead of 5 under Wine).
  const auto settle = std::min<std::chrono::microseconds>(interval / 4, std::chrono::milliseconds(50));
  const std::int64_t still_ms = 2 * 1000 / options_.fps;
  auto next_allowed = now();
  std::optional<SteadyClock::time_point> change_seen;
  for (;;) {
    const auto t_now = now();
    const bool pending = capture_->changed();
    SteadyClock::time_point deadline;
    if (pending) {
      if (!change_seen) change_seen = t_now;
      const bool after_still = started_ && media_ms(*change_seen) - last_pts_ >= still_ms;
      deadline = std::max(next_allowed, after_still ? *change_seen + settle : t_now);
      if (started_) deadline = time_of(grid_ceil(media_ms(deadline)));
    } else {
      deadline = t_now + std::chrono::milliseconds(tuning_.fragment_ms);
      // A refinement is a frame too: it waits for the fps cap like any other.
      // A held-back small change is coded at its time first; refinement after.
      if (const auto due = activity_->refinement_due_ms(); due && started_ && !deferred_)
        deadline = std::min(deadline, time_of(grid_ceil(media_ms(std::max(next_allowed, time_of(*due))))));
      if (minor_covered_) {
        deadline = std::min(deadline, time_of(frag_.front()->pts + tuning_.small_change_fragment_ms));
      } else if (!frag_.empty()) {
        deadline = std::min(deadline, time_of(frag_.back()->pts + tuning_.still_flush_ms));
      }
      if (deferred_) deadline = std::min(deadline, deferred_->due);
    }
    auto st = capture_->wait(deadline, pending ? capture::WaitFor::deadline : capture::WaitFor::change, &*stop_);
    if (!st) return std::unexpected(st.error());
    switch (*st) {
      case CaptureStatus::interrupted: {
        // The wakeup serves stop() and commit(); stop() sets stopped_ before
        // it signals, so a stop is never reset unseen.
        stop_->reset();
        std::optional<CommitRequest> request;
        bool stopping = false;
        {
          std::lock_guard lock(mu_);
          stopping = stopped_;
          request = std::exchange(commit_request_, std::nullopt);
        }
        if (request) {
          auto r = do_commit(*request);
          std::optional<Error> err;
          if (!r) err = r.error();
          {
            std::lock_guard lock(mu_);
            commit_result_ = std::move(r);
          }
          commit_cv_.notify_all();
          if (err) return std::unexpected(*err);
          if (started_) next_allowed = time_of(grid_ceil(last_pts_ + 1));
        }
        if (stopping) return finish(now());
        break;
      }
      case CaptureStatus::reinit:
        if (auto r = handle_resize(); !r) return r;
        break;
      case CaptureStatus::timeout:
        if (deferred_ && now() >= deferred_->due) {
          if (auto r = take_deferred(now()); !r) return r;
          next_allowed = time_of(grid_ceil(last_pts_ + 1));
          break;
        }
        if (const auto due = activity_->refinement_due_ms();
            due && started_ && !deferred_ && media_ms(now()) >= *due && now() >= next_allowed) {
          const auto t = now();
          if (auto r = refine(t); !r) return r;
          next_allowed = time_of(grid_ceil(last_pts_ + 1));
          break;
        }
        // Armed on a still screen: the picture is coded again as a keyframe
        // at each ring-segment boundary, so the ring can always start a
        // recording at most ring_segment_ms_ after the cutoff.
        if (armed_ && started_ && media_ms(now()) - segments_.start_ms() >= ring_segment_ms_ &&
            now() >= next_allowed) {
          if (auto r = repeat_frame(now()); !r) return r;
          next_allowed = time_of(grid_ceil(last_pts_ + 1));
          break;
        }
        // Still screen with audio: a fragment needs a video sample to carry the
        // audio, so the unchanged picture is coded again (an all-skip frame
        // of a few bytes) once a fragment's span has passed.
        if (audio_ && started_ && frag_.empty() && media_ms(now()) - last_pts_ >= tuning_.fragment_ms &&
            now() >= next_allowed) {
          if (auto r = repeat_frame(now()); !r) return r;
          next_allowed = time_of(grid_ceil(last_pts_ + 1));
          break;
        }
        // Still screen: the newest picture goes to disk with its duration so
        // far, so a crash does not lose it; the next frame extends it.
        // Frames of small changes alone wait (up to small_change_fragment_ms)
        // while the picture on disk is extended over their time.
        if (const auto t = media_ms(now()); !frag_.empty() && t - frag_.back()->pts >= tuning_.still_flush_ms) {
          if (frag_minor_ && held_ && t - frag_.front()->pts < tuning_.small_change_fragment_ms) {
            if (!minor_covered_)
              if (auto r = cover_with_held(t); !r) return r;
          } else {
            frag_.back()->duration = t - frag_.back()->pts;
            if (auto r = flush_fragment(frag_.size(), true); !r) return r;
          }
        }
        break;
      case CaptureStatus::ok:
        if (pending && now() >= deadline) {
          const auto t = now();
          if (auto r = take_frame(t); !r) return r;
          // The next grid point (a keyframe re-encoded 1 ms late keeps its slot).
          if (started_) next_allowed = time_of(grid_ceil(last_pts_ + 1));
          change_seen.reset();
        } else if (!pending) {
          change_seen = now();
        }
        break;
    }
  }
}

Status RecorderImpl::take_frame(SteadyClock::time_point now) {
  auto planes = encoder_->picture();
  if (!planes) return std::unexpected(planes.error());
  const capture::I420View view{planes->data[0], planes->linesize[0], planes->data[1], planes->linesize[1],
                               planes->data[2], planes->linesize[2], planes->width,   planes->height};
  auto st = capture_->grab(view);
  if (!st) return std::unexpected(st.error());
  if (*st == CaptureStatus::reinit) return handle_resize();
  if (*st == CaptureStatus::timeout) return {};  // nothing had changed after all
  auto rects = capture_->last_grab_rects();
  bool small = false;
  if (options_.on_screen_change && (!started_ || !activity_->small_and_hot(rects, tuning_.small_change_max_mbs))) {
    options_.on_screen_change(now);
  }
  if (!started_) {
    started_ = true;
    t0_ = now;
    t0_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (tuning_.on_first_frame) {
      // The wall time of `now` (taken before the grab), not of this line.
      const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(this->now() - now).count();
      tuning_.on_first_frame(SystemClock().now_ms() - std::max<std::int64_t>(0, since));
    }
    // The audio track's sample 0 is this frame's media time: one clock for both.
    if (audio_) audio_->begin(now, options_.start_offset_ms);
  } else {
    if (deferred_) {
      rects.insert(rects.begin(), deferred_->rects.begin(), deferred_->rects.end());
      deferred_.reset();
    }
    const std::int64_t interval = tuning_.small_change_interval_ms;
    small = interval > 0 && activity_->small_and_hot(rects, tuning_.small_change_max_mbs);
    if (small && media_ms(now) - last_pts_ < interval) {
      deferred_ = Deferred{std::move(rects), time_of(grid_ceil(last_pts_ + interval))};
      return {};
    }
  }
  std::int64_t pts = grid_floor(media_ms(now));
  if (pts <= last_pts_) pts = last_pts_ + 1;
  last_pts_ = pts;
  const auto regions = activity_->plan(rects, pts);
  std::vector<encode::ChangedArea> changed;
  changed.reserve(rects.size());
  for (const auto& r : rects) changed.push_back({r.x, r.y, r.width, r.height});
  return encode_and_mux(pts, regions, changed, small);
}

Status RecorderImpl::take_deferred(SteadyClock::time_point now) {
  auto d = std::move(*deferred_);
  deferred_.reset();
  std::int64_t pts = grid_floor(media_ms(now));
  if (pts <= last_pts_) pts = last_pts_ + 1;
  last_pts_ = pts;
  const auto regions = activity_->plan(d.rects, pts);
  std::vector<encode::ChangedArea> changed;
  changed.reserve(d.rects.size());
  for (const auto& r : d.rects) changed.push_back({r.x, r.y, r.width, r.height});
  return encode_and_mux(pts, regions, changed, true);
}

// The screen is still, but parts of it were last coded coarsely while they
// moved: code the same picture once more, finer there.
Status RecorderImpl::refine(SteadyClock::time_point now) {
  std::int64_t pts = grid_floor(media_ms(now));
  if (pts <= last_pts_) pts = last_pts_ + 1;
  last_pts_ = pts;
  const auto regions = activity_->plan({}, pts);
  if (regions.empty()) return {};
  return encode_and_mux(pts, regions, {});
}

Status RecorderImpl::repeat_frame(SteadyClock::time_point now) {
  std::int64_t pts = grid_floor(media_ms(now));
  if (pts <= last_pts_) pts = last_pts_ + 1;
  last_pts_ = pts;
  return encode_and_mux(pts, activity_->plan({}, pts), {});
}

Status RecorderImpl::handle_resize() {
  if (auto st = capture_->reinit(); !st) return st;
  auto eo = tuning_.encoder;
  eo.width = capture_->width();
  eo.height = capture_->height();
  eo.fps = options_.fps;
  auto enc = encode::H264Encoder::open(eo);
  if (!enc) return std::unexpected(enc.error());
  // Packets already made by the old encoder stay queued; the segment of the
  // old size is closed when the first frame of the new size is ready, so the
  // last old frame lasts exactly until then.
  encoder_.emplace(std::move(*enc));
  activity_.emplace(eo.width, eo.height, tuning_.activity);
  deferred_.reset();  // the new picture is grabbed whole
  new_muxer_pending_ = true;
  frames_since_key_ = 0;
  spdlog::info("screen size changed to {}x{}", eo.width, eo.height);
  std::lock_guard lock(mu_);
  info_.width = eo.width;
  info_.height = eo.height;
  return {};
}

Status RecorderImpl::encode_and_mux(std::int64_t pts, std::span<const encode::QualityRegion> regions,
                                    std::span<const encode::ChangedArea> changed, bool minor) {
  const bool has_content = segments_.fragments() > 0 || !frag_.empty();
  const std::int64_t segment_ms = armed_ ? ring_segment_ms_ : options_.segment_max_ms;
  bool new_segment = new_muxer_pending_ || force_new_segment_ || (has_content && pts - segments_.start_ms() >= segment_ms);
  const bool key_due = frames_since_key_ >= tuning_.keyframe_max_frames ||
                       (frames_since_key_ >= tuning_.keyframe_interval_frames && bytes_since_key_ >= last_key_bytes_);
  FrameKind kind = new_segment || frames_since_key_ == 0 || key_due ? FrameKind::keyframe : FrameKind::delta;
  // Content that stays on screen (nothing in motion but a clock's digits)
  // is worth the encoder's careful settings; motion is not.
  const bool careful = activity_->hot_mbs() <= tuning_.small_change_max_mbs;
  auto pkt = encoder_->encode(pts, kind, regions, changed, careful);
  if (!pkt) return std::unexpected(pkt.error());
  if (!new_segment && has_content && !fits((*pkt)->size)) {
    // The segment is full. A delta frame cannot start the next one: encode
    // the same picture again as a keyframe and drop the delta packet.
    new_segment = true;
    if (kind == FrameKind::delta) {
      kind = FrameKind::keyframe;
      // The encoder has seen `pts` once already: the keyframe gets the next
      // millisecond, so timestamps stay strictly increasing.
      pts = ++last_pts_;
      pkt = encoder_->encode(pts, kind, regions, std::span<const encode::ChangedArea>{}, careful);
      if (!pkt) return std::unexpected(pkt.error());
    }
  }
  if (spdlog::should_log(spdlog::level::trace)) {
    std::int64_t changed_px = 0;
    for (const auto& c : changed) changed_px += static_cast<std::int64_t>(c.width) * c.height;
    spdlog::trace("frame pts={} {} areas={} changed_px={} hot_mbs={} regions={} careful={} bytes={}", pts,
                  kind == FrameKind::keyframe ? "key" : "delta", changed.size(), changed_px, activity_->hot_mbs(),
                  regions.size(), careful, (*pkt)->size);
  }
  return add_packet(std::move(*pkt), kind, new_segment, minor && kind == FrameKind::delta);
}

Status RecorderImpl::add_packet(encode::AvPacketPtr pkt, FrameKind kind, bool new_segment, bool minor) {
  // Sample durations come from pts differences: two packets with one pts
  // would give a zero-length sample and equal decode times in the file.
  if (last_packet_pts_ >= 0 && pkt->pts <= last_packet_pts_) {
    pkt->pts = last_packet_pts_ + 1;
    pkt->dts = pkt->pts;
  }
  last_packet_pts_ = pkt->pts;
  // The held picture on disk keeps its provisional duration until the frame
  // after it is written (flush_fragment()).
  if (!frag_.empty()) frag_.back()->duration = pkt->pts - frag_.back()->pts;
  const std::int64_t span = frag_minor_ ? tuning_.small_change_fragment_ms : tuning_.fragment_ms;
  if (!frag_.empty() && (kind == FrameKind::keyframe || pkt->pts - frag_.front()->pts >= span))
    if (auto st = flush_fragment(frag_.size()); !st) return st;
  if (new_segment) {
    if (auto st = extend_held(pkt->pts); !st) return st;
    if (auto st = close_segment(); !st) return st;
    if (new_muxer_pending_) {
      auto m = encode::Fmp4Muxer::open(encoder_->parameters(), pkt->pts, audio_ ? audio_->codec() : nullptr);
      if (!m) return std::unexpected(m.error());
      muxer_ = std::move(*m);
      new_muxer_pending_ = false;
    }
    if (auto st = segments_.open(muxer_->init_segment(), pkt->pts); !st) return st;
  }
  frag_minor_ = (frag_.empty() || frag_minor_) && minor && groups_small_changes();
  minor_covered_ = false;
  frag_bytes_ += pkt->size;
  frag_.push_back(std::move(pkt));
  if (kind == FrameKind::keyframe) {
    frames_since_key_ = 1;
    last_key_bytes_ = frag_.back()->size;
    bytes_since_key_ = 0;
  } else {
    ++frames_since_key_;
    bytes_since_key_ += frag_.back()->size;
  }
  return {};
}

Status RecorderImpl::flush_fragment(std::size_t count, bool hold_last) {
  count = std::min(count, frag_.size());
  if (count == 0) return {};
  if (auto st = extend_held(frag_.front()->pts); !st) return st;
  const std::int64_t offset = segments_.size_bytes();
  std::vector<const AVPacket*> pkts;
  pkts.reserve(count);
  for (std::size_t i = 0; i < count; ++i) pkts.push_back(frag_[i].get());
  const std::int64_t end = frag_[count - 1]->pts + frag_[count - 1]->duration;
  std::vector<const AVPacket*> audio;
  if (audio_) {
    for (auto& p : audio_->take_until(end)) audio_pending_.push_back(std::move(p));
    std::int64_t bytes = 0;
    for (const auto& p : audio_pending_) {
      bytes += p->size + 4;
      if (bytes > audio_reserve() && !audio.empty()) break;
      audio.push_back(p.get());
    }
  }
  auto bytes = muxer_->fragment(pkts, audio);
  if (!bytes) return std::unexpected(bytes.error());
  audio_pending_.erase(audio_pending_.begin(), audio_pending_.begin() + static_cast<std::ptrdiff_t>(audio.size()));
  if (auto st = segments_.append(*bytes, end); !st) return st;
  if (hold_last)
    held_ = Held{frag_[count - 1]->pts, offset + static_cast<std::int64_t>(muxer_->last_duration_offset())};
  for (std::size_t i = 0; i < count; ++i) frag_bytes_ -= frag_[i]->size;
  frag_.erase(frag_.begin(), frag_.begin() + static_cast<std::ptrdiff_t>(count));
  if (frag_.empty()) frag_minor_ = minor_covered_ = false;
  elapsed_ms_ = end;
  return {};
}

Status RecorderImpl::extend_held(std::int64_t until_ms) {
  if (!held_) return {};
  const auto duration = static_cast<std::uint32_t>(std::max<std::int64_t>(1, until_ms - held_->pts));
  if (auto st = segments_.rewrite_u32(held_->duration_at, duration, held_->pts + duration); !st) return st;
  // The provisional duration ran to when it was written, which a late wakeup
  // can put past the next frame's grid time: the muxer follows the rewrite.
  muxer_->last_duration_rewritten(duration);
  elapsed_ms_ = held_->pts + duration;
  held_.reset();
  return {};
}

Status RecorderImpl::cover_with_held(std::int64_t until_ms) {
  const auto duration = static_cast<std::uint32_t>(std::max<std::int64_t>(1, until_ms - held_->pts));
  if (auto st = segments_.rewrite_u32(held_->duration_at, duration, held_->pts + duration); !st) return st;
  elapsed_ms_ = held_->pts + duration;
  minor_covered_ = true;
  return {};
}

Status RecorderImpl::close_segment(bool last) {
  if (options_.before_segment_close && !segments_.in_memory() && segments_.is_open() && segments_.fragments() > 0) {
    const std::int64_t origin = origin_ms_.load();
    options_.before_segment_close(
        SegmentClosing{segments_.seq(), segments_.start_ms() - origin, segments_.end_ms() - origin, last}, *this);
  }
  auto closed = segments_.close();
  if (!closed) return std::unexpected(closed.error());
  if (*closed && on_closed_) on_closed_(**closed);
  return {};
}

Status RecorderImpl::finish(SteadyClock::time_point now) {
  if (deferred_) {
    if (auto st = take_deferred(now); !st) return st;
  }
  if (audio_ && started_) {
    // The rest of the audio goes into a last fragment, which needs a video
    // sample: the picture on screen, coded once more.
    if (frag_.empty()) {
      if (auto r = repeat_frame(now); !r) return r;
    }
    auto rest = audio_->finish(std::max(media_ms(now), frag_.back()->pts + 1));
    if (!rest) {
      spdlog::warn("the audio track's end is lost: {}", rest.error().message);
    } else {
      for (auto& p : *rest) audio_pending_.push_back(std::move(p));
    }
  }
  if (!frag_.empty()) {
    // The last picture stayed on screen until now.
    frag_.back()->duration = std::max<std::int64_t>(1, media_ms(now) - frag_.back()->pts);
    if (auto st = flush_fragment(frag_.size()); !st) return st;
  } else if (auto st = extend_held(media_ms(now)); !st) {
    return st;
  }
  return close_segment(true);
}

Result<CommitInfo> RecorderImpl::commit(const CommitRequest& request) {
  std::unique_lock lock(mu_);
  if (!armed_flag_.load()) return fail(Errc::invalid_argument, "the recorder is not armed (or committed already)");
  if (stopped_ || thread_done_) return fail(Errc::unavailable, "the recorder has stopped");
  if (!request.open_output) return fail(Errc::invalid_argument, "no open_output", "open_output");
  commit_request_ = request;
  commit_result_.reset();
  stop_->signal();
  commit_cv_.wait(lock, [&] { return commit_result_.has_value() || thread_done_; });
  if (!commit_result_) {
    return fail(Errc::unavailable, failure_ ? "the recorder stopped: " + failure_->message : "the recorder stopped");
  }
  auto r = std::move(*commit_result_);
  commit_result_.reset();
  return r;
}

Result<CommitInfo> RecorderImpl::do_commit(const CommitRequest& request) {
  const auto t = now();
  if (started_) {
    // The picture on screen now opens a new segment with a keyframe; the
    // segment before it (held picture extended to here) joins the ring.
    force_new_segment_ = true;
    auto r = repeat_frame(t);
    force_new_segment_ = false;
    if (!r) return std::unexpected(r.error());
  }
  const std::int64_t cutoff = started_ ? media_ms(request.trigger_at) - ring_keep_ms_ : INT64_MIN;
  auto kept = ring_->take_from(cutoff);
  const std::int64_t open_start = segments_.start_ms();
  const std::int64_t origin = kept.empty() ? open_start : kept.front().start_ms;
  CommitInfo info;
  info.origin_at = started_ ? time_of(origin) : t;
  auto dir = request.open_output(info.origin_at);
  if (!dir) return std::unexpected(dir.error());
  if (std::error_code ec; !std::filesystem::is_directory(*dir, ec)) {
    return fail(Errc::invalid_argument, "output directory " + dir->string() + " does not exist", "output_dir");
  }
  if (auto r = segments_.commit_to_files(*dir, request.first_seq, origin); !r) return std::unexpected(r.error());
  options_.output_dir = *dir;
  origin_ms_ = origin;
  armed_ = false;
  armed_flag_ = false;
  info.pre_event_ms = started_ ? std::max<std::int64_t>(0, media_ms(request.trigger_at) - origin) : 0;
  for (auto& seg : kept) {
    if (auto st = segments_.open_whole(std::move(seg)); !st) return std::unexpected(st.error());
    if (auto st = close_segment(); !st) return std::unexpected(st.error());
    ++info.ring_segments;
  }
  if (auto st = segments_.open(muxer_->init_segment(), open_start); !st) return std::unexpected(st.error());
  spdlog::info("pre-event ring committed: {} ms before the trigger in {} segments", info.pre_event_ms,
               info.ring_segments);
  return info;
}

Status RecorderImpl::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return failure_ ? Status(std::unexpected(*failure_)) : Status{};
    stopped_ = true;
  }
  if (thread_.joinable()) {
    stop_->signal();
    thread_.join();
  }
  std::lock_guard lock(mu_);
  if (failure_) return std::unexpected(*failure_);
  return {};
}

}  // namespace

Result<std::unique_ptr<Recorder>> start_recorder(const RecorderOptions& options, RecorderTuning tuning,
                                                 Recorder::SegmentCallback on_segment_closed) {
  auto r = std::make_unique<RecorderImpl>(options, std::move(tuning), std::move(on_segment_closed));
  if (auto st = r->init(); !st) return std::unexpected(st.error());
  return std::unique_ptr<Recorder>(std::move(r));
}

Result<std::unique_ptr<Recorder>> Recorder::start(const RecorderOptions& options, SegmentCallback on_segment_closed) {
  return start_recorder(options, RecorderTuning{}, std::move(on_segment_closed));
}

CaptureInfo probe_capture(const std::string& display) {
  CaptureInfo info;
  capture::CaptureOptions co;
  co.display = display;
  auto cap = capture::open_screen_capture(co);
  if (!cap) {
    info.error = cap.error().message;
    return info;
  }
  info.backend = std::string((*cap)->backend());
  info.fallback_reason = std::string((*cap)->fallback_reason());
  info.width = (*cap)->width();
  info.height = (*cap)->height();
  info.ok = true;
  return info;
}

}  // namespace deskaudit::record
