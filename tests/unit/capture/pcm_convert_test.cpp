// capture::PcmConverter: a device's sound format to 48 kHz s16 stereo (built
// into capture_test on Linux and agent_windows_test for Windows).
#include "capture/pcm_convert.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

namespace deskaudit::capture {
namespace {

using Sample = PcmFormat::Sample;

template <class T>
std::vector<std::uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<std::uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

PcmConverter make(PcmFormat f) {
  auto c = PcmConverter::create(f);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return std::move(*c);
}

TEST(PcmConvertTest, S16StereoAt48kPassesThrough) {
  auto c = make({Sample::s16, 2, 2, 48000, 0});
  const std::vector<std::int16_t> in = {0, 1, -1, 32767, -32768, 1234, 100, -100};
  std::vector<std::int16_t> out;
  const auto b = bytes_of(in);
  c.convert(b.data(), in.size() / 2, out);
  EXPECT_EQ(out, in);
}

TEST(PcmConvertTest, FloatMonoGoesToBothSidesAndClips) {
  auto c = make({Sample::f32, 4, 1, 48000, 0});
  const std::vector<float> in = {0.5f, -0.25f, 1.5f, -2.0f, std::nanf("")};
  std::vector<std::int16_t> out;
  const auto b = bytes_of(in);
  c.convert(b.data(), in.size(), out);
  const std::vector<std::int16_t> want = {16384, 16384, -8192, -8192, 32767, 32767, -32768, -32768, 0, 0};
  EXPECT_EQ(out, want);
}

TEST(PcmConvertTest, S24PackedAndIn32BitContainers) {
  // 0x400000 = 0.5 and 0xC00000 = -0.5 of full scale.
  const std::vector<std::uint8_t> packed = {0x00, 0x00, 0x40, 0x00, 0x00, 0xC0};
  auto c3 = make({Sample::s24, 3, 2, 48000, 0});
  std::vector<std::int16_t> out;
  c3.convert(packed.data(), 1, out);
  EXPECT_EQ(out, (std::vector<std::int16_t>{16384, -16384}));
  // 24 valid bits in the high three bytes of 32.
  const std::vector<std::uint8_t> wide = {0xFF, 0x00, 0x00, 0x40, 0xFF, 0x00, 0x00, 0xC0};
  auto c4 = make({Sample::s24, 4, 2, 48000, 0});
  out.clear();
  c4.convert(wide.data(), 1, out);
  EXPECT_EQ(out, (std::vector<std::int16_t>{16384, -16384}));
}

TEST(PcmConvertTest, S32) {
  auto c = make({Sample::s32, 4, 2, 48000, 0});
  const std::vector<std::int32_t> in = {1 << 30, -(1 << 30)};
  std::vector<std::int16_t> out;
  const auto b = bytes_of(in);
  c.convert(b.data(), 1, out);
  EXPECT_EQ(out, (std::vector<std::int16_t>{16384, -16384}));
}

TEST(PcmConvertTest, FivePointOneKeepsTheCentreOnBothSidesAndDropsTheLfe) {
  // Windows' 5.1 without a mask: FL FR FC LFE BL BR.
  auto c = make({Sample::f32, 4, 6, 48000, 0});
  const std::vector<float> centre = {0, 0, 0.5f, 0, 0, 0};
  const std::vector<float> lfe = {0, 0, 0, 0.9f, 0, 0};
  const std::vector<float> back_left = {0, 0, 0, 0, 0.25f, 0};
  std::vector<std::int16_t> out;
  for (const auto* frame : {&centre, &lfe, &back_left}) {
    const auto b = bytes_of(*frame);
    c.convert(b.data(), 1, out);
  }
  ASSERT_EQ(out.size(), 6u);
  EXPECT_NEAR(out[0], 0.5 * 0.7071 * 32767, 2);  // centre: -3 dB on each side
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[2], 0);  // LFE left out
  EXPECT_EQ(out[3], 0);
  EXPECT_NEAR(out[4], 0.25 * 32767, 1);  // back left: left only
  EXPECT_EQ(out[5], 0);
}

TEST(PcmConvertTest, TheMaskSaysWhichChannelIsWhere) {
  // Three channels, mask FL | FR | BC: the third is behind, centred.
  auto c = make({Sample::f32, 4, 3, 48000, 0x1 | 0x2 | 0x100});
  const std::vector<float> in = {0.0f, 0.5f, 0.5f};
  std::vector<std::int16_t> out;
  const auto b = bytes_of(in);
  c.convert(b.data(), 1, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], 0.5 * 0.7071 * 32767, 2);
  EXPECT_NEAR(out[1], (0.5 + 0.5 * 0.7071) * 32767, 2);
}

