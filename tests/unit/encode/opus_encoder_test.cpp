// OpusEncoder: silence after speech costs CELT's silence packet, every other
// packet is plain libopus's, and real decoders (libavcodec's own and
// libopus) play the stream back without errors or clicks.
#include "encode/opus_encoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace deskaudit::encode {
namespace {

constexpr int kFrame = kAudioFrameSamples;
constexpr int kRate = kAudioSampleRate;

// A speech-like signal: 200 ms syllables of a 40 ms noise burst (a
// consonant), 140 ms of a vowel (a glottal pulse train at a falling
// 100-160 Hz pitch through the vowel's three formants) and 20 ms of quiet.
// Both channels alike.
std::vector<std::int16_t> speech(int seconds) {
  const int n = seconds * kRate;
  std::vector<std::int16_t> out(static_cast<std::size_t>(n) * kAudioChannels);
  constexpr double kVowels[][3] = {
      {730, 1090, 2440}, {270, 2290, 3010}, {530, 1840, 2480}, {300, 870, 2240}, {570, 840, 2410}};
  constexpr double kBandwidth[3] = {90, 110, 170};
  double y[3][2] = {}, phase = 0;
  std::uint32_t noise = 12345;
  const int syllable = kRate / 5;
  for (int i = 0; i < n; ++i) {
    const int k = i / syllable, in = i % syllable;
    const double t = static_cast<double>(in) / kRate;
    double x = 0;
    if (in < kRate / 25) {  // consonant: white noise, differenced (bright)
      noise = noise * 1664525 + 1013904223;
      x = (static_cast<double>(noise >> 8) / (1 << 24) - 0.5) * 0.25;
    } else if (in < kRate * 9 / 50) {  // vowel
      const double f0 = 160 - 60 * t / 0.2 + 8 * ((k * 7) % 5);
      phase += f0 / kRate;
      if (phase >= 1) {
        phase -= 1;
        x = 1;
      }
      double v = x;
      for (int f = 0; f < 3; ++f) {
        const double r = std::exp(-std::numbers::pi * kBandwidth[f] / kRate);
        const double a1 = 2 * r * std::cos(2 * std::numbers::pi * kVowels[k % 5][f] / kRate), a2 = -r * r;
        const double o = v + a1 * y[f][0] + a2 * y[f][1];
        y[f][1] = y[f][0];
        y[f][0] = o;
        v = o * (1 - r);
      }
      x = v * 40;
    }
    const auto s = static_cast<std::int16_t>(std::clamp(x * 8000, -30000.0, 30000.0));
    out[2 * i] = out[2 * i + 1] = s;
  }
  return out;
}

int toc_config(const AVPacket& p) { return p.size > 0 ? p.data[0] >> 3 : -1; }
bool celt_only(const AVPacket& p) { return toc_config(p) >= 16; }
bool hybrid(const AVPacket& p) { return toc_config(p) >= 12 && toc_config(p) <= 15; }

struct Encoded {
  std::vector<AvPacketPtr> packets;
  std::vector<std::uint8_t> extradata;
  int preskip = 0;
};

// Plain libopus through libavcodec with the settings OpusEncoder's main
// encoder uses: what the stream was before silence had its own packets.
Encoded plain_libopus(const std::vector<std::int16_t>& pcm) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libopus");
  AvCodecContextPtr c(avcodec_alloc_context3(codec));
  c->sample_rate = kRate;
  c->sample_fmt = AV_SAMPLE_FMT_S16;
  av_channel_layout_default(&c->ch_layout, kAudioChannels);
  c->bit_rate = OpusOptions{}.bitrate;
  c->time_base = {1, kRate};
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(c->priv_data, "frame_duration", "20", 0);
  av_opt_set(c->priv_data, "application", "audio", 0);
  EXPECT_GE(avcodec_open2(c.get(), codec, nullptr), 0);
  AvFramePtr f(av_frame_alloc());
  f->format = AV_SAMPLE_FMT_S16;
  f->nb_samples = kFrame;
  av_channel_layout_copy(&f->ch_layout, &c->ch_layout);
  av_frame_get_buffer(f.get(), 0);
  Encoded out;
  out.extradata.assign(c->extradata, c->extradata + c->extradata_size);
  out.preskip = c->initial_padding;
  for (std::size_t at = 0; at + kFrame * kAudioChannels <= pcm.size(); at += kFrame * kAudioChannels) {
    av_frame_make_writable(f.get());
    std::copy_n(pcm.data() + at, kFrame * kAudioChannels, reinterpret_cast<std::int16_t*>(f->data[0]));
    f->pts = static_cast<std::int64_t>(at / kAudioChannels);
    EXPECT_GE(avcodec_send_frame(c.get(), f.get()), 0);
    AvPacketPtr p(av_packet_alloc());
    EXPECT_GE(avcodec_receive_packet(c.get(), p.get()), 0);
    out.packets.push_back(std::move(p));
  }
  return out;
}

