#include "encode/h264_encoder.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

extern "C" {
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixfmt.h>
}

#include "policy/policy.hpp"

namespace deskaudit::encode {

std::string av_error_text(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_make_error_string(buf, sizeof buf, errnum);
  return buf;
}

Result<H264Encoder> H264Encoder::open(const EncoderOptions& o) {
  // libx264 reports its settings and statistics at info level for every
  // encoder opened (every segment): keep warnings and errors only.
  static std::once_flag quiet;
  std::call_once(quiet, [] {
    if (av_log_get_level() > AV_LOG_WARNING) av_log_set_level(AV_LOG_WARNING);
  });
  if (o.width < 2 || o.height < 2 || o.width > 16384 || o.height > 16384)
    return fail(Errc::invalid_argument, "encoder size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                                            " outside 2..16384");
  if (!policy::fps_allowed(o.fps)) {
    return fail(Errc::invalid_argument, "fps " + std::to_string(o.fps) + " is not one of the policy's choices");
  }
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (codec == nullptr) return fail(Errc::unavailable, "libavcodec has no libx264 encoder");

  H264Encoder enc;
  enc.ctx_.reset(avcodec_alloc_context3(codec));
  enc.frame_.reset(av_frame_alloc());
  enc.packet_.reset(av_packet_alloc());
  if (!enc.ctx_ || !enc.frame_ || !enc.packet_) return fail(Errc::internal, "out of memory allocating the encoder");
  AVCodecContext* c = enc.ctx_.get();
  c->width = o.width;
  c->height = o.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;  // what every browser decodes
  c->time_base = {1, 1000};
  c->framerate = {o.fps, 1};
  c->thread_count = o.threads;
  c->max_b_frames = 0;
  c->gop_size = -1;  // keyframes are placed by the caller
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // SPS/PPS in avcC for MP4
  // libyuv's ARGBToI420 is BT.601 limited range; say so, so players convert back right.
  c->colorspace = AVCOL_SPC_SMPTE170M;
  c->color_range = AVCOL_RANGE_MPEG;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_IEC61966_2_1;

  auto set = [&](const char* key, const std::string& value) -> Status {
    if (value.empty()) return {};
    if (const int r = av_opt_set(c->priv_data, key, value.c_str(), 0); r < 0)
      return fail(Errc::invalid_argument, std::string("libx264 option ") + key + "=" + value + ": " + av_error_text(r));
    return {};
  };
  // No lookahead and no B-frames: one packet out per frame in, at once
  // (force-cfr: with VFR input x264 holds a frame back to learn its duration;
  // the timestamps still pass through unchanged).
  // x264 places no keyframe by itself (keyint=infinite, scenecut=0).
  std::string params = "bframes=0:rc-lookahead=0:sync-lookahead=0:force-cfr=1:scenecut=0:keyint=infinite:min-keyint=1";
  if (!o.screen_params.empty()) params += ":" + o.screen_params;
  if (!o.x264_params.empty()) params += ":" + o.x264_params;
  for (const auto& [k, v] : {std::pair{"preset", o.preset}, std::pair{"tune", o.tune}, std::pair{"forced-idr", std::string("1")},
                             std::pair{"x264-params", params}})
    if (auto st = set(k, v); !st) return std::unexpected(st.error());
  if (o.qp >= 0) {
    if (auto st = set("qp", std::to_string(o.qp)); !st) return std::unexpected(st.error());
  } else {
    if (auto st = set("crf", std::to_string(o.crf)); !st) return std::unexpected(st.error());
  }
  if (const int r = avcodec_open2(c, codec, nullptr); r < 0)
    return fail(Errc::unavailable, "open libx264 " + std::to_string(o.width) + "x" + std::to_string(o.height) + ": " +
                                       av_error_text(r));

  AVFrame* f = enc.frame_.get();
  f->format = AV_PIX_FMT_YUV420P;
  f->width = o.width;
  f->height = o.height;
  f->color_range = AVCOL_RANGE_MPEG;
  f->colorspace = AVCOL_SPC_SMPTE170M;
  if (const int r = av_frame_get_buffer(f, 0); r < 0)
    return fail(Errc::internal, "allocate picture: " + av_error_text(r));
  // Start black, like a screen before its first grab.
  for (int p = 0; p < 3; ++p) {
    const int h = p == 0 ? o.height : (o.height + 1) / 2;
    std::memset(f->data[p], p == 0 ? 16 : 128, static_cast<std::size_t>(f->linesize[p]) * h);
  }
  return enc;
}

Result<Planes> H264Encoder::picture() {
  if (const int r = av_frame_make_writable(frame_.get()); r < 0)
    return fail(Errc::internal, "make picture writable: " + av_error_text(r));
  Planes p;
  for (int i = 0; i < 3; ++i) {
    p.data[i] = frame_->data[i];
    p.linesize[i] = frame_->linesize[i];
  }
  p.width = frame_->width;
  p.height = frame_->height;
  return p;
}

Result<AvPacketPtr> H264Encoder::encode(std::int64_t pts_ms, FrameKind kind, std::span<const QualityRegion> regions) {
  av_frame_remove_side_data(frame_.get(), AV_FRAME_DATA_REGIONS_OF_INTEREST);
  if (!regions.empty()) {
    AVFrameSideData* sd = av_frame_new_side_data(frame_.get(), AV_FRAME_DATA_REGIONS_OF_INTEREST,
                                                 regions.size() * sizeof(AVRegionOfInterest));
    if (sd == nullptr) return fail(Errc::internal, "out of memory for quality regions");
    auto* roi = reinterpret_cast<AVRegionOfInterest*>(sd->data);
    for (const auto& r : regions) {
      const int x0 = std::clamp(r.x, 0, frame_->width);
      const int y0 = std::clamp(r.y, 0, frame_->height);
      const int x1 = std::clamp(r.x + r.width, x0, frame_->width);
      const int y1 = std::clamp(r.y + r.height, y0, frame_->height);
      *roi++ = AVRegionOfInterest{sizeof(AVRegionOfInterest), y0, y1, x0, x1, av_make_q(std::clamp(r.qp_offset, -51, 51), 51)};
    }
  }
  frame_->pts = pts_ms;
  frame_->pict_type = kind == FrameKind::keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  if (const int r = avcodec_send_frame(ctx_.get(), frame_.get()); r < 0)
    return fail(Errc::internal, "encode frame: " + av_error_text(r));
  const int r = avcodec_receive_packet(ctx_.get(), packet_.get());
  if (r < 0) {
    // Without lookahead and B-frames libx264 never holds a frame back.
    return fail(Errc::internal, r == AVERROR(EAGAIN) ? std::string("encoder delayed a frame (lookahead is on?)")
                                                     : "encode frame: " + av_error_text(r));
  }
  AvPacketPtr out(av_packet_alloc());
  if (!out) return fail(Errc::internal, "out of memory allocating a packet");
  av_packet_move_ref(out.get(), packet_.get());
  out->time_base = {1, 1000};
  return out;
}

}  // namespace deskaudit::encode
