#include "encode/fmp4_muxer.hpp"

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

Result<std::unique_ptr<Fmp4Muxer>> Fmp4Muxer::open(const AVCodecContext* codec, std::int64_t first_dts_ms) {
  if (codec == nullptr || codec->extradata == nullptr || codec->extradata_size <= 0)
    return fail(Errc::invalid_argument, "fMP4 muxer needs an opened encoder with global headers");
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
  if (const int r = avcodec_parameters_from_context(m->stream_->codecpar, codec); r < 0)
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

Result<std::string> Fmp4Muxer::fragment(std::span<const AVPacket* const> packets) {
  if (packets.empty()) return fail(Errc::invalid_argument, "empty fragment");
  if (first_ && packets.front()->pts != first_dts_ms_)
    return fail(Errc::invalid_argument, "first packet at " + std::to_string(packets.front()->pts) + " ms, muxer opened for " +
                                            std::to_string(first_dts_ms_) + " ms");
  AvPacketPtr pkt(av_packet_alloc());
  if (!pkt) return fail(Errc::internal, "out of memory allocating a packet");
  for (const AVPacket* in : packets) {
    if (in->duration <= 0) return fail(Errc::invalid_argument, "packet without duration");
    if (const int r = av_packet_ref(pkt.get(), in); r < 0) return fail(Errc::internal, "packet ref: " + av_error_text(r));
    pkt->stream_index = stream_->index;
    pkt->dts = pkt->pts;
    av_packet_rescale_ts(pkt.get(), {1, 1000}, stream_->time_base);
    const int r = av_write_frame(fmt_.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (r < 0) return fail(Errc::internal, "mux packet: " + av_error_text(r));
  }
  if (const int r = av_write_frame(fmt_.get(), nullptr); r < 0)
    return fail(Errc::internal, "flush mp4 fragment: " + av_error_text(r));
  avio_flush(io_.get());
  first_ = false;
  return std::exchange(out_, std::string());
}

}  // namespace deskaudit::encode
