#pragma once
// Internal to deskaudit_media: the init segment (ftyp + moov) of a fragmented
// MP4 with exactly one H.264 video track and at most one audio track (Opus or
// AAC-LC).
#include <cstdint>
#include <span>
#include <string>

#include "common/error.hpp"
#include "media/box.hpp"

namespace deskaudit::media::detail {

struct InitInfo {
  std::uint32_t movie_timescale = 0;  // mvhd
  std::uint32_t timescale = 0;        // mdhd of the video track
  std::uint32_t track_id = 0;
  int width = 0;
  int height = 0;
  std::string codec;     // "avc1.64001f"
  std::string avcc_hex;  // avcC payload
  // Bytes of the length field before each NAL unit in a sample (avcC
  // lengthSizeMinusOne + 1): a sample holds at least this plus a NAL header.
  std::uint32_t nal_length_size = 4;
  // trex defaults, used when tfhd/trun leave a field out.
  std::uint32_t trex_duration = 0;
  std::uint32_t trex_size = 0;
  std::uint32_t trex_flags = 0;
  // The audio track; audio_track_id 0 when there is none.
  std::uint32_t audio_track_id = 0;
  std::uint32_t audio_timescale = 0;
  std::string audio_codec;       // RFC 6381: "opus" or "mp4a.40.2"
  std::string audio_config_hex;  // dOps or esds payload
  std::uint32_t audio_trex_duration = 0;
  std::uint32_t audio_trex_size = 0;
  std::uint32_t audio_trex_flags = 0;
};

// Major brand or a compatible brand must be one we know (ISO base media / MP4).
Status check_ftyp(const Box& ftyp);
// Validates the moov of a fragmented MP4 (mvex present, empty sample tables,
// one video track, avc1/avc3 with avcC, and at most one audio track, Opus with
// dOps or AAC-LC as mp4a with an esds whose AudioSpecificConfig is checked) and extracts its parameters.
Result<InitInfo> parse_moov(const Box& moov);
// Validates bytes that hold only an init segment (ftyp, moov, free/skip).
Result<InitInfo> parse_init_segment(std::span<const std::byte> init_segment);

}  // namespace deskaudit::media::detail
