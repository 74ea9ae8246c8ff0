// deskaudit-record: records an X display (Windows: the desktop, through DXGI
// Desktop Duplication or GDI) with record::Recorder into a directory until SIGTERM/SIGINT (Windows:
// Ctrl+C) or, with --seconds N, for N seconds. The benchmark's stand-in for
// the agent, and the first Windows recorder (docs/windows.md).
//   deskaudit-record --display :N --out DIR [--fps 5] [--segment-max-bytes N] [--seconds N]
//   deskaudit-record.exe --display desktop --out DIR [...]
// Tuning (for measurements): --preset --tune --crf --qp --x264-params --careful-params --careful-crf-offset
//   --keyint FRAMES --keyint-max FRAMES --fragment-ms MS --still-flush-ms MS
//   --small-change-ms MS --small-change-fragment-ms MS --hot-qp N --hot-frames N --hot-gap-ms MS --refine-qp N
//   --backend best|getimage
// --log-level trace: a line per coded frame (pts, kind, changed areas and pixels, hot macroblocks, bytes).
// Sound: --pulse-server unix:/path records that PulseAudio server's default
// sink monitor as an Opus track, as the agent does when the policy says so;
// on Windows --sound-device NAME|default records that device (by name or id;
// default: the default playback device's loopback).
// Activity events (src/events) are collected as the agent does, written as
// seg-N.events.json beside the segments; --events-uid UID: whose processes
// (default: ours). Their CPU time and bytes are printed at the end. Not on
// Windows (the activity collector is X11 and procfs).
// Prints "backend=<capture> size=WxH" (and "capture_fallback=<why>" when the
// platform's preferred capture is not used), "media_start_epoch_ms=<ms>" when
// the first frame is captured, and
// one line per closed segment.
//   deskaudit-record --scripted idle|typing --seconds N --out DIR [tuning]
// records a scripted 1920x1080 screen instead (capture::ScriptedScreen, virtual
// time: runs as fast as it encodes) and prints the CPU seconds and bytes it
// took: the per-frame cost of encoder settings without a display or noise
// from other processes' timing. idle = the seconds digits (16x16) of a clock repainted every
// second; typing = a glyph every 150 ms along lines, with pauses.
#include <algorithm>
#include <atomic>
#include <chrono>
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

#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#ifdef _WIN32
#include <windows.h>
// After windows.h, which it needs.
#include <psapi.h>
#else
#include <sys/resource.h>

#include "activity/collector.hpp"
#include "activity/document.hpp"
#include "events/events.hpp"
#endif

#include "capture/scripted_capture.hpp"
#include "common/fs.hpp"
#include "common/wakeup.hpp"
#include "record/pipeline.hpp"

using namespace deskaudit;

namespace {
[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "deskaudit-record: " << why
      << "\nusage: deskaudit-record --display :N --out DIR [--fps N] [--segment-max-bytes N]"
         " [--segment-max-ms N] [--preset P] [--tune T] [--crf N] [--qp N] [--x264-params S]"
         " [--keyint FRAMES] [--keyint-max FRAMES] [--fragment-ms MS] [--still-flush-ms MS] [--small-change-ms MS]"
         " [--small-change-fragment-ms MS] [--careful-params S|none] [--careful-crf-offset N]"
         " [--hot-qp N] [--hot-frames N] [--hot-gap-ms MS] [--refine-qp N]"
         " [--backend best|getimage] [--pulse-server SERVER] [--sound-device NAME|default] [--events-uid UID] "
         "[--seconds N] [--log-level L]"
         " [--scripted idle|typing --seconds N]\n";
  std::exit(2);
}

struct CpuUse {
  double cpu_s = 0;
  double rss_mb = 0;
};

CpuUse cpu_use() {
#ifdef _WIN32
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) return {};
  const auto seconds = [](const FILETIME& f) {
    return static_cast<double>((static_cast<unsigned long long>(f.dwHighDateTime) << 32) | f.dwLowDateTime) / 1e7;
  };
  PROCESS_MEMORY_COUNTERS mem{};
  const double peak_mb = GetProcessMemoryInfo(GetCurrentProcess(), &mem, sizeof mem)
                             ? static_cast<double>(mem.PeakWorkingSetSize) / (1024.0 * 1024.0)
                             : 0;
  return {seconds(kernel) + seconds(user), peak_mb};
#else
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
              static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
          static_cast<double>(ru.ru_maxrss) / 1024.0};
#endif
}

#ifdef _WIN32
// Ctrl+C / Ctrl+Break / console close: the recording stops and is closed.
Wakeup* g_stop = nullptr;
BOOL WINAPI on_console_event(DWORD /*type*/) {
  if (g_stop != nullptr) g_stop->signal();
  return TRUE;
}
#endif

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
#ifndef _WIN32
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread
  // (the activity collector's, the recorder's) starts, so every thread
  // inherits the mask. A thread that did not would receive the signal and,
  // under a shell that starts background jobs with SIGINT ignored (run.sh),
  // drop it: the recorder would never stop.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
