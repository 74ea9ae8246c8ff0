#pragma once
// Fragmented MP4 (libavformat "mp4", movflags frag_custom+empty_moov+
// default_base_moof) written into memory through a custom AVIOContext, so the
// caller decides which file each piece goes to:
//   init_segment()  ftyp+moov, captured once from write_header; it starts
//                   every segment file of the same picture size;
//   fragment()      one moof+mdat holding the given packets.
// Decode times continue from fragment to fragment (tfdt = previous end), and
// the first fragment starts at first_dts_ms, so a new muxer (after a screen
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
  // codec: an opened encoder with global headers (extradata).
  static Result<std::unique_ptr<Fmp4Muxer>> open(const AVCodecContext* codec, std::int64_t first_dts_ms);
  ~Fmp4Muxer();
  Fmp4Muxer(const Fmp4Muxer&) = delete;
  Fmp4Muxer& operator=(const Fmp4Muxer&) = delete;

  const std::string& init_segment() const { return init_; }
  // packets: pts == dts in ms, each with its duration > 0, increasing.
  Result<std::string> fragment(std::span<const AVPacket* const> packets);

 private:
  Fmp4Muxer() = default;
  // Non-const buf: the callback signature of libavformat 59.
  static int write_cb(void* opaque, std::uint8_t* buf, int size);

  AvIoContextPtr io_;
  AvFormatOutputPtr fmt_;
  AVStream* stream_ = nullptr;
  std::string out_;   // what libavformat wrote since the last take
  std::string init_;
  bool first_ = true;
  std::int64_t first_dts_ms_ = 0;
};

}  // namespace deskaudit::encode
