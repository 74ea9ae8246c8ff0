#include "encode/opus_encoder.hpp"

#include <cstring>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace deskaudit::encode {

Result<OpusEncoder> OpusEncoder::open(const OpusOptions& o) {
  if (o.bitrate < 6000 || o.bitrate > 510000)
    return fail(Errc::invalid_argument, "Opus bitrate " + std::to_string(o.bitrate) + " outside 6000..510000");
  const AVCodec* codec = avcodec_find_encoder_by_name("libopus");
  if (codec == nullptr) return fail(Errc::unavailable, "libavcodec has no libopus encoder");
  OpusEncoder enc;
  enc.ctx_.reset(avcodec_alloc_context3(codec));
  enc.frame_.reset(av_frame_alloc());
  enc.packet_.reset(av_packet_alloc());
  if (!enc.ctx_ || !enc.frame_ || !enc.packet_) return fail(Errc::internal, "out of memory allocating the audio encoder");
  AVCodecContext* c = enc.ctx_.get();
  c->sample_rate = kAudioSampleRate;
  c->sample_fmt = AV_SAMPLE_FMT_S16;
  av_channel_layout_default(&c->ch_layout, kAudioChannels);
  c->bit_rate = o.bitrate;
  c->time_base = {1, kAudioSampleRate};
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // OpusHead in extradata -> dOps
  c->thread_count = 1;
  av_opt_set(c->priv_data, "frame_duration", "20", 0);
  av_opt_set(c->priv_data, "application", "audio", 0);
  if (const int r = avcodec_open2(c, codec, nullptr); r < 0) return fail(Errc::unavailable, "open libopus: " + av_error_text(r));
  if (c->frame_size != kAudioFrameSamples)
    return fail(Errc::internal, "libopus frame size " + std::to_string(c->frame_size) + ", expected 960");
  AVFrame* f = enc.frame_.get();
  f->format = AV_SAMPLE_FMT_S16;
  f->nb_samples = kAudioFrameSamples;
  f->sample_rate = kAudioSampleRate;
  if (const int r = av_channel_layout_copy(&f->ch_layout, &c->ch_layout); r < 0)
    return fail(Errc::internal, "audio frame layout: " + av_error_text(r));
  if (const int r = av_frame_get_buffer(f, 0); r < 0) return fail(Errc::internal, "audio frame buffer: " + av_error_text(r));
  return enc;
}

Result<AvPacketPtr> OpusEncoder::encode(std::span<const std::int16_t> pcm, std::int64_t pts) {
  if (pcm.size() != static_cast<std::size_t>(kAudioFrameSamples * kAudioChannels))
    return fail(Errc::invalid_argument, "an audio frame holds 960 stereo samples");
  if (const int r = av_frame_make_writable(frame_.get()); r < 0)
    return fail(Errc::internal, "audio frame not writable: " + av_error_text(r));
  std::memcpy(frame_->data[0], pcm.data(), pcm.size_bytes());
  frame_->pts = pts;
  if (const int r = avcodec_send_frame(ctx_.get(), frame_.get()); r < 0)
    return fail(Errc::internal, "libopus encode: " + av_error_text(r));
  const int r = avcodec_receive_packet(ctx_.get(), packet_.get());
  if (r < 0) return fail(Errc::internal, "libopus gave no packet for a frame: " + av_error_text(r));
  AvPacketPtr out(av_packet_alloc());
  if (!out) return fail(Errc::internal, "out of memory allocating an audio packet");
  av_packet_move_ref(out.get(), packet_.get());
  out->pts = out->dts = pts;
  out->duration = kAudioFrameSamples;
  out->flags |= AV_PKT_FLAG_KEY;
  return out;
}

}  // namespace deskaudit::encode