#endif
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + flag);
    args[flag] = argv[i + 1];
  }
  record::RecorderOptions o;
  record::RecorderTuning t;
  std::string scripted;
  long long seconds = 0;  // 0: scripted 600, live until stopped
  [[maybe_unused]] long long events_uid = -1;  // whose app start/exit events (default: ours)
  for (const auto& [flag, v] : args) {
    if (flag == "--scripted") {
      scripted = v;
      o.display = "scripted";
      continue;
    }
    if (flag == "--seconds") {
      seconds = to_int(flag, v);
      continue;
    }
#ifdef _WIN32
    if (flag == "--events-uid" || flag == "--pulse-server" || flag == "--backend")
      usage(flag + " is not available on Windows (docs/windows.md)");
    if (flag == "--sound-device") {
      o.audio.emplace();
      o.audio->server = v == "default" ? "" : v;
      continue;
    }
#else
    if (flag == "--sound-device") usage("--sound-device is Windows' (on Linux: --pulse-server)");
#endif
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
    else if (flag == "--careful-params") t.encoder.careful_params = v == "none" ? "" : v;
    else if (flag == "--careful-crf-offset") t.encoder.careful_crf_offset = static_cast<int>(to_int(flag, v));
    else if (flag == "--keyint") t.keyframe_interval_frames = static_cast<int>(to_int(flag, v));
    else if (flag == "--keyint-max") t.keyframe_max_frames = static_cast<int>(to_int(flag, v));
    else if (flag == "--fragment-ms") t.fragment_ms = to_int(flag, v);
    else if (flag == "--still-flush-ms") t.still_flush_ms = to_int(flag, v);
    else if (flag == "--small-change-ms") t.small_change_interval_ms = to_int(flag, v);
    else if (flag == "--small-change-fragment-ms") t.small_change_fragment_ms = to_int(flag, v);
    else if (flag == "--hot-qp") t.activity.hot_qp_offset = static_cast<int>(to_int(flag, v));
    else if (flag == "--hot-frames") t.activity.hot_frames = static_cast<int>(to_int(flag, v));
    else if (flag == "--hot-gap-ms") t.activity.hot_gap_ms = to_int(flag, v);
    else if (flag == "--refine-qp") t.activity.refine_qp_offset = static_cast<int>(to_int(flag, v));
    else if (flag == "--pulse-server") {
      o.audio.emplace();
      o.audio->server = v;
    } else if (flag == "--events-uid") events_uid = to_int(flag, v);
    else if (flag == "--backend") t.backend = v == "getimage" ? capture::BackendChoice::getimage : capture::BackendChoice::best;
    else if (flag == "--log-level") {
      // trace: one line per coded frame (its areas, hot macroblocks, bytes).
      const auto level = spdlog::level::from_str(v);
      if (level == spdlog::level::off && v != "off") usage("--log-level is trace, debug, info, warn, error or off");
      spdlog::set_level(level);
    }
    else usage("unknown option " + flag);
  }
  if (o.display.empty() || o.output_dir.empty()) usage("--display and --out are required");
  if (auto st = ensure_private_dir(o.output_dir); !st) {
    std::cerr << "deskaudit-record: " << st.error().message << "\n";
    return 1;
  }
  av_log_set_level(AV_LOG_ERROR);  // libx264 prints its settings at every open otherwise
  if (seconds < 0 || seconds > 7 * 24 * 3600) usage("--seconds outside 0..604800");
  if (!scripted.empty()) {
#ifndef _WIN32
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);  // no sigwait here: Ctrl+C ends the run at once
#endif
    if (seconds == 0) seconds = 600;
    std::vector<capture::ScriptStep> steps;
    if (scripted == "idle") {
      for (long long ms = 1000; ms < seconds * 1000; ms += 1000) steps.push_back({ms, {{1850, 20, 16, 16}}, {}, {}});
    } else if (scripted == "typing") {
      long long ms = 1000;
      for (int line = 0; ms < seconds * 1000; ++line) {
        for (int col = 0; col < 60 && ms < seconds * 1000; ++col, ms += 150)
          steps.push_back({ms, {{100 + col * 8, 100 + (line % 50) * 16, 8, 16}}, {}, {}});
        ms += 3000;  // a pause at the end of each line
      }
    } else {
      usage("--scripted is idle or typing");
    }
    auto screen = capture::ScriptedScreen::create(1920, 1080, std::move(steps), seconds * 1000);
    if (!screen) usage(screen.error().message);
    t.open_capture = [s = *screen](const capture::CaptureOptions& co) -> Result<std::unique_ptr<capture::ScreenCapture>> {
      return s->open(co.draw_cursor);
    };
    t.clock = &(*screen)->clock();
    auto rec = record::start_recorder(o, t, {});
    if (!rec) usage(rec.error().message);
    (*screen)->wait_for_end(std::chrono::hours(1));
    if (auto st = (*rec)->stop(); !st) usage(st.error().message);
    const auto use = cpu_use();
    const double cpu = use.cpu_s;
    long long bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(o.output_dir)) bytes += static_cast<long long>(e.file_size());
    std::printf("scripted=%s seconds=%lld cpu_s=%.3f cpu_pct=%.3f bytes=%lld mb_per_hour=%.3f rss_mb=%.1f\n",
                scripted.c_str(), seconds, cpu, 100.0 * cpu / static_cast<double>(seconds), bytes,
                static_cast<double>(bytes) / 1e6 / static_cast<double>(seconds) * 3600, use.rss_mb);
    return 0;
  }
  t.on_first_frame = [](EpochMs ms) {
    std::printf("media_start_epoch_ms=%lld\n", static_cast<long long>(ms));
    std::fflush(stdout);
  };

  auto stop = Wakeup::create();
  if (!stop) usage(stop.error().message);
