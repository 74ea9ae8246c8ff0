#include "encode/h264_encoder.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <stdint.h>  // NOLINT: x264.h needs the C names

extern "C" {
#include <libavutil/mem.h>
#include <x264.h>
}

#include "policy/policy.hpp"

namespace deskaudit::encode {

std::string av_error_text(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_make_error_string(buf, sizeof buf, errnum);
  return buf;
}

void X264Deleter::operator()(x264_t* h) const noexcept { x264_encoder_close(h); }
// The parameter sets are copies of x264_encoder_parameters() plus options
// without allocated values; nothing of theirs is to be freed but the struct.
void X264ParamDeleter::operator()(x264_param_t* p) const noexcept { delete p; }

namespace {

// x264 prints its warnings and errors to stderr; its per-encoder statistics
// (info level) are not wanted: every segment opens an encoder.
void x264_log(void*, int level, const char* fmt, va_list args) {
  if (level > X264_LOG_WARNING) return;
  std::fputs("x264: ", stderr);
  std::vfprintf(stderr, fmt, args);
}

// "key=value:key=value" (a bare key means "1", as x264's own CLI parser does).
Status apply_params(x264_param_t& p, const std::string& params) {
  std::size_t i = 0;
  while (i < params.size()) {
    std::size_t end = params.find(':', i);
    if (end == std::string::npos) end = params.size();
    const std::string item = params.substr(i, end - i);
    i = end + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "1" : item.substr(eq + 1);
    const int r = x264_param_parse(&p, key.c_str(), value.c_str());
    if (r == X264_PARAM_BAD_NAME) return fail(Errc::invalid_argument, "unknown libx264 option " + key);
    if (r != 0) return fail(Errc::invalid_argument, "libx264 option " + key + "=" + value + ": bad value");
  }
  return {};
}

constexpr int kAlign = 64;
int aligned(int n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

Result<H264Encoder> H264Encoder::open(const EncoderOptions& o) {
  if (o.width < 2 || o.height < 2 || o.width > 16384 || o.height > 16384)
    return fail(Errc::invalid_argument,
                "encoder size " + std::to_string(o.width) + "x" + std::to_string(o.height) + " outside 2..16384");
  if (!policy::fps_allowed(o.fps)) {
    return fail(Errc::invalid_argument, "fps " + std::to_string(o.fps) + " is not one of the policy's choices");
  }
  if (o.threads < 1 || o.threads > 16) return fail(Errc::invalid_argument, "threads outside 1..16");
  if (o.careful_crf_offset < 0 || o.careful_crf_offset > 10)
    return fail(Errc::invalid_argument, "careful_crf_offset outside 0..10");

  x264_param_t p;
  if (x264_param_default_preset(&p, o.preset.c_str(), o.tune.empty() ? nullptr : o.tune.c_str()) < 0)
    return fail(Errc::invalid_argument, "unknown libx264 preset '" + o.preset + "' or tune '" + o.tune + "'");
  p.pf_log = x264_log;
  p.i_log_level = X264_LOG_WARNING;
  p.i_width = o.width;
  p.i_height = o.height;
  p.i_csp = X264_CSP_I420;  // what every browser decodes
  p.i_threads = o.threads;
  p.i_fps_num = static_cast<std::uint32_t>(o.fps);
  p.i_fps_den = 1;
  p.i_timebase_num = 1;
  p.i_timebase_den = 1000;
  // Rate control by frame count, not by timestamps (a still screen's long
  // frame would otherwise be coded as if it mattered for longer); the
  // timestamps still pass through unchanged.
  p.b_vfr_input = 0;
  // No lookahead and no B-frames: one packet out per frame in, at once.
  // x264 places no keyframe by itself: the caller does.
  p.i_bframe = 0;
  p.rc.i_lookahead = 0;
  p.i_sync_lookahead = 0;
  p.i_scenecut_threshold = 0;
  p.i_keyint_max = X264_KEYINT_MAX_INFINITE;
  p.i_keyint_min = 1;
  p.b_repeat_headers = 0;  // SPS/PPS go to the MP4 sample entry (parameters())
  p.b_annexb = 1;
  // libyuv's ARGBToI420 is BT.601 limited range; say so, so players convert back right.
  p.vui.b_fullrange = 0;
  p.vui.i_colorprim = 1;  // BT.709
  p.vui.i_transfer = 13;  // IEC 61966-2-1 (sRGB)
  p.vui.i_colmatrix = 6;  // SMPTE 170M
  if (o.qp >= 0) {
    if (o.qp > 51) return fail(Errc::invalid_argument, "qp outside 0..51");
    p.rc.i_rc_method = X264_RC_CQP;
    p.rc.i_qp_constant = o.qp;
  } else {
    if (o.crf > 51) return fail(Errc::invalid_argument, "crf outside 0..51");
    p.rc.i_rc_method = X264_RC_CRF;
    p.rc.f_rf_constant = static_cast<float>(o.crf);
  }
  if (auto st = apply_params(p, o.screen_params); !st) return std::unexpected(st.error());
  if (auto st = apply_params(p, o.x264_params); !st) return std::unexpected(st.error());
  // Unchanged macroblocks are skipped without analysis (see encode()).
  p.analyse.b_mb_info = 1;
  p.analyse.b_mb_info_update = 0;

  H264Encoder enc;
  enc.x264_.reset(x264_encoder_open(&p));
  if (!enc.x264_)
    return fail(Errc::invalid_argument,
                "open libx264 " + std::to_string(o.width) + "x" + std::to_string(o.height) + " (bad option value?)");
  x264_param_t used;
  x264_encoder_parameters(enc.x264_.get(), &used);
  enc.use_quant_offsets_ = used.rc.i_aq_mode != X264_AQ_NONE;
  enc.fast_.reset(new x264_param_t(used));
  enc.careful_.reset(new x264_param_t(used));
  if (auto st = apply_params(*enc.careful_, o.careful_params); !st) return std::unexpected(st.error());
  if (used.rc.i_rc_method == X264_RC_CRF)
    enc.careful_->rc.f_rf_constant = std::min(51.0f, used.rc.f_rf_constant + static_cast<float>(o.careful_crf_offset));
  // Both sets must be valid for reconfig; try them now, not mid-recording.
  if (x264_encoder_reconfig(enc.x264_.get(), enc.careful_.get()) < 0 ||
      x264_encoder_reconfig(enc.x264_.get(), enc.fast_.get()) < 0)
    return fail(Errc::invalid_argument, "careful libx264 options '" + o.careful_params + "' are refused");
  enc.width_ = o.width;
  enc.height_ = o.height;
  enc.mb_w_ = (o.width + 15) / 16;
  enc.mb_h_ = (o.height + 15) / 16;
  const auto mbs = static_cast<std::size_t>(enc.mb_w_) * static_cast<std::size_t>(enc.mb_h_);
  enc.quant_offsets_.assign(mbs, 0.0f);
  enc.mb_info_.assign(mbs, 0);

  x264_nal_t* nals = nullptr;
  int n = 0;
  if (x264_encoder_headers(enc.x264_.get(), &nals, &n) < 0) return fail(Errc::internal, "libx264 headers");
  std::string extradata;
  for (int i = 0; i < n; ++i)
    if (nals[i].i_type == NAL_SPS || nals[i].i_type == NAL_PPS)
      extradata.append(reinterpret_cast<const char*>(nals[i].p_payload), static_cast<std::size_t>(nals[i].i_payload));
  if (extradata.empty()) return fail(Errc::internal, "libx264 wrote no SPS/PPS");

  enc.params_.reset(avcodec_parameters_alloc());
  if (!enc.params_) return fail(Errc::internal, "out of memory allocating stream parameters");
  AVCodecParameters* par = enc.params_.get();
  par->codec_type = AVMEDIA_TYPE_VIDEO;
  par->codec_id = AV_CODEC_ID_H264;
  par->format = AV_PIX_FMT_YUV420P;
  par->width = o.width;
  par->height = o.height;
  par->sample_aspect_ratio = {1, 1};
  par->color_range = AVCOL_RANGE_MPEG;
  par->color_space = AVCOL_SPC_SMPTE170M;
  par->color_primaries = AVCOL_PRI_BT709;
  par->color_trc = AVCOL_TRC_IEC61966_2_1;
  par->extradata = static_cast<std::uint8_t*>(av_mallocz(extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (par->extradata == nullptr) return fail(Errc::internal, "out of memory for the SPS/PPS");
  std::memcpy(par->extradata, extradata.data(), extradata.size());
  par->extradata_size = static_cast<int>(extradata.size());

  // Start black, like a screen before its first grab.
  enc.stride_y_ = aligned(o.width);
  enc.stride_c_ = aligned((o.width + 1) / 2);
  const std::size_t y_size = static_cast<std::size_t>(enc.stride_y_) * static_cast<std::size_t>(o.height);
  const std::size_t c_size = static_cast<std::size_t>(enc.stride_c_) * static_cast<std::size_t>((o.height + 1) / 2);
  enc.pixels_.assign(y_size + 2 * c_size, 128);
  std::fill_n(enc.pixels_.begin(), y_size, 16);
  return enc;
}

Result<Planes> H264Encoder::picture() {
  Planes p;
  const std::size_t y_size = static_cast<std::size_t>(stride_y_) * static_cast<std::size_t>(height_);
  const std::size_t c_size = static_cast<std::size_t>(stride_c_) * static_cast<std::size_t>((height_ + 1) / 2);
  p.data[0] = pixels_.data();
  p.data[1] = pixels_.data() + y_size;
  p.data[2] = pixels_.data() + y_size + c_size;
  p.linesize[0] = stride_y_;
  p.linesize[1] = p.linesize[2] = stride_c_;
  p.width = width_;
  p.height = height_;
  return p;
}

Result<AvPacketPtr> H264Encoder::encode(std::int64_t pts_ms, FrameKind kind, std::span<const QualityRegion> regions,
                                        std::optional<std::span<const ChangedArea>> changed, bool careful) {
  if (careful != careful_now_) {
    // Takes effect on this frame: no lookahead, no frame threads.
    if (x264_encoder_reconfig(x264_.get(), careful ? careful_.get() : fast_.get()) < 0)
      return fail(Errc::internal, "libx264 refused to switch its analysis settings");
    careful_now_ = careful;
  }
  auto planes = picture();
  x264_picture_t in;
  x264_picture_init(&in);
  in.img.i_csp = X264_CSP_I420;
  in.img.i_plane = 3;
  for (int i = 0; i < 3; ++i) {
    in.img.plane[i] = planes->data[i];
    in.img.i_stride[i] = planes->linesize[i];
  }
  in.i_pts = pts_ms;
  in.i_type = kind == FrameKind::keyframe ? X264_TYPE_IDR : X264_TYPE_AUTO;

  // Macroblock ranges of a pixel rectangle, clipped.
  const auto mb_range = [&](int x, int y, int w, int h) {
    struct R {
      int x0, y0, x1, y1;
    };
    const int px0 = std::clamp(x, 0, width_), py0 = std::clamp(y, 0, height_);
    const int px1 = std::clamp(x + std::max(w, 0), px0, width_), py1 = std::clamp(y + std::max(h, 0), py0, height_);
    if (px1 == px0 || py1 == py0) return R{0, 0, 0, 0};
    return R{px0 / 16, py0 / 16, (px1 + 15) / 16, (py1 + 15) / 16};
  };
  if (!regions.empty() && use_quant_offsets_) {
    std::fill(quant_offsets_.begin(), quant_offsets_.end(), 0.0f);
    for (const auto& r : regions) {
      const auto m = mb_range(r.x, r.y, r.width, r.height);
      const auto off = static_cast<float>(std::clamp(r.qp_offset, -51, 51));
      for (int y = m.y0; y < m.y1; ++y)
        std::fill_n(quant_offsets_.begin() + static_cast<std::ptrdiff_t>(y) * mb_w_ + m.x0, m.x1 - m.x0, off);
    }
    in.prop.quant_offsets = quant_offsets_.data();
  }
  if (changed && kind == FrameKind::delta) {
    std::fill(mb_info_.begin(), mb_info_.end(), static_cast<std::uint8_t>(X264_MBINFO_CONSTANT));
    for (const auto& a : *changed) {
      const auto m = mb_range(a.x, a.y, a.width, a.height);
      for (int y = m.y0; y < m.y1; ++y)
        std::fill_n(mb_info_.begin() + static_cast<std::ptrdiff_t>(y) * mb_w_ + m.x0, m.x1 - m.x0, 0);
    }
    in.prop.mb_info = mb_info_.data();
  }

  x264_picture_t out;
  x264_nal_t* nals = nullptr;
  int n = 0;
  const int size = x264_encoder_encode(x264_.get(), &nals, &n, &in, &out);
  if (size < 0) return fail(Errc::internal, "libx264 failed to encode a frame");
  // Without lookahead and B-frames libx264 never holds a frame back.
  if (size == 0 || n <= 0) return fail(Errc::internal, "encoder delayed a frame (lookahead is on?)");
  AvPacketPtr pkt(av_packet_alloc());
  if (!pkt || av_new_packet(pkt.get(), size) < 0) return fail(Errc::internal, "out of memory allocating a packet");
  // x264 lays the payloads of one frame out back to back.
  std::memcpy(pkt->data, nals[0].p_payload, static_cast<std::size_t>(size));
  pkt->pts = pkt->dts = out.i_pts;
  if (out.b_keyframe != 0) pkt->flags |= AV_PKT_FLAG_KEY;
  pkt->time_base = {1, 1000};
  return pkt;
}

}  // namespace deskaudit::encode
