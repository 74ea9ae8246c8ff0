#include "encode/fmp4_muxer.hpp"

#include <vector>

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/opt.h>
}

namespace deskaudit::encode {
namespace {
struct DictDeleter {
  void operator()(AVDictionary* d) const noexcept { av_dict_free(&d); }
};
}  // namespace

int Fmp4Muxer::write_cb(void* opaque, std::uint8_t* buf, int size) {
  auto* self = static_cast<Fmp4Muxer*>(opaque);
  self->out_.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(size));
  return size;
}

Fmp4Muxer::~Fmp4Muxer() {
  // No trailer: the mfra index would follow the last fragment of a segment
  // file, and segments must hold whole fragments only.
  if (fmt_) fmt_->pb = nullptr;
}

Result<std::unique_ptr<Fmp4Muxer>> Fmp4Muxer::open(const AVCodecParameters* codec, std::int64_t first_dts_ms) {
  if (codec == nullptr || codec->extradata == nullptr || codec->extradata_size <= 0)
    return fail(Errc::invalid_argument, "fMP4 muxer needs stream parameters with SPS/PPS extradata");
  if (first_dts_ms < 0) return fail(Errc::invalid_argument, "negative start time");
  std::unique_ptr<Fmp4Muxer> m(new Fmp4Muxer());
  m->first_dts_ms_ = first_dts_ms;

  constexpr int kIoBuffer = 64 * 1024;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBuffer));
  if (buffer == nullptr) return fail(Errc::internal, "out of memory allocating the muxer buffer");
  m->io_.reset(avio_alloc_context(buffer, kIoBuffer, 1, m.get(), nullptr, &Fmp4Muxer::write_cb, nullptr));
  if (!m->io_) {
    av_free(buffer);
    return fail(Errc::internal, "out of memory allocating the muxer I/O context");
  }
  AVFormatContext* raw = nullptr;
  if (const int r = avformat_alloc_output_context2(&raw, nullptr, "mp4", nullptr); r < 0 || raw == nullptr)
    return fail(Errc::unavailable, "libavformat mp4 muxer: " + av_error_text(r));
  m->fmt_.reset(raw);
  m->fmt_->pb = m->io_.get();
  m->fmt_->flags |= AVFMT_FLAG_CUSTOM_IO;
  m->stream_ = avformat_new_stream(raw, nullptr);
  if (m->stream_ == nullptr) return fail(Errc::internal, "out of memory allocating the mp4 stream");
  if (const int r = avcodec_parameters_copy(m->stream_->codecpar, codec); r < 0)
    return fail(Errc::internal, "mp4 stream parameters: " + av_error_text(r));
  m->stream_->time_base = {1, 1000};

  AVDictionary* opts_raw = nullptr;
  // frag_discont: the first fragment's tfdt is the first packet's dts (the
  // recording's start offset, or where the previous picture size ended),
  // not zero. No edit lists: tfdt alone carries the timeline.
  av_dict_set(&opts_raw, "movflags", "frag_custom+empty_moov+default_base_moof+frag_discont", 0);
  av_dict_set(&opts_raw, "use_editlist", "0", 0);
  av_dict_set(&opts_raw, "video_track_timescale", "1000", 0);
  av_dict_set(&opts_raw, "avoid_negative_ts", "disabled", 0);
  av_dict_set(&opts_raw, "fflags", "-autobsf", 0);
  std::unique_ptr<AVDictionary, DictDeleter> opts(opts_raw);
  AVDictionary* pass = opts.release();
  const int r = avformat_write_header(raw, &pass);
  opts.reset(pass);
  if (r < 0) return fail(Errc::internal, "write mp4 header: " + av_error_text(r));
  if (const AVDictionaryEntry* left = av_dict_get(opts.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX))
    return fail(Errc::internal, std::string("mp4 muxer ignored option ") + left->key);
  avio_flush(m->io_.get());
  m->init_ = std::move(m->out_);
  m->out_.clear();
  if (m->init_.empty()) return fail(Errc::internal, "mp4 muxer wrote no init segment");
  return m;
}

namespace {

void put32(std::string& out, std::uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}

void put64(std::string& out, std::uint64_t v) {
  put32(out, std::uint32_t(v >> 32));
  put32(out, std::uint32_t(v));
}

// libx264 emits Annex B (start codes); MP4 samples carry each NAL unit
// behind a 4-byte length (avcC lengthSizeMinusOne = 3, as libavformat writes
// the avcC). Data without a leading start code is taken as already converted.
std::string to_length_prefixed(const std::uint8_t* data, std::size_t size) {
  const auto start_code_at = [&](std::size_t i) -> std::size_t {  // its length, or 0
    if (i + 3 <= size && data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) return 3;
    if (i + 4 <= size && data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 0 && data[i + 3] == 1) return 4;
    return 0;
  };
  if (start_code_at(0) == 0) return std::string(reinterpret_cast<const char*>(data), size);
  std::string out;
  out.reserve(size + 16);
  std::size_t i = start_code_at(0);
  while (i < size) {
    std::size_t end = i;
    while (end < size && start_code_at(end) == 0) ++end;
    std::size_t nal_end = end;
    while (nal_end > i && data[nal_end - 1] == 0) --nal_end;  // trailing_zero_8bits before the next start code
    if (nal_end > i) {
      put32(out, static_cast<std::uint32_t>(nal_end - i));
      out.append(reinterpret_cast<const char*>(data + i), nal_end - i);
    }
    i = end < size ? end + start_code_at(end) : size;
  }
  return out;
}

// Sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on no
// other; any other sample depends on earlier ones and is not a sync sample.
constexpr std::uint32_t kSyncSampleFlags = 0x02000000;
constexpr std::uint32_t kDeltaSampleFlags = 0x01010000;
constexpr std::uint32_t kTrackId = 1;  // libavformat numbers tracks from 1; we have one

}  // namespace

