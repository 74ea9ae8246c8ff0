#pragma once
// Opus (libopus through libavcodec) for the audio track: 48 kHz, stereo,
// signed 16-bit interleaved input, 20 ms frames, constrained VBR.
//
// Why Opus rather than AAC-LC (libavcodec's native aac), measured with the
// ffmpeg CLI on this machine (session figures in bench/record/README.md):
//   silence: Opus 3-byte frames, ~0.54 MB/h with default-size truns;
//            AAC 6-byte frames at 48 kHz, ~1.0 MB/h (not "well under 1 MB/h");
//   tone:    Opus 48 kb/s ~31 MB/h, 3.97 s CPU per 600 s; AAC 64 kb/s
//            ~30 MB/h, 6.64 s CPU per 600 s.
// Opus in MP4 (dOps) plays through MediaSource in Chromium, Firefox and
// Safari 17+, and in VLC.
//
// Silence: libopus with application=audio keeps the hybrid (SILK+CELT) mode
// it chose for speech through digital silence, at 43-50 bytes a packet
// (~8 MB/h; -dtx changes nothing), and application=lowdelay, which codes
// silence in 3 bytes, costs ~1.8x the bytes for speech. So a second,
// CELT-only (lowdelay) context is fed the all-zero frames, and its packet
// (CELT's silence flag, 3 bytes) stands for a frame that is all zero and
// follows an all-zero frame (the main encoder's 6.5 ms lookahead then
// covers zeros only). The main encoder still gets every frame, so its state
// and every other packet are what plain libopus makes; Opus decoders take
// the change of mode between packets (libavcodec's and libopus's decode the
// silence to zeros and speech after it as plain libopus's stream).
// Exactly zero, not a dither threshold: a silent PulseAudio sink plays
// zeros, and a frame of low noise is sound to keep, not to drop.
//
// Each encode() takes exactly kAudioFrameSamples samples per channel and
// returns the one packet for that frame (libavcodec's wrapper does not hold
// frames back). pts/duration are set by the caller's count.
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