Encoded encode_all(const std::vector<std::int16_t>& pcm) {
  auto enc = OpusEncoder::open();
  EXPECT_TRUE(enc) << enc.error().message;
  Encoded out;
  const AVCodecContext* c = enc->context();
  out.extradata.assign(c->extradata, c->extradata + c->extradata_size);
  out.preskip = c->initial_padding;
  for (std::size_t at = 0; at + kFrame * kAudioChannels <= pcm.size(); at += kFrame * kAudioChannels) {
    auto p = enc->encode(std::span(pcm).subspan(at, kFrame * kAudioChannels), static_cast<std::int64_t>(at / 2));
    EXPECT_TRUE(p) << p.error().message;
    out.packets.push_back(std::move(*p));
  }
  return out;
}

// The left channel as decoded by `decoder`, preskip dropped, as floats in
// -1..1; an empty vector when this libavcodec lacks the decoder.
std::vector<float> decode(const char* decoder, const Encoded& e) {
  const AVCodec* codec = avcodec_find_decoder_by_name(decoder);
  if (codec == nullptr) return {};
  AvCodecContextPtr c(avcodec_alloc_context3(codec));
  c->extradata = static_cast<std::uint8_t*>(av_mallocz(e.extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  std::copy(e.extradata.begin(), e.extradata.end(), c->extradata);
  c->extradata_size = static_cast<int>(e.extradata.size());
  c->sample_rate = kRate;
  av_channel_layout_default(&c->ch_layout, kAudioChannels);
  EXPECT_GE(avcodec_open2(c.get(), codec, nullptr), 0) << decoder;
  AvFramePtr f(av_frame_alloc());
  std::vector<float> out;
  for (const auto& p : e.packets) {
    EXPECT_GE(avcodec_send_packet(c.get(), p.get()), 0) << decoder << " refused the packet at " << p->pts;
    while (avcodec_receive_frame(c.get(), f.get()) >= 0) {
      for (int i = 0; i < f->nb_samples; ++i) {
        switch (f->format) {
          case AV_SAMPLE_FMT_FLTP:
            out.push_back(reinterpret_cast<const float*>(f->data[0])[i]);
            break;
          case AV_SAMPLE_FMT_FLT:
            out.push_back(reinterpret_cast<const float*>(f->data[0])[i * 2]);
            break;
          case AV_SAMPLE_FMT_S16:
            out.push_back(reinterpret_cast<const std::int16_t*>(f->data[0])[i * 2] / 32768.0f);
            break;
          default:
            ADD_FAILURE() << decoder << " sample format " << f->format;
        }
      }
      av_frame_unref(f.get());
    }
  }
  // libavcodec's decoders drop the preskip themselves (skip_samples side data).
  return out;
}

// 2 s speech, 5 s zeros, 2 s speech, 1 s zeros.
struct Scene {
  std::vector<std::int16_t> pcm;
  int silence_from = 2 * kRate / kFrame, speech_again = 7 * kRate / kFrame;  // frame indices
};

Scene scene() {
  Scene s;
  const auto a = speech(2);
  s.pcm = a;
  s.pcm.resize(s.pcm.size() + 5 * kRate * kAudioChannels, 0);
  s.pcm.insert(s.pcm.end(), a.begin(), a.end());
  s.pcm.resize(s.pcm.size() + 1 * kRate * kAudioChannels, 0);
  return s;
}

bool zero_frame(const std::vector<std::int16_t>& pcm, int frame) {
  const auto f =
      std::span(pcm).subspan(static_cast<std::size_t>(frame) * kFrame * kAudioChannels, kFrame * kAudioChannels);
  return std::ranges::all_of(f, [](std::int16_t v) { return v == 0; });
}

TEST(OpusEncoder, SilenceAfterSpeechCostsCeltSilencePacketsAndTheRestIsPlainLibopus) {
  const Scene s = scene();
  const auto plain = plain_libopus(s.pcm);
  // The synthetic speech drives plain libopus into its hybrid mode, where it
  // stays through the silence after it at tens of bytes a packet.
  std::size_t plain_silence_bytes = 0;
  for (int i = s.silence_from + 2; i < s.speech_again; ++i)
    plain_silence_bytes += static_cast<std::size_t>(plain.packets[i]->size);
  const int silent_frames = s.speech_again - s.silence_from - 2;
  ASSERT_GT(std::ranges::count_if(plain.packets, [](const auto& p) { return hybrid(*p); }), 50);
  EXPECT_GT(plain_silence_bytes / silent_frames, 20u) << "plain libopus no longer needs help with silence";

  const Encoded e = encode_all(s.pcm);
  ASSERT_EQ(e.packets.size(), plain.packets.size());
  std::size_t silence_bytes = 0;
  for (std::size_t i = 0; i < e.packets.size(); ++i) {
    const AVPacket& p = *e.packets[i];
    const int frame = static_cast<int>(i);
    const bool zero_and_after_zero = frame > 0 && zero_frame(s.pcm, frame) && zero_frame(s.pcm, frame - 1);
    EXPECT_EQ(p.pts, frame * kFrame);
    EXPECT_EQ(p.duration, kFrame);
    if (zero_and_after_zero) {
      EXPECT_TRUE(celt_only(p)) << "frame " << frame << " config " << toc_config(p);
      EXPECT_LE(p.size, 4) << "frame " << frame;
      if (frame >= s.silence_from + 2) silence_bytes += static_cast<std::size_t>(p.size);
    } else {
      const AVPacket& q = *plain.packets[i];
      EXPECT_EQ(std::vector<std::uint8_t>(p.data, p.data + p.size), std::vector<std::uint8_t>(q.data, q.data + q.size))
          << "frame " << frame;
    }
  }
  EXPECT_LE(static_cast<double>(silence_bytes) / silent_frames, 4.0);
}

double rms(std::span<const float> x) {
  double sum = 0;
  for (const float v : x) sum += static_cast<double>(v) * v;
  return std::sqrt(sum / static_cast<double>(x.size()));
}

float peak(std::span<const float> x) {
  float m = 0;
  for (const float v : x) m = std::max(m, std::abs(v));
  return m;
}

TEST(OpusEncoder, DecodersPlaySilenceAsZerosAndSpeechAfterItWithoutClicks) {
  const Scene s = scene();
  const Encoded e = encode_all(s.pcm), plain = plain_libopus(s.pcm);
  std::vector<float> source(s.pcm.size() / 2);
  for (std::size_t i = 0; i < source.size(); ++i) source[i] = s.pcm[2 * i] / 32768.0f;
  int decoders = 0;
  for (const char* name : {"opus", "libopus"}) {
    const auto out = decode(name, e), plain_out = decode(name, plain);
    if (out.empty()) continue;
    ++decoders;
    SCOPED_TRACE(name);
    ASSERT_GE(out.size(), source.size() - static_cast<std::size_t>(e.preskip));
    const auto at = [&](int frame) { return static_cast<std::size_t>(frame) * kFrame; };
    // Silence decodes to (near) zero from a frame after the speech ends to a
    // frame before it starts again (the codec's overlap reaches 2.5 ms early).
    const std::span<const float> silence(out.data() + at(s.silence_from + 1),
                                         at(s.speech_again - 1) - at(s.silence_from + 1));
    EXPECT_LT(peak(silence), 1.0f / 32768 * 2) << "silence decodes to " << peak(silence);
    // Speech after the silence: its level as the source's, the first 20 ms
    // after the switch no louder than the source or plain libopus there (no
    // click), and the waveform as plain libopus decodes it.
    const std::size_t from = at(s.speech_again), len = static_cast<std::size_t>(2 * kRate) - 2 * kFrame;
    const std::span<const float> got(out.data() + from, len), want(source.data() + from, len);
    EXPECT_NEAR(rms(got) / rms(want), 1.0, 0.2);
    const std::span<const float> reference(plain_out.data() + from, len);
    const float limit = std::max(peak(want.first(kFrame)), peak(reference.first(kFrame))) * 1.05f;
    EXPECT_LE(peak(got.first(kFrame)), limit)
        << "first 20 ms after silence peaks at " << peak(got.first(kFrame)) << ", source " << peak(want.first(kFrame))
        << ", plain libopus " << peak(reference.first(kFrame));
    double dot = 0;
    for (std::size_t i = 0; i < len; ++i) dot += static_cast<double>(got[i]) * reference[i];
    const double correlation = dot / (rms(got) * rms(reference) * static_cast<double>(len));
    EXPECT_GT(correlation, 0.95);
  }
  EXPECT_GT(decoders, 0) << "libavcodec has no Opus decoder";
}

}  // namespace
}  // namespace deskaudit::encode
