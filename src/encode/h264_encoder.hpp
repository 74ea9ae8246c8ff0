#pragma once
// H.264 (libx264, driven directly) for screen content, variable frame rate.
//
// The encoder owns one persistent I420 picture. The caller updates the parts
// of it that changed (picture()) and calls encode() with that frame's capture
// time and, when it knows them, the areas that changed since the previous
// encode(): x264 then codes every other macroblock as a skip without
// analysing it (x264's mb_info), so a clock ticking on a still 1080p desktop
// costs the few macroblocks of its digits, not a search over the whole frame.
// Frames are only sent when the screen changed, so a still screen costs
// nothing. There are no B-frames and no lookahead: every encode() returns
// exactly one packet for that frame, which lets the caller re-encode the same
// picture as a keyframe (see record/).
// Packets are Annex B (start codes); SPS and PPS are in parameters()'s
// extradata only (not repeated in keyframes).
// Thread safety: one thread at a time.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "encode/av_ptr.hpp"

struct x264_t;
struct x264_param_t;

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
  // together ~28% less CPU for +3% bytes). aq-strength=1.5: text on a flat
  // background costs ~16% less at the same OCR legibility (bench/record).
  std::string preset = "veryfast";
  std::string tune;
  int crf = 28;     // constant quality (used when qp < 0)
  int qp = -1;      // >= 0: constant quantiser instead of crf
  int threads = 1;  // one core is the whole budget of an agent
  std::string screen_params = "qcomp=1:psy=0:weightp=0:me=dia:subme=0:no-deblock=1:aq-strength=1.5";
  std::string x264_params;  // extra "key=value:key=value", applied last
  // Frames encode() is told to code with care (new or refined content that
  // stays on screen, not motion) get these on top, switched per frame with
  // x264_encoder_reconfig (which can change the motion search, trellis and
  // crf, but not subme away from 0): a wider motion search finds more of a
  // window that appears over what was there (a pager over a terminal: -6%),
  // and trellis quantisation at one crf step coarser codes text ~6% smaller
  // at the same PSNR (bench/record). Only these frames pay the extra CPU;
  // video and dragged windows keep the fast search.
  std::string careful_params = "me=umh:merange=48:trellis=2";
  int careful_crf_offset = 1;  // 0..10, added to crf (not used with qp >= 0)
};

// The picture planes, valid until the encoder is destroyed.
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

// An area of the picture (pixels; clipped) that changed.
struct ChangedArea {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

struct X264Deleter {
  void operator()(x264_t* h) const noexcept;
};
using X264Ptr = std::unique_ptr<x264_t, X264Deleter>;
struct X264ParamDeleter {
  void operator()(x264_param_t* p) const noexcept;
};
using X264ParamPtr = std::unique_ptr<x264_param_t, X264ParamDeleter>;

struct AvCodecParametersDeleter {
  void operator()(AVCodecParameters* p) const noexcept { avcodec_parameters_free(&p); }
};
using AvCodecParametersPtr = std::unique_ptr<AVCodecParameters, AvCodecParametersDeleter>;

class H264Encoder {
 public:
  static Result<H264Encoder> open(const EncoderOptions& options);
  H264Encoder(H264Encoder&&) noexcept = default;
  H264Encoder& operator=(H264Encoder&&) noexcept = default;

  // The picture's planes (the encoder copies it at each encode(), so the
  // caller may change it at any time).
  Result<Planes> picture();
  // Encodes the picture with pts = pts_ms (time base 1/1000, strictly
  // increasing except when re-encoding the same pts as a keyframe).
  // changed: the areas where the picture may differ from the one given to
  // the previous encode() (nullopt: unknown, anywhere). Every pixel outside
  // them must be unchanged, or the decoded picture keeps the old pixels there.
  // careful: code this frame with EncoderOptions::careful_params.
  Result<AvPacketPtr> encode(std::int64_t pts_ms, FrameKind kind, std::span<const QualityRegion> regions = {},
                             std::optional<std::span<const ChangedArea>> changed = std::nullopt, bool careful = false);

  // Stream parameters for a muxer: H.264, size, colour, SPS+PPS extradata (Annex B).
  const AVCodecParameters* parameters() const { return params_.get(); }
  int width() const { return width_; }
  int height() const { return height_; }

 private:
  H264Encoder() = default;
  X264Ptr x264_;
  X264ParamPtr fast_;     // the parameters of ordinary frames
  X264ParamPtr careful_;  // and of careful ones
  bool careful_now_ = false;
  AvCodecParametersPtr params_;
  int width_ = 0;
  int height_ = 0;
  int mb_w_ = 0;
  int mb_h_ = 0;
  bool use_quant_offsets_ = false;
  std::vector<std::uint8_t> pixels_;  // Y, U, V planes
  int stride_y_ = 0;
  int stride_c_ = 0;
  std::vector<float> quant_offsets_;   // per macroblock; x264 reads them during encode()
  std::vector<std::uint8_t> mb_info_;  // per macroblock
};

}  // namespace deskaudit::encode
