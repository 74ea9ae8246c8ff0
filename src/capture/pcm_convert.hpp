#pragma once
// Sound in a device's own format to what the audio track takes: 48 kHz,
// stereo, signed 16-bit interleaved (encode::OpusEncoder's input).
//
// Samples: 16-bit, 24-bit (packed or in 32-bit containers) and 32-bit
// integer PCM, 32-bit float (WASAPI's usual shared-mode mix format).
// Channels: mono is copied to both sides; from three channels on, each
// channel goes by its speaker position (the WAVEFORMATEXTENSIBLE channel
// mask, or Windows' default layout for the count when the mask is 0): left
// speakers to the left, right to the right, centre ones to both at -3 dB,
// LFE left out, then clipped to 16 bits; so a 5.1 film's dialogue (centre)
// is heard in the stereo recording.
// Rate: other rates (44.1 kHz, 96 kHz) are resampled by linear
// interpolation, continuous across calls: enough for an audit recording's
// speech and system sounds (aliasing above ~10 kHz is audible only on test
// tones), and no filter state to tune.
// Thread safety: one thread at a time per converter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::capture {

struct PcmFormat {
  enum class Sample { s16, s24, s32, f32 };
  Sample sample = Sample::s16;
  int bytes_per_sample = 2;  // the container: 3 or 4 for s24
  int channels = 2;
  int rate = 48000;
  std::uint32_t channel_mask = 0;  // SPEAKER_* bits; 0: Windows' default for the count
};

// "48000 Hz, 2 ch, float32"
std::string describe(const PcmFormat& format);

class PcmConverter {
 public:
  static constexpr int kOutRate = 48000;
  // Errc::unprocessable for formats outside the list above (the message names it).
  static Result<PcmConverter> create(const PcmFormat& format);

  // Converts `frames` frames at `data` (interleaved, the device's format) and
  // appends the output frames to `out` (interleaved stereo at 48 kHz; about
  // frames * 48000 / rate of them, the fraction carried to the next call).
  void convert(const std::uint8_t* data, std::size_t frames, std::vector<std::int16_t>& out);
  // As convert() for `frames` frames of silence (a device's silent packet).
  void silence(std::size_t frames, std::vector<std::int16_t>& out);
  // Forgets the resampler's position and last frame (after a gap in the input).
  void reset();
  const PcmFormat& format() const { return format_; }

 private:
  explicit PcmConverter(PcmFormat format);
  float sample_at(const std::uint8_t* frame, int channel) const;
  void push(float left, float right, std::vector<std::int16_t>& out);

  PcmFormat format_;
  std::vector<float> left_gain_, right_gain_;  // per input channel
  double step_ = 1.0;  // input frames per output frame
  // Resampling: the last input frame and the position of the next output
  // frame after it, in input frames (0 <= pos_ < 1 between calls).
  bool have_prev_ = false;
  float prev_l_ = 0, prev_r_ = 0;
  double pos_ = 0;
};

}  // namespace deskaudit::capture
