#include "fixture.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "av_ptr.hpp"

extern "C" {
#include <libavutil/opt.h>
}

namespace deskaudit::media::test {

namespace {

void check(int rc, const char* what) {
  if (rc < 0) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_make_error_string(text, sizeof text, rc);
    throw std::runtime_error(std::string(what) + ": " + text);
  }
}

// libavformat 5.x declares the buffer non-const.
int write_to_string(void* opaque, std::uint8_t* buf, int size) {
  static_cast<std::string*>(opaque)->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(size));
  return size;
}

// A moving test picture so that frames differ (P-frames carry data).
void paint(AVFrame* frame, int n) {
  for (int y = 0; y < frame->height; ++y) {
    for (int x = 0; x < frame->width; ++x) {
      frame->data[0][y * frame->linesize[0] + x] = static_cast<std::uint8_t>(x + y + n * 7);
    }
  }
  for (int y = 0; y < frame->height / 2; ++y) {
    for (int x = 0; x < frame->width / 2; ++x) {
      frame->data[1][y * frame->linesize[1] + x] = static_cast<std::uint8_t>(128 + ((x + n) & 31));
      frame->data[2][y * frame->linesize[2] + x] = static_cast<std::uint8_t>(128 - ((y + n) & 31));
    }
  }
}

std::uint64_t read_be(std::string_view b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(b.at(at + i));
  return v;
}

}  // namespace

std::vector<BoxAt> list_boxes(std::string_view bytes, std::size_t begin, std::size_t end) {
  std::vector<BoxAt> out;
  while (begin + 8 <= end) {
    BoxAt b;
    b.offset = begin;
    b.size = read_be(bytes, begin, 4);
    b.type = std::string(bytes.substr(begin + 4, 4));
    b.header = 8;
    if (b.size == 1) {
      b.size = read_be(bytes, begin + 8, 8);
      b.header = 16;
    }
    out.push_back(b);
    begin += b.size;
  }
  return out;
}

BoxAt find_box(std::string_view bytes, std::initializer_list<std::string_view> path, std::size_t nth) {
  std::size_t begin = 0, end = bytes.size();
  BoxAt found;
  std::size_t depth = 0;
  for (auto type : path) {
    const bool last = ++depth == path.size();
    std::size_t seen = 0;
    bool ok = false;
    for (const auto& b : list_boxes(bytes, begin, end)) {
      if (b.type != type) continue;
      if (last && seen++ != nth) continue;
      found = b;
      ok = true;
      break;
    }
    if (!ok) throw std::runtime_error("box not found: " + std::string(type));
    begin = found.offset + found.header + (type == "stsd" ? 8 : 0);
    end = found.offset + found.size;
  }
  return found;
}

Stream encode_fmp4(const StreamOptions& o) {
  av_log_set_level(AV_LOG_ERROR);
  Stream out;
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (codec == nullptr) throw std::runtime_error("libx264 encoder not available");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->width = o.width;
  enc->height = o.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = AVRational{1, o.fps};
  enc->framerate = AVRational{o.fps, 1};
  enc->gop_size = o.gop;
  enc->keyint_min = o.gop;
  enc->max_b_frames = 2;
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // avcC in the init, as mp4 wants
  av_opt_set(enc->priv_data, "preset", "ultrafast", 0);
  av_opt_set(enc->priv_data, "x264-params", "scenecut=0:threads=1", 0);
  check(avcodec_open2(enc.get(), codec, nullptr), "avcodec_open2");

  AVFormatContext* raw = nullptr;
  check(avformat_alloc_output_context2(&raw, nullptr, "mp4", nullptr), "avformat_alloc_output_context2");
  OutputFormatPtr mux(raw);
  constexpr int kIoBuffer = 64 * 1024;
  auto* io_buf = static_cast<unsigned char*>(av_malloc(kIoBuffer));
  AvioPtr io(avio_alloc_context(io_buf, kIoBuffer, 1, &out.bytes, nullptr, write_to_string, nullptr));
  mux->pb = io.get();
  mux->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVStream* st = avformat_new_stream(mux.get(), nullptr);
  check(avcodec_parameters_from_context(st->codecpar, enc.get()), "avcodec_parameters_from_context");
  st->time_base = enc->time_base;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof", 0);
  const int hdr = avformat_write_header(mux.get(), &opts);
  av_dict_free(&opts);
  check(hdr, "avformat_write_header");
  avio_flush(mux->pb);
  out.init_size = out.bytes.size();

  PacketPtr pkt(av_packet_alloc());
  int in_fragment = 0;
  auto flush_fragment = [&] {
    check(av_write_frame(mux.get(), nullptr), "flush fragment");
    avio_flush(mux->pb);
    out.cuts.push_back(out.bytes.size());
    in_fragment = 0;
  };
  auto drain = [&] {
    for (;;) {
      const int rc = avcodec_receive_packet(enc.get(), pkt.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      check(rc, "avcodec_receive_packet");
      if (in_fragment == o.packets_per_fragment) flush_fragment();
      pkt->duration = 1;  // one frame: the muxer needs it for each fragment's last sample
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      check(av_write_frame(mux.get(), pkt.get()), "av_write_frame");
      ++in_fragment;
      ++out.frames;
    }
  };
  FramePtr frame(av_frame_alloc());
  frame->format = enc->pix_fmt;
  frame->width = o.width;
  frame->height = o.height;
  check(av_frame_get_buffer(frame.get(), 0), "av_frame_get_buffer");
  for (int n = 0; n < o.frames; ++n) {
    check(av_frame_make_writable(frame.get()), "av_frame_make_writable");
    paint(frame.get(), n);
    frame->pts = n;
    check(avcodec_send_frame(enc.get(), frame.get()), "avcodec_send_frame");
    drain();
  }
  check(avcodec_send_frame(enc.get(), nullptr), "flush encoder");
  drain();
  if (in_fragment > 0) flush_fragment();
  const std::size_t before_trailer = out.bytes.size();
  check(av_write_trailer(mux.get()), "av_write_trailer");
  avio_flush(mux->pb);
  if (!o.write_trailer) out.bytes.resize(before_trailer);
  return out;
}

std::string make_segment(const Stream& s, std::size_t first, std::size_t end) {
  std::string seg = s.bytes.substr(0, s.init_size);
  const std::uint64_t from = s.fragment_begin(first);
  const std::uint64_t to = s.cuts.at(end - 1);
  seg += s.bytes.substr(from, to - from);
  return seg;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "deskaudit-media-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, std::string_view data) const {
  const auto p = path_ / name;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
  return p;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::optional<std::filesystem::path> find_program(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const auto dir = rest.substr(0, colon);
    const auto candidate = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace deskaudit::media::test
