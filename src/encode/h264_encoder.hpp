#pragma once
// H.264 (libx264 through libavcodec) for screen content, variable frame rate.
//
// The encoder owns one persistent I420 picture. The caller updates the parts
// of it that changed (picture() makes it writable first) and calls encode()
// with that frame's capture time; frames are only sent when the screen
// changed, so a still screen costs nothing. There are no B-frames and no
// lookahead: every encode() returns exactly one packet for that frame, which
// lets the caller re-encode the same picture as a keyframe (see record/).
// Thread safety: one thread at a time.
#include <cstdint>
#include <span>
#include <string>

#include "common/error.hpp"
#include "encode/av_ptr.hpp"

namespace deskaudit::encode {

struct EncoderOptions {
  int width = 0;   // 2..16384
  int height = 0;  // 2..16384
  int fps = 5;     // the frame-rate cap (one of policy::kFpsChoices): a hint for rate control
  // Defaults measured with bench/record (screen content, 1080p, 5 fps):
  // qcomp=1 keeps the quantiser steady (a window of text appearing after a
  // quiet spell is not coded finer than the rest), psy off (no bits spent on
  // grain that screens do not have), whole-pixel motion search only (screens
  // move by whole pixels or not at all) and no deblocking (keeps text edges;
  // together ~28% less CPU for +3% bytes).
  std::string preset = "veryfast";
  std::string tune;
  int crf = 28;                 // constant quality (used when qp < 0)
  int qp = -1;                  // >= 0: constant quantiser instead of crf
  int threads = 1;              // one core is the whole budget of an agent
  std::string screen_params = "qcomp=1:psy=0:weightp=0:me=dia:subme=0:no-deblock=1";
  std::string x264_params;      // extra "key=value:key=value", applied last
};

// The picture planes, valid until the next encode().
struct Planes {
  std::uint8_t* data[3] = {};
  int linesize[3] = {};
  int width = 0;
  int height = 0;
};

enum class FrameKind { delta, keyframe };

// A rectangle (pixels, clipped to the picture) whose quantiser is shifted by
// qp_offset (-51..51; positive = coarser) for one frame. Needs adaptive
// quantisation on (aq-mode != 0), which is the default.
struct QualityRegion {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  int qp_offset = 0;
};

class H264Encoder {
 public:
  static Result<H264Encoder> open(const EncoderOptions& options);
  H264Encoder(H264Encoder&&) noexcept = default;
  H264Encoder& operator=(H264Encoder&&) noexcept = default;

  // Makes the picture writable (copying it only if the encoder still holds
  // a reference) and returns its planes.
  Result<Planes> picture();
  // Encodes the picture with pts = pts_ms (time base 1/1000, strictly
  // increasing except when re-encoding the same pts as a keyframe).
  Result<AvPacketPtr> encode(std::int64_t pts_ms, FrameKind kind, std::span<const QualityRegion> regions = {});

  const AVCodecContext* context() const { return ctx_.get(); }
  int width() const { return ctx_->width; }
  int height() const { return ctx_->height; }

 private:
  H264Encoder() = default;
  AvCodecContextPtr ctx_;
  AvFramePtr frame_;
  AvPacketPtr packet_;
};

}  // namespace deskaudit::encode