TEST(PcmConvertTest, SilenceIsZeros) {
  auto c = make({Sample::f32, 4, 2, 48000, 0});
  std::vector<std::int16_t> out;
  c.silence(480, out);
  EXPECT_EQ(out, std::vector<std::int16_t>(960, 0));
}

// A 1 kHz sine at 44.1 kHz, resampled in uneven pieces: as many frames as
// the rates say, the same as in one piece, and still 1 kHz.
TEST(PcmConvertTest, ResamplesFrom44100ContinuouslyAcrossCalls) {
  constexpr int kIn = 44100;
  std::vector<float> in(static_cast<std::size_t>(kIn) * 2);  // one second, stereo
  for (int i = 0; i < kIn; ++i) {
    const auto v = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * i / kIn));
    in[static_cast<std::size_t>(i) * 2] = v;
    in[static_cast<std::size_t>(i) * 2 + 1] = -v;
  }
  const auto b = bytes_of(in);
  auto whole = make({Sample::f32, 4, 2, kIn, 0});
  std::vector<std::int16_t> one;
  whole.convert(b.data(), kIn, one);
  auto pieces = make({Sample::f32, 4, 2, kIn, 0});
  std::vector<std::int16_t> many;
  std::size_t at = 0;
  for (const std::size_t n : {1u, 440u, 441u, 7u, 10000u, 333u}) {
    pieces.convert(b.data() + at * 8, n, many);
    at += n;
  }
  pieces.convert(b.data() + at * 8, kIn - at, many);
  EXPECT_EQ(one, many);
  const auto frames = static_cast<long>(one.size() / 2);
  EXPECT_NEAR(frames, 48000, 2);
  int crossings = 0;
  for (std::size_t i = 2; i < one.size(); i += 2)
    if ((one[i - 2] < 0) != (one[i] < 0)) ++crossings;
  EXPECT_NEAR(crossings, 2000, 2);  // 1 kHz for a second: two a period
  for (std::size_t i = 0; i < one.size(); i += 2) ASSERT_EQ(one[i], -one[i + 1]) << i;
  // The amplitude survives linear interpolation at this rate (within 1.2 %).
  std::int16_t peak = 0;
  for (const auto s : one) peak = std::max<std::int16_t>(peak, s);
  EXPECT_NEAR(peak, 0.5 * 32767, 0.012 * 16384);
}

TEST(PcmConvertTest, DownsamplesFrom96k) {
  auto c = make({Sample::s16, 2, 2, 96000, 0});
  const std::vector<std::int16_t> in(96000 * 2, 1000);
  std::vector<std::int16_t> out;
  const auto b = bytes_of(in);
  c.convert(b.data(), 96000, out);
  EXPECT_NEAR(static_cast<long>(out.size() / 2), 48000, 1);
  for (const auto s : out) ASSERT_EQ(s, 1000);
}

TEST(PcmConvertTest, RefusesWhatItCannotRead) {
  for (const PcmFormat f : {PcmFormat{Sample::f32, 2, 2, 48000, 0}, PcmFormat{Sample::s16, 2, 0, 48000, 0},
                            PcmFormat{Sample::s16, 2, 2, 4000, 0}, PcmFormat{Sample::s24, 2, 2, 48000, 0}}) {
    auto c = PcmConverter::create(f);
    ASSERT_FALSE(c.has_value()) << describe(f);
    EXPECT_EQ(c.error().code, Errc::unprocessable);
  }
  EXPECT_EQ(describe({Sample::f32, 4, 2, 48000, 0}), "48000 Hz, 2 ch, float32");
  EXPECT_EQ(describe({Sample::s24, 4, 6, 44100, 0}), "44100 Hz, 6 ch, s24 in 32 bits");
}

}  // namespace
}  // namespace deskaudit::capture