#ifdef _WIN32
  g_stop = &*stop;
  SetConsoleCtrlHandler(on_console_event, TRUE);
#else
  // The signals wake the main loop through the Wakeup, as Ctrl+C does on Windows.
  std::thread signals([&set, s = &*stop] {
    int sig = 0;
    sigwait(&set, &sig);
    s->signal();
  });
  signals.detach();
#endif

#ifndef _WIN32
  // Activity events as the agent collects them (display sessions only): a
  // document per segment beside it; their cost is printed at the end. Its
  // thread starts after SIGINT/SIGTERM are blocked above: a thread that did
  // not block them would take the signal (ignored in a background job of a
  // script, such as run.sh's, so the recorder never stopped).
  std::unique_ptr<activity::Collector> collector;
  std::atomic<long long> events_bytes{0}, events_count{0}, events_bytes_v1{0};
  {
    activity::CollectorOptions co;
    co.display = o.display;
    co.uid = events_uid >= 0 ? static_cast<uid_t>(events_uid) : ::getuid();
    auto c = activity::Collector::start(co);
    if (!c) usage(c.error().message);
    collector = std::move(*c);
    std::printf("events_sources=%s\n", collector->sources().c_str());
    auto* cp = collector.get();
    o.on_screen_change = [cp](std::chrono::steady_clock::time_point at) { cp->note_screen_change(at); };
    o.before_segment_close = [&, cp](const record::SegmentClosing& s, const record::Recorder& r) {
      auto list = cp->take([&](activity::SteadyTime at) { return r.media_ms_at(at); }, s.start_ms,
                           s.last ? std::nullopt : std::optional(s.end_ms));
      if (list.empty()) return;
      const auto doc = activity::build_document(s.seq, std::move(list));
      char name[40];
      std::snprintf(name, sizeof name, "seg-%06lld.events.json", static_cast<long long>(s.seq));
      if (auto st = write_file_atomic(o.output_dir / name, doc.json); !st) std::cerr << st.error().message << "\n";
      // Counted as uploaded: with a server id of the length the server mints
      // ("rec-" + 20), and the same events in version 1 of the document.
      const std::string id = "rec-" + std::string(20, 'a');
      if (auto up = activity::with_recording_id(doc.json, id)) {
        events_bytes += static_cast<long long>(up->size());
        if (auto parsed = events::parse_document(*up, id, s.seq)) {
          events_bytes_v1 += static_cast<long long>(events::to_json(*parsed).dump().size());
        }
      }
      events_count += static_cast<long long>(doc.events);
    };
  }
#endif

  auto rec = record::start_recorder(o, t, [](const record::SegmentClosed& s) {
    std::printf("segment seq=%lld bytes=%lld start_ms=%lld duration_ms=%lld path=%s\n", static_cast<long long>(s.seq),
                static_cast<long long>(s.size_bytes), static_cast<long long>(s.start_offset_ms),
                static_cast<long long>(s.duration_ms), s.path.string().c_str());
    std::fflush(stdout);
  });
  if (!rec) {
    std::cerr << "deskaudit-record: " << rec.error().message << "\n";
    return 1;
  }
  const auto info = (*rec)->capture_info();
  std::printf("backend=%s size=%dx%d\n", info.backend.c_str(), info.width, info.height);
  if (!info.fallback_reason.empty()) std::printf("capture_fallback=%s\n", info.fallback_reason.c_str());
  std::fflush(stdout);
  // Looks for a failed recorder every 5 s (a wakeup of its own, as small as
  // the agent's idle figures it stands in for); a signal ends the wait at once.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!(*rec)->failure()) {
    auto wait = std::chrono::milliseconds(5000);
    if (seconds != 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      wait = std::min(wait, left);
    }
    auto signalled = stop->wait_for(wait);
    if (!signalled) usage(signalled.error().message);
    if (*signalled) break;
  }
  if (auto st = (*rec)->stop(); !st) {
    std::cerr << "deskaudit-record: " << st.error().message << "\n";
    return 1;
  }
  std::printf("elapsed_ms=%lld\n", static_cast<long long>((*rec)->elapsed_ms()));
#ifndef _WIN32
  collector->stop();
  std::printf("events_cpu_s=%.4f events_bytes=%lld events_count=%lld events_bytes_v1=%lld\n",
              static_cast<double>(collector->cpu_time().count()) / 1e9, events_bytes.load(), events_count.load(),
              events_bytes_v1.load());
#endif
  return 0;
}
