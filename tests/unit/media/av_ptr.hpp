#pragma once
// unique_ptr aliases with stateless deleters for the libav handles the media
// tests use to produce real fragmented MP4 files.
#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
}

namespace deskaudit::media::test {

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
// Output context; the custom AVIOContext is owned separately.
struct OutputFormatDeleter {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};
struct AvioDeleter {
  void operator()(AVIOContext* io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;
using AvioPtr = std::unique_ptr<AVIOContext, AvioDeleter>;

}  // namespace deskaudit::media::test
