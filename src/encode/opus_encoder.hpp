#pragma once
// Opus (libopus through libavcodec) for the audio track: 48 kHz, stereo,
// signed 16-bit interleaved input, 20 ms frames, constrained VBR.
//
// Why Opus rather than AAC-LC (libavcodec's native aac), measured with the
// ffmpeg CLI on this machine (bench figures in docs/audio.md):
//   silence: Opus 3-byte frames, ~0.54 MB/h with default-size truns;
//            AAC 6-byte frames at 48 kHz, ~1.0 MB/h (not "well under 1 MB/h");
//   tone:    Opus 48 kb/s ~31 MB/h, 3.97 s CPU per 600 s; AAC 64 kb/s
//            ~30 MB/h, 6.64 s CPU per 600 s.
// Opus in MP4 (dOps) plays through MediaSource in Chromium, Firefox and
// Safari 17+, and in VLC.
//
// Each encode() takes exactly frame_samples() samples per channel and
// returns the packets libopus produced (one per frame; libavcodec's wrapper
// does not hold frames back). pts/duration are set by the caller's count.
// Thread safety: one thread at a time.
#include <cstdint>
#include <span>
#include <vector>

#include "common/error.hpp"
#include "encode/av_ptr.hpp"

namespace deskaudit::encode {

inline constexpr int kAudioSampleRate = 48000;
inline constexpr int kAudioChannels = 2;
inline constexpr int kAudioFrameSamples = 960;  // 20 ms at 48 kHz

struct OpusOptions {
  int bitrate = 48000;  // bits/s; speech and music stay clear, silence costs ~3 bytes a frame
};

class OpusEncoder {
 public:
  static Result<OpusEncoder> open(const OpusOptions& options = {});
  OpusEncoder(OpusEncoder&&) noexcept = default;
  OpusEncoder& operator=(OpusEncoder&&) noexcept = default;

  // pcm: kAudioFrameSamples * kAudioChannels interleaved samples. pts: the
  // frame's position in samples (48 kHz); the packet gets pts == dts and
  // duration kAudioFrameSamples.
  Result<AvPacketPtr> encode(std::span<const std::int16_t> pcm, std::int64_t pts);
  const AVCodecContext* context() const { return ctx_.get(); }

 private:
  OpusEncoder() = default;
  AvCodecContextPtr ctx_;          // application=audio: every frame, its packets unless silent
  AvCodecContextPtr silence_ctx_;  // application=lowdelay (CELT only): fed zero frames only
  AvFramePtr frame_;
  AvPacketPtr packet_;
  bool previous_zero_ = false;
};

}  // namespace deskaudit::encode
