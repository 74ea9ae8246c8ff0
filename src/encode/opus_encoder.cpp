#include "encode/opus_encoder.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace deskaudit::encode {

namespace {

Result<AvCodecContextPtr> open_context(const AVCodec* codec, int bitrate, const char* application) {
  AvCodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return fail(Errc::internal, "out of memory allocating the audio encoder");
  AVCodecContext* c = ctx.get();
  c->sample_rate = kAudioSampleRate;
  c->sample_fmt = AV_SAMPLE_FMT_S16;
  av_channel_layout_default(&c->ch_layout, kAudioChannels);
  c->bit_rate = bitrate;
  c->time_base = {1, kAudioSampleRate};
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // OpusHead in extradata -> dOps
  c->thread_count = 1;
  av_opt_set(c->priv_data, "frame_duration", "20", 0);
  av_opt_set(c->priv_data, "application", application, 0);
  if (const int r = avcodec_open2(c, codec, nullptr); r < 0)
    return fail(Errc::unavailable, std::string("open libopus (") + application + "): " + av_error_text(r));
  if (c->frame_size != kAudioFrameSamples)
    return fail(Errc::internal, "libopus frame size " + std::to_string(c->frame_size) + ", expected 960");
  return ctx;
}

// One frame in, its one packet out (libavcodec's libopus wrapper holds no frame back).
Result<AvPacketPtr> encode_frame(AVCodecContext* c, AVFrame* f, AVPacket* scratch) {
  if (const int r = avcodec_send_frame(c, f); r < 0) return fail(Errc::internal, "libopus encode: " + av_error_text(r));
  const int r = avcodec_receive_packet(c, scratch);
  if (r < 0) return fail(Errc::internal, "libopus gave no packet for a frame: " + av_error_text(r));
  AvPacketPtr out(av_packet_alloc());
  if (!out) return fail(Errc::internal, "out of memory allocating an audio packet");
  av_packet_move_ref(out.get(), scratch);
  return out;
}

}  // namespace

Result<OpusEncoder> OpusEncoder::open(const OpusOptions& o) {
  if (o.bitrate < 6000 || o.bitrate > 510000)
    return fail(Errc::invalid_argument, "Opus bitrate " + std::to_string(o.bitrate) + " outside 6000..510000");
  const AVCodec* codec = avcodec_find_encoder_by_name("libopus");
  if (codec == nullptr) return fail(Errc::unavailable, "libavcodec has no libopus encoder");
  OpusEncoder enc;
  auto main = open_context(codec, o.bitrate, "audio");
  if (!main) return std::unexpected(main.error());
  auto silence = open_context(codec, o.bitrate, "lowdelay");
  if (!silence) return std::unexpected(silence.error());
  enc.ctx_ = std::move(*main);
  enc.silence_ctx_ = std::move(*silence);
  // A packet of the main encoder covers its input from initial_padding
  // samples before its frame; the silence packet may replace it only when
  // all of that is zeros, which two zero frames in a row guarantee.
  if (enc.ctx_->initial_padding > kAudioFrameSamples)
    return fail(Errc::internal,
                "libopus lookahead " + std::to_string(enc.ctx_->initial_padding) + " longer than a frame");
  enc.frame_.reset(av_frame_alloc());
  enc.packet_.reset(av_packet_alloc());
  if (!enc.frame_ || !enc.packet_) return fail(Errc::internal, "out of memory allocating the audio encoder");
  AVFrame* f = enc.frame_.get();
  f->format = AV_SAMPLE_FMT_S16;
  f->nb_samples = kAudioFrameSamples;
  f->sample_rate = kAudioSampleRate;
  if (const int r = av_channel_layout_copy(&f->ch_layout, &enc.ctx_->ch_layout); r < 0)
    return fail(Errc::internal, "audio frame layout: " + av_error_text(r));
  if (const int r = av_frame_get_buffer(f, 0); r < 0)
    return fail(Errc::internal, "audio frame buffer: " + av_error_text(r));
  return enc;
}

Result<AvPacketPtr> OpusEncoder::encode(std::span<const std::int16_t> pcm, std::int64_t pts) {
  if (pcm.size() != static_cast<std::size_t>(kAudioFrameSamples * kAudioChannels))
    return fail(Errc::invalid_argument, "an audio frame holds 960 stereo samples");
  if (const int r = av_frame_make_writable(frame_.get()); r < 0)
    return fail(Errc::internal, "audio frame not writable: " + av_error_text(r));
  std::memcpy(frame_->data[0], pcm.data(), pcm.size_bytes());
  frame_->pts = pts;
  const bool zero = std::ranges::all_of(pcm, [](std::int16_t s) { return s == 0; });
  auto main = encode_frame(ctx_.get(), frame_.get(), packet_.get());
  if (!main) return main;
  AvPacketPtr out = std::move(*main);
  if (zero && previous_zero_) {
    // The silence encoder only ever sees zero frames, so each of its packets
    // is CELT's silence packet; the main one is dropped, its state goes on.
    auto silent = encode_frame(silence_ctx_.get(), frame_.get(), packet_.get());
    if (!silent) return silent;
    out = std::move(*silent);
  }
  previous_zero_ = zero;
  out->pts = out->dts = pts;
  out->duration = kAudioFrameSamples;
  out->flags |= AV_PKT_FLAG_KEY;
  return out;
}

}  // namespace deskaudit::encode