// The moof is written here rather than by libavformat: its layout is then
// fixed (the last sample's duration sits at a known offset, see
// last_duration_offset()) and decode times are the packets' own.
Result<std::string> Fmp4Muxer::fragment(std::span<const AVPacket* const> packets) {
  if (packets.empty()) return fail(Errc::invalid_argument, "empty fragment");
  if (first_ && packets.front()->pts != first_dts_ms_)
    return fail(Errc::invalid_argument, "first packet at " + std::to_string(packets.front()->pts) +
                                            " ms, muxer opened for " + std::to_string(first_dts_ms_) + " ms");
  if (!first_ && packets.front()->pts < next_dts_ms_)
    return fail(Errc::invalid_argument, "fragment starts at " + std::to_string(packets.front()->pts) +
                                            " ms, before the previous one ended (" + std::to_string(next_dts_ms_) +
                                            " ms)");
  std::uint64_t payload = 0;
  bool key_inside = false;
  std::vector<std::string> samples;
  samples.reserve(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const AVPacket* p = packets[i];
    if (p->duration <= 0 || p->duration > 0xffffffffll) return fail(Errc::invalid_argument, "packet without duration");
    if (p->size <= 0) return fail(Errc::invalid_argument, "empty packet");
    if (i > 0 && p->pts != packets[i - 1]->pts + packets[i - 1]->duration)
      return fail(Errc::invalid_argument,
                  "packet at " + std::to_string(p->pts) + " ms does not follow the previous one");
    if (i > 0 && (p->flags & AV_PKT_FLAG_KEY) != 0) key_inside = true;
    samples.push_back(to_length_prefixed(p->data, static_cast<std::size_t>(p->size)));
    payload += samples.back().size();
  }
  // tfhd: default-base-is-moof, default-sample-flags.
  std::string tfhd;
  put32(tfhd, 0x00020020);
  put32(tfhd, kTrackId);
  put32(tfhd, kDeltaSampleFlags);
  // A still screen makes many fragments of one small sample each: every
  // byte of their headers counts (version 0 tfdt while the time fits 32 bits,
  // no first-sample flags when the tfhd default already says "delta").
  std::string tfdt;
  const auto decode_time = static_cast<std::uint64_t>(packets.front()->pts);
  if (decode_time <= 0xffffffffull) {
    put32(tfdt, 0);
    put32(tfdt, static_cast<std::uint32_t>(decode_time));
  } else {
    put32(tfdt, 0x01000000);  // version 1: 64-bit decode time
    put64(tfdt, decode_time);
  }
  const auto flags_of = [](const AVPacket* p) {
    return (p->flags & AV_PKT_FLAG_KEY) != 0 ? kSyncSampleFlags : kDeltaSampleFlags;
  };
  // trun: data-offset, durations and sizes; sync flags for the first sample
  // only, or for every sample when a keyframe sits inside.
  const bool first_flags = !key_inside && flags_of(packets.front()) != kDeltaSampleFlags;
  const std::uint32_t trun_flags =
      0x000001 | 0x000100 | 0x000200 | (key_inside ? 0x000400 : 0) | (first_flags ? 0x000004 : 0);
  const std::size_t record = key_inside ? 12 : 8;
  const std::size_t trun_size = 8 + 4 + 4 + 4 + (first_flags ? 4 : 0) + record * packets.size();
  const std::size_t traf_size = 8 + (8 + tfhd.size()) + (8 + tfdt.size()) + trun_size;
  const std::size_t moof_size = 8 + 16 + traf_size;
  if (payload + 8 > 0xffffffffull || moof_size + 8 > 0x7fffffffull)
    return fail(Errc::invalid_argument, "fragment too large");

  std::string out;
  out.reserve(moof_size + 8 + static_cast<std::size_t>(payload));
  put32(out, static_cast<std::uint32_t>(moof_size));
  out += "moof";
  put32(out, 16);
  out += "mfhd";
  put32(out, 0);
  put32(out, ++sequence_);
  put32(out, static_cast<std::uint32_t>(traf_size));
  out += "traf";
  put32(out, static_cast<std::uint32_t>(8 + tfhd.size()));
  out += "tfhd" + tfhd;
  put32(out, static_cast<std::uint32_t>(8 + tfdt.size()));
  out += "tfdt" + tfdt;
  put32(out, static_cast<std::uint32_t>(trun_size));
  out += "trun";
  put32(out, trun_flags);
  put32(out, static_cast<std::uint32_t>(packets.size()));
  put32(out, static_cast<std::uint32_t>(moof_size + 8));  // data offset: the mdat payload, from the moof
  if (first_flags) put32(out, flags_of(packets.front()));
  for (std::size_t i = 0; i < packets.size(); ++i) {
    last_duration_offset_ = out.size();
    put32(out, static_cast<std::uint32_t>(packets[i]->duration));
    put32(out, static_cast<std::uint32_t>(samples[i].size()));
    if (key_inside) put32(out, flags_of(packets[i]));
  }
  put32(out, static_cast<std::uint32_t>(payload + 8));
  out += "mdat";
  for (const auto& sample : samples) out += sample;
  first_ = false;
  last_dts_ms_ = packets.back()->pts;
  next_dts_ms_ = packets.back()->pts + packets.back()->duration;
  return out;
}

}  // namespace deskaudit::encode
