// deskaudit-record: records an X display with record::Recorder into a
// directory until SIGTERM/SIGINT. The benchmark's stand-in for the agent.
//   deskaudit-record --display :N --out DIR [--fps 5] [--segment-max-bytes N]
// Tuning (for measurements): --preset --tune --crf --qp --x264-params
//   --keyint FRAMES --fragment-ms MS --backend best|getimage
// Prints "media_start_epoch_ms=<ms>" when the first frame is captured, and
// one line per closed segment.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <string>

extern "C" {
#include <libavutil/log.h>
}

#include "common/fs.hpp"
#include "record/pipeline.hpp"

using namespace deskaudit;

namespace {
[[noreturn]] void usage(const std::string& why) {
  std::cerr << "deskaudit-record: " << why
            << "\nusage: deskaudit-record --display :N --out DIR [--fps N] [--segment-max-bytes N]"
               " [--segment-max-ms N] [--preset P] [--tune T] [--crf N] [--qp N] [--x264-params S]"
               " [--keyint FRAMES] [--fragment-ms MS] [--hot-qp N] [--hot-frames N] [--refine-qp N]"
               " [--backend best|getimage]\n";
  std::exit(2);
}

long long to_int(const std::string& flag, const std::string& v) {
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (const std::exception&) {
    usage(flag + " needs an integer, got '" + v + "'");
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + flag);
    args[flag] = argv[i + 1];
  }
  record::RecorderOptions o;
  record::RecorderTuning t;
  for (const auto& [flag, v] : args) {
    if (flag == "--display") o.display = v;
    else if (flag == "--out") o.output_dir = v;
    else if (flag == "--fps") o.fps = static_cast<int>(to_int(flag, v));
    else if (flag == "--segment-max-bytes") o.segment_max_bytes = to_int(flag, v);
    else if (flag == "--segment-max-ms") o.segment_max_ms = to_int(flag, v);
    else if (flag == "--preset") t.encoder.preset = v;
    else if (flag == "--tune") t.encoder.tune = v == "none" ? "" : v;
    else if (flag == "--crf") t.encoder.crf = static_cast<int>(to_int(flag, v));
    else if (flag == "--qp") t.encoder.qp = static_cast<int>(to_int(flag, v));
    else if (flag == "--x264-params") t.encoder.x264_params = v;
    else if (flag == "--keyint") t.keyframe_interval_frames = static_cast<int>(to_int(flag, v));
    else if (flag == "--fragment-ms") t.fragment_ms = to_int(flag, v);
    else if (flag == "--hot-qp") t.activity.hot_qp_offset = static_cast<int>(to_int(flag, v));
    else if (flag == "--hot-frames") t.activity.hot_frames = static_cast<int>(to_int(flag, v));
    else if (flag == "--refine-qp") t.activity.refine_qp_offset = static_cast<int>(to_int(flag, v));
    else if (flag == "--backend") t.backend = v == "getimage" ? capture::BackendChoice::getimage : capture::BackendChoice::best;
    else usage("unknown option " + flag);
  }
  if (o.display.empty() || o.output_dir.empty()) usage("--display and --out are required");
  if (auto st = ensure_private_dir(o.output_dir); !st) {
    std::cerr << "deskaudit-record: " << st.error().message << "\n";
    return 1;
  }
  av_log_set_level(AV_LOG_ERROR);  // libx264 prints its settings at every open otherwise
  t.on_first_frame = [](EpochMs ms) { std::printf("media_start_epoch_ms=%lld\n", static_cast<long long>(ms)); std::fflush(stdout); };

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the recorder thread exists, so it inherits the mask

  auto rec = record::start_recorder(o, t, [](const record::SegmentClosed& s) {
    std::printf("segment seq=%lld bytes=%lld start_ms=%lld duration_ms=%lld path=%s\n", static_cast<long long>(s.seq),
                static_cast<long long>(s.size_bytes), static_cast<long long>(s.start_offset_ms),
                static_cast<long long>(s.duration_ms), s.path.c_str());
    std::fflush(stdout);
  });
  if (!rec) {
    std::cerr << "deskaudit-record: " << rec.error().message << "\n";
    return 1;
  }
  const auto info = (*rec)->capture_info();
  std::printf("backend=%s size=%dx%d\n", info.backend.c_str(), info.width, info.height);
  std::fflush(stdout);
  for (;;) {
    timespec one_second{1, 0};
    const int sig = sigtimedwait(&set, nullptr, &one_second);
    if (sig == SIGTERM || sig == SIGINT) break;
    if ((*rec)->failure()) break;
  }
  if (auto st = (*rec)->stop(); !st) {
    std::cerr << "deskaudit-record: " << st.error().message << "\n";
    return 1;
  }
  std::printf("elapsed_ms=%lld\n", static_cast<long long>((*rec)->elapsed_ms()));
  return 0;
}
