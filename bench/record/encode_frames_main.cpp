// deskaudit-encode-frames: codes a fixed list of screen pictures with the
// recorder's H.264 encoder, frame by frame as the recorder would (keyframe,
// careful "fresh" frame, coarse "hot" frame; only the macroblocks that changed
// are analysed), so encoder settings can be compared on bytes and legibility
// offline and deterministically (bench/record/encode_frames.sh drives it).
//
//   deskaudit-encode-frames --size WxH --plan FILE --out STREAM.h264 [--preset P] [--crf N]
//                           [--x264-params K=V:..] [--careful-params K=V:..|none] [--careful-crf-offset N]
//                           [--hot-qp N] [--key-qp N]
// The plan has one line per frame: "PATH KIND [QP_OFFSET]", PATH a raw I420
// picture of WxH (ffmpeg -pix_fmt yuv420p -f rawvideo), KIND key, fresh, hot
// or fast (a delta frame without the careful settings), QP_OFFSET shifts the
// quantiser of the whole frame (key and fresh frames; positive = coarser);
// --key-qp is that offset for every keyframe that has none of its own.
// Prints "frame N KIND BYTES" per frame; the stream is Annex B with SPS/PPS.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/log.h>
}

#include "encode/h264_encoder.hpp"

using namespace deskaudit;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "deskaudit-encode-frames: " << why
            << "\nusage: deskaudit-encode-frames --size WxH --plan FILE --out STREAM.h264 [--preset P] [--crf N]"
               " [--x264-params K=V:..] [--careful-params K=V:..|none] [--careful-crf-offset N] [--hot-qp N] [--key-qp N]\n";
  std::exit(2);
}

int to_int(const std::string& flag, const std::string& v) {
  try {
    std::size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (const std::exception&) {
    usage(flag + " needs an integer, got '" + v + "'");
  }
}

struct PlanLine {
  std::string path;
  std::string kind;
  int qp_offset = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + flag);
    args[flag] = argv[i + 1];
  }
  encode::EncoderOptions o;
  std::string plan_path, out_path;
  int hot_qp = 30;
  int key_qp = 0;
  for (const auto& [flag, v] : args) {
    if (flag == "--size") {
      if (std::sscanf(v.c_str(), "%dx%d", &o.width, &o.height) != 2) usage("--size is WxH");
    } else if (flag == "--plan") plan_path = v;
    else if (flag == "--out") out_path = v;
    else if (flag == "--preset") o.preset = v;
    else if (flag == "--crf") o.crf = to_int(flag, v);
    else if (flag == "--x264-params") o.x264_params = v;
    else if (flag == "--careful-params") o.careful_params = v == "none" ? "" : v;
    else if (flag == "--careful-crf-offset") o.careful_crf_offset = to_int(flag, v);
    else if (flag == "--hot-qp") hot_qp = to_int(flag, v);
    else if (flag == "--key-qp") key_qp = to_int(flag, v);
    else usage("unknown option " + flag);
  }
  if (o.width <= 0 || o.height <= 0 || plan_path.empty() || out_path.empty()) usage("--size, --plan and --out are required");
  av_log_set_level(AV_LOG_ERROR);

  std::vector<PlanLine> plan;
  {
    std::ifstream in(plan_path);
    if (!in) usage("cannot read " + plan_path);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      PlanLine p;
      ls >> p.path >> p.kind;
      if (!(ls >> p.qp_offset)) p.qp_offset = 0;
      if (p.kind != "key" && p.kind != "fresh" && p.kind != "hot" && p.kind != "fast") usage("bad kind in: " + line);
      plan.push_back(p);
    }
  }
  if (plan.empty() || plan[0].kind != "key") usage("the plan must start with a key frame");

  auto enc = encode::H264Encoder::open(o);
  if (!enc) usage(enc.error().message);
  std::ofstream out(out_path, std::ios::binary);
  const auto* par = enc->parameters();
  out.write(reinterpret_cast<const char*>(par->extradata), par->extradata_size);

  const std::size_t y_size = static_cast<std::size_t>(o.width) * static_cast<std::size_t>(o.height);
  const std::size_t frame_size = y_size * 3 / 2;
  std::vector<std::uint8_t> prev;
  long long total = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& p = plan[i];
    std::ifstream f(p.path, std::ios::binary);
    std::vector<std::uint8_t> pic((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (pic.size() != frame_size) usage(p.path + " is not a " + std::to_string(o.width) + "x" + std::to_string(o.height) + " I420 picture");
    auto planes = enc->picture();
    if (!planes) usage(planes.error().message);
    const std::uint8_t* src[3] = {pic.data(), pic.data() + y_size, pic.data() + y_size + y_size / 4};
    const int widths[3] = {o.width, o.width / 2, o.width / 2};
    const int heights[3] = {o.height, o.height / 2, o.height / 2};
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < heights[c]; ++y)
        std::copy_n(src[c] + static_cast<std::size_t>(y) * static_cast<std::size_t>(widths[c]), widths[c],
                    planes->data[c] + static_cast<std::ptrdiff_t>(y) * planes->linesize[c]);
    // The macroblocks whose luma changed since the previous picture, as the recorder's damage.
    std::vector<encode::ChangedArea> changed;
    std::vector<encode::QualityRegion> regions;
    if (!prev.empty()) {
      for (int my = 0; my < (o.height + 15) / 16; ++my)
        for (int mx = 0; mx < (o.width + 15) / 16; ++mx) {
          bool diff = false;
          for (int y = my * 16; y < std::min(o.height, my * 16 + 16) && !diff; ++y)
            for (int x = mx * 16; x < std::min(o.width, mx * 16 + 16) && !diff; ++x) {
              const std::size_t at = static_cast<std::size_t>(y) * static_cast<std::size_t>(o.width) + static_cast<std::size_t>(x);
              diff = pic[at] != prev[at];
            }
          if (diff) changed.push_back({mx * 16, my * 16, 16, 16});
        }
    }
    const bool key = p.kind == "key";
    if (p.kind == "hot")
      for (const auto& a : changed) regions.push_back({a.x, a.y, a.width, a.height, hot_qp});
    else if (const int off = p.qp_offset != 0 ? p.qp_offset : key ? key_qp : 0; off != 0)
      regions.push_back({0, 0, o.width, o.height, off});
    std::optional<std::span<const encode::ChangedArea>> ch;
    if (!key && !prev.empty()) ch = std::span<const encode::ChangedArea>(changed);
    auto pkt = enc->encode(static_cast<std::int64_t>(i) * 200, key ? encode::FrameKind::keyframe : encode::FrameKind::delta,
                           regions, ch, p.kind == "key" || p.kind == "fresh");
    if (!pkt) usage(pkt.error().message);
    out.write(reinterpret_cast<const char*>((*pkt)->data), (*pkt)->size);
    total += (*pkt)->size;
    std::printf("frame %zu %s %d\n", i, p.kind.c_str(), (*pkt)->size);
    prev = std::move(pic);
  }
  std::printf("total %lld\n", total);
  return 0;
}
