#include "capture/pcm_convert.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace deskaudit::capture {
namespace {

// SPEAKER_* bits of ksmedia.h, by position.
constexpr std::uint32_t kFrontLeft = 0x1, kFrontRight = 0x2, kFrontCenter = 0x4, kLfe = 0x8, kBackLeft = 0x10,
                        kBackRight = 0x20, kFrontLeftOfCenter = 0x40, kFrontRightOfCenter = 0x80,
                        kBackCenter = 0x100, kSideLeft = 0x200, kSideRight = 0x400, kTopCenter = 0x800,
                        kTopFrontLeft = 0x1000, kTopFrontCenter = 0x2000, kTopFrontRight = 0x4000,
                        kTopBackLeft = 0x8000, kTopBackCenter = 0x10000, kTopBackRight = 0x20000;
constexpr std::uint32_t kLeftSpeakers = kFrontLeft | kBackLeft | kFrontLeftOfCenter | kSideLeft | kTopFrontLeft | kTopBackLeft;
constexpr std::uint32_t kRightSpeakers =
    kFrontRight | kBackRight | kFrontRightOfCenter | kSideRight | kTopFrontRight | kTopBackRight;
constexpr std::uint32_t kCentreSpeakers = kFrontCenter | kBackCenter | kTopCenter | kTopFrontCenter | kTopBackCenter;
constexpr float kMinus3dB = 0.70710678f;

// Windows' layout for a channel count without a mask (KSAUDIO_SPEAKER_*).
std::uint32_t default_mask(int channels) {
  switch (channels) {
    case 1: return kFrontCenter;
    case 2: return kFrontLeft | kFrontRight;
    case 3: return kFrontLeft | kFrontRight | kFrontCenter;
    case 4: return kFrontLeft | kFrontRight | kBackLeft | kBackRight;
    case 5: return kFrontLeft | kFrontRight | kFrontCenter | kBackLeft | kBackRight;
    case 6: return kFrontLeft | kFrontRight | kFrontCenter | kLfe | kBackLeft | kBackRight;
    case 7: return kFrontLeft | kFrontRight | kFrontCenter | kLfe | kBackLeft | kBackRight | kBackCenter;
    case 8: return kFrontLeft | kFrontRight | kFrontCenter | kLfe | kBackLeft | kBackRight | kSideLeft | kSideRight;
    default: return 0;
  }
}

std::int16_t to_s16(float v) {
  const float scaled = std::nearbyint(v * 32768.0f);
  return static_cast<std::int16_t>(std::clamp(scaled, -32768.0f, 32767.0f));
}

const char* sample_name(PcmFormat::Sample s) {
  switch (s) {
    case PcmFormat::Sample::s16: return "s16";
    case PcmFormat::Sample::s24: return "s24";
    case PcmFormat::Sample::s32: return "s32";
    case PcmFormat::Sample::f32: return "float32";
  }
  return "?";
}

}  // namespace

std::string describe(const PcmFormat& f) {
  return fmt::format("{} Hz, {} ch, {}{}", f.rate, f.channels, sample_name(f.sample),
                     f.sample == PcmFormat::Sample::s24 && f.bytes_per_sample == 4 ? " in 32 bits" : "");
}

