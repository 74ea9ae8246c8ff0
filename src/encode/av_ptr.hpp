#pragma once
// Owners for libav* handles, with stateless deleters that call the matching
// libav free function (which also nulls nothing we keep: the unique_ptr does).
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
}

namespace deskaudit::encode {

struct AvCodecContextDeleter {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
using AvCodecContextPtr = std::unique_ptr<AVCodecContext, AvCodecContextDeleter>;

struct AvFrameDeleter {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
using AvFramePtr = std::unique_ptr<AVFrame, AvFrameDeleter>;

struct AvPacketDeleter {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
using AvPacketPtr = std::unique_ptr<AVPacket, AvPacketDeleter>;

// An AVIOContext made by avio_alloc_context(): its buffer is av_malloc'd and
// may have been replaced by libavformat, so free the current one, then the context.
struct AvIoContextDeleter {
  void operator()(AVIOContext* io) const noexcept {
    if (io != nullptr) av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
using AvIoContextPtr = std::unique_ptr<AVIOContext, AvIoContextDeleter>;

// An output AVFormatContext whose pb is a custom AVIOContext owned separately
// (AvIoContextPtr); avformat_free_context() does not touch pb.
struct AvFormatOutputDeleter {
  void operator()(AVFormatContext* c) const noexcept { avformat_free_context(c); }
};
using AvFormatOutputPtr = std::unique_ptr<AVFormatContext, AvFormatOutputDeleter>;

// "Invalid data found when processing input": libav's text for an error code.
std::string av_error_text(int errnum);

}  // namespace deskaudit::encode
