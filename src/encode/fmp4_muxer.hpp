#pragma once
// Fragmented MP4 in memory, so the caller decides which file each piece goes to:
//   init_segment()  ftyp+moov from libavformat ("mp4", empty_moov, written
//                   through a custom AVIOContext); it starts every segment
//                   file of the same picture size;
//   fragment()      one moof+mdat holding the given packets (written here:
//                   mfhd, traf with tfhd default-base-is-moof, tfdt = the
//                   first packet's dts, one trun with durations and sizes).
// The first fragment starts at first_dts_ms, so a new muxer (after a screen
// resize) continues the timeline of the previous one.
// Thread safety: one thread at a time.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/error.hpp"
#include "encode/av_ptr.hpp"

namespace deskaudit::encode {

class Fmp4Muxer {
 public:
  // codec: the stream's parameters with its SPS/PPS as extradata (H264Encoder::parameters()).
  static Result<std::unique_ptr<Fmp4Muxer>> open(const AVCodecParameters* codec, std::int64_t first_dts_ms);
  ~Fmp4Muxer();
  Fmp4Muxer(const Fmp4Muxer&) = delete;
  Fmp4Muxer& operator=(const Fmp4Muxer&) = delete;

  const std::string& init_segment() const { return init_; }
  // packets: pts == dts in ms, each with its duration > 0, each starting
  // where the previous one ends; the first at first_dts_ms for the first
  // fragment, and never before the previous fragment's end.
  Result<std::string> fragment(std::span<const AVPacket* const> packets);
  // Byte offset, in the last fragment() returned, of its last sample's
  // duration (32-bit big-endian, ms): a caller that wrote the fragment with
  // a provisional duration may overwrite it there, and the file stays valid
  // with either value.
  std::size_t last_duration_offset() const { return last_duration_offset_; }
  // The caller rewrote that duration (to duration_ms > 0): the next fragment
  // may start where the last sample now ends, even before its old end.
  void last_duration_rewritten(std::int64_t duration_ms) { next_dts_ms_ = last_dts_ms_ + duration_ms; }

 private:
  Fmp4Muxer() = default;
  // Non-const buf: the callback signature of libavformat 59.
  static int write_cb(void* opaque, std::uint8_t* buf, int size);

  AvIoContextPtr io_;
  AvFormatOutputPtr fmt_;
  AVStream* stream_ = nullptr;
  std::string out_;  // what libavformat wrote since the last take
  std::string init_;
  bool first_ = true;
  std::int64_t first_dts_ms_ = 0;
  std::int64_t next_dts_ms_ = 0;
  std::int64_t last_dts_ms_ = 0;  // of the last sample written
  std::uint32_t sequence_ = 0;
  std::size_t last_duration_offset_ = 0;
};

}  // namespace deskaudit::encode