Result<PcmConverter> PcmConverter::create(const PcmFormat& f) {
  const bool width_ok = (f.sample == PcmFormat::Sample::s16 && f.bytes_per_sample == 2) ||
                        (f.sample == PcmFormat::Sample::s24 && (f.bytes_per_sample == 3 || f.bytes_per_sample == 4)) ||
                        ((f.sample == PcmFormat::Sample::s32 || f.sample == PcmFormat::Sample::f32) &&
                         f.bytes_per_sample == 4);
  if (!width_ok)
    return fail(Errc::unprocessable, fmt::format("sound format {} in {}-byte samples is not supported", describe(f),
                                                  f.bytes_per_sample));
  if (f.channels < 1 || f.channels > 32)
    return fail(Errc::unprocessable, fmt::format("sound format with {} channels is not supported", f.channels));
  if (f.rate < 8000 || f.rate > 384000)
    return fail(Errc::unprocessable, fmt::format("sound at {} Hz is not supported (8000-384000)", f.rate));
  PcmConverter c(f);
  c.left_gain_.assign(static_cast<std::size_t>(f.channels), 0.0f);
  c.right_gain_.assign(static_cast<std::size_t>(f.channels), 0.0f);
  if (f.channels == 1) {
    c.left_gain_[0] = c.right_gain_[0] = 1.0f;
  } else {
    std::uint32_t mask = f.channel_mask != 0 ? f.channel_mask : default_mask(f.channels);
    if (mask == 0) mask = kFrontLeft | kFrontRight;  // > 8 channels, no mask: the first two are left and right
    // The n-th set bit of the mask is the n-th channel; channels past the
    // mask's bits have no position and are left out.
    int channel = 0;
    for (std::uint32_t bit = 1; bit != 0 && channel < f.channels; bit <<= 1) {
      if ((mask & bit) == 0) continue;
      const auto i = static_cast<std::size_t>(channel++);
      if ((bit & kLeftSpeakers) != 0) c.left_gain_[i] = 1.0f;
      if ((bit & kRightSpeakers) != 0) c.right_gain_[i] = 1.0f;
      if ((bit & kCentreSpeakers) != 0) c.left_gain_[i] = c.right_gain_[i] = kMinus3dB;
    }
    // A mask naming one channel only (a mono device with FL): heard on both sides.
    if (std::count_if(c.left_gain_.begin(), c.left_gain_.end(), [](float g) { return g > 0; }) == 0 ||
        std::count_if(c.right_gain_.begin(), c.right_gain_.end(), [](float g) { return g > 0; }) == 0) {
      for (std::size_t i = 0; i < c.left_gain_.size(); ++i)
        c.left_gain_[i] = c.right_gain_[i] = std::max(c.left_gain_[i], c.right_gain_[i]);
    }
  }
  c.step_ = static_cast<double>(f.rate) / kOutRate;
  return c;
}

PcmConverter::PcmConverter(PcmFormat format) : format_(format) {}

float PcmConverter::sample_at(const std::uint8_t* frame, int channel) const {
  const std::uint8_t* p = frame + static_cast<std::ptrdiff_t>(channel) * format_.bytes_per_sample;
  switch (format_.sample) {
    case PcmFormat::Sample::s16: {
      std::int16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<float>(v) / 32768.0f;
    }
    case PcmFormat::Sample::s24: {
      // Little-endian; in a 32-bit container the sample is in the high three bytes.
      const std::uint8_t* b = format_.bytes_per_sample == 4 ? p + 1 : p;
      const std::int32_t v = static_cast<std::int32_t>(static_cast<std::uint32_t>(b[0]) << 8 |
                                                       static_cast<std::uint32_t>(b[1]) << 16 |
                                                       static_cast<std::uint32_t>(b[2]) << 24) >>
                             8;
      return static_cast<float>(v) / 8388608.0f;
    }
    case PcmFormat::Sample::s32: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<float>(static_cast<double>(v) / 2147483648.0);
    }
    case PcmFormat::Sample::f32: {
      float v;
      std::memcpy(&v, p, 4);
      return std::isfinite(v) ? v : 0.0f;
    }
  }
  return 0.0f;
}

void PcmConverter::push(float left, float right, std::vector<std::int16_t>& out) {
  if (format_.rate == kOutRate) {
    out.push_back(to_s16(left));
    out.push_back(to_s16(right));
    return;
  }
  if (!have_prev_) {
    have_prev_ = true;
    prev_l_ = left;
    prev_r_ = right;
    pos_ = 0;
    return;
  }
  // Output frames between the previous input frame (0) and this one (1).
  while (pos_ < 1.0) {
    const auto t = static_cast<float>(pos_);
    out.push_back(to_s16(prev_l_ + (left - prev_l_) * t));
    out.push_back(to_s16(prev_r_ + (right - prev_r_) * t));
    pos_ += step_;
  }
  pos_ -= 1.0;
  prev_l_ = left;
  prev_r_ = right;
}

void PcmConverter::convert(const std::uint8_t* data, std::size_t frames, std::vector<std::int16_t>& out) {
  const std::size_t frame_bytes = static_cast<std::size_t>(format_.bytes_per_sample) * format_.channels;
  out.reserve(out.size() + static_cast<std::size_t>(static_cast<double>(frames) / step_ + 2) * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    const std::uint8_t* frame = data + i * frame_bytes;
    float l = 0, r = 0;
    for (int ch = 0; ch < format_.channels; ++ch) {
      const auto c = static_cast<std::size_t>(ch);
      if (left_gain_[c] == 0 && right_gain_[c] == 0) continue;
      const float v = sample_at(frame, ch);
      l += v * left_gain_[c];
      r += v * right_gain_[c];
    }
    push(l, r, out);
  }
}

void PcmConverter::silence(std::size_t frames, std::vector<std::int16_t>& out) {
  for (std::size_t i = 0; i < frames; ++i) push(0, 0, out);
}

void PcmConverter::reset() {
  have_prev_ = false;
  pos_ = 0;
}

}  // namespace deskaudit::capture
