#pragma once
// The audio track of a recording: what the session's user hears (the default
// sink's monitor, capture::SoundCapture) on a timeline shared with the video,
// encoded as Opus on its own thread.
//
// Timeline: sample 0 of the track is media time start_ms, captured at the
// steady-clock instant t0 the recorder gives begin() (its first frame's
// capture time). Samples are placed by their capture position: a chunk
// continues the previous one sample for sample. The first chunk after a
// (re)connection is placed at its capture time (now minus the server's
// latency); afterwards the track is padded with silence or trimmed only when
// the capture times of a whole window of chunks (about a second) are all
// more than kResyncMs away from their positions (clock drift, a hole), so
// the scheduling jitter of single estimates never cuts the sound. While the server is absent, or
// connected but sending nothing (frozen: SIGSTOP, hung), the track is
// silence, so it stays continuous (players stall at gaps in a track); a
// connection is tried every retry_interval, and the first chunk after a
// freeze is placed at its capture time like the first after a connection.
//
// Capture and encoding run on a thread named "da-audio" (ps, top and
// bench/record measure the audio path's CPU by it).
// Thread safety: every public member may be called from any thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "capture/sound_capture.hpp"
#include "common/error.hpp"
#include "encode/opus_encoder.hpp"
#include "record/recorder.hpp"

namespace deskaudit::record {

struct AudioTrackOptions {
  capture::SoundOptions sound;
  encode::OpusOptions opus;
  std::chrono::milliseconds retry_interval{500};
  // No data from a connected server for this long: it is frozen or hung
  // (SoundCapture::read); the state says so and the track goes on as silence.
  std::chrono::milliseconds idle_limit{1000};
};

class AudioTrack {
 public:
  static constexpr std::int64_t kResyncMs = 40;

  // Opens the encoder only: the server is not contacted before begin().
  static Result<std::unique_ptr<AudioTrack>> open(AudioTrackOptions options);
  ~AudioTrack();
  AudioTrack(const AudioTrack&) = delete;
  AudioTrack& operator=(const AudioTrack&) = delete;

  const AVCodecContext* codec() const { return encoder_.context(); }
  // Starts capturing (see the timeline above). Once.
  void begin(std::chrono::steady_clock::time_point t0, std::int64_t start_ms);
  // The encoded packets (pts in samples of media time: ms * 48) that end at
  // or before until_ms, in order; each call continues where the last ended.
  std::vector<encode::AvPacketPtr> take_until(std::int64_t until_ms);
  // Stops capture, fills the track with silence up to end_ms and returns the
  // remaining packets that start before end_ms.
  Result<std::vector<encode::AvPacketPtr>> finish(std::int64_t end_ms);
  AudioState state() const;

 private:
  explicit AudioTrack(AudioTrackOptions options, encode::OpusEncoder encoder)
      : options_(std::move(options)), encoder_(std::move(encoder)) {}
  void run();
  void capture_loop(std::unique_ptr<capture::SoundCapture>& cap);
  std::int64_t samples_at(std::chrono::steady_clock::time_point t) const;
  // Thread-side: append samples to the timeline and encode whole frames.
  Status append(const std::int16_t* pcm, std::size_t frames);
  Status pad_silence_to(std::int64_t position);
  void set_state(AudioState s);

  AudioTrackOptions options_;
  encode::OpusEncoder encoder_;  // the capture thread's, until finish()
  std::chrono::steady_clock::time_point t0_{};
  std::int64_t start_ms_ = 0;
  std::int64_t position_ = 0;     // samples placed on the timeline
  std::int64_t encoded_ = 0;      // samples encoded
  std::vector<std::int16_t> pcm_;  // placed, not yet encoded (interleaved)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  capture::SoundCapture* live_ = nullptr;  // to wake a blocked read
  std::deque<encode::AvPacketPtr> ready_;
  AudioState state_;
  std::optional<Error> failure_;
  std::thread thread_;
};

}  // namespace deskaudit::record
