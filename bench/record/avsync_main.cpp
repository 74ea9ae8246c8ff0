// deskaudit-avsync: the audio benchmark's sound source and sync marker.
// Plays into a PulseAudio server, in a loop of --period-s seconds:
//   3 s of silence, 1 s of a 1 kHz tone, 4 s of silence, then the program for
//   the rest: two halves, music then speech in even loops, speech then music
//   in odd ones (each a raw s16le 48 kHz stereo file played from its start,
//   repeated to fill its half), so a silence follows each kind of sound,
// and, while the tone is heard at the sink, draws a white bar on a black strip
// at the bottom of the screen whose length in pixels is the number of
// milliseconds of the tone heard so far (1 px = 1 ms). Any recorded frame
// showing the bar therefore says when, on the recording's audio, the tone
// began: frame time - bar length; the audio/video offset of a recording is its
// tone onset minus that, whatever its frame rate.
//   deskaudit-avsync --display :N --server unix:/path --music FILE.raw [--speech FILE.raw] --marks FILE [--period-s 30]
// "Heard" = written minus the playback latency libpulse reports (the stream
// asks for 30 ms of buffer), checked every 5 ms. Marks, one JSON object a line:
// {"t_ms": wall ms the part began at the sink, "event": "silence"|"tone"|"speech"|"music"},
// a silence with "after": the part before it, and after a tone "tone_stall_ms": the
// longest wait between two bar updates during it (over 5 ms: this program or the
// X server was starved, and frames then show a bar shorter than the tone heard).
// Runs until SIGINT/SIGTERM.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <pulse/error.h>
#include <pulse/simple.h>
#include <xcb/xcb.h>

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

constexpr int kRate = 48000;
constexpr int kChannels = 2;
constexpr int kChunkFrames = kRate / 200;  // 5 ms
constexpr int kStripX = 20, kStripY = 1000, kStripW = 1040, kStripH = 64, kBarMaxMs = 1000;

[[noreturn]] void die(const std::string& why) {
  std::cerr << "deskaudit-avsync: " << why
            << "\nusage: deskaudit-avsync --display :N --server SERVER --music FILE.raw [--speech FILE.raw] --marks "
               "FILE [--period-s N]\n";
  std::exit(2);
}

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct PaDeleter {
  void operator()(pa_simple* s) const { pa_simple_free(s); }
};
struct XcbDeleter {
  void operator()(xcb_connection_t* c) const { xcb_disconnect(c); }
};

// The phase of the loop at a frame position.
enum class Part { silence, tone, speech, music };
struct Schedule {
  long long period;  // frames
  bool has_speech;
  static constexpr long long kToneStart = 3LL * kRate, kToneEnd = 4LL * kRate, kProgramStart = 8LL * kRate;
  long long half() const { return kProgramStart + (period - kProgramStart) / 2; }
  Part at(long long pos) const {
    const long long p = pos % period;
    if (p < kToneStart) return Part::silence;
    if (p < kToneEnd) return Part::tone;
    if (p < kProgramStart) return Part::silence;
    if (!has_speech) return Part::music;
    const bool speech_first = (pos / period) % 2 == 1;
    return (p < half()) == speech_first ? Part::speech : Part::music;
  }
  long long part_start(long long pos) const {
    const long long base = pos - pos % period, p = pos % period;
    if (p < kToneStart) return base;
    if (p < kToneEnd) return base + kToneStart;
    if (p < kProgramStart) return base + kToneEnd;
    if (has_speech && p >= half()) return base + half();
    return base + kProgramStart;
  }
};
const char* name(Part p) {
  switch (p) {
    case Part::silence:
      return "silence";
    case Part::tone:
      return "tone";
    case Part::speech:
      return "speech";
    case Part::music:
      return "music";
  }
  return "?";
}

std::vector<std::int16_t> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::int16_t> pcm(raw.size() / sizeof(std::int16_t) / kChannels * kChannels);
  std::copy_n(raw.data(), pcm.size() * sizeof(std::int16_t), reinterpret_cast<char*>(pcm.data()));
  if (pcm.size() < kChannels * kRate) die("missing, or shorter than a second: " + path);
  return pcm;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) die("bad argument " + flag);
    args[flag] = argv[i + 1];
  }
  for (const char* need : {"--display", "--server", "--music", "--marks"})
    if (!args.contains(need)) die(std::string("missing ") + need);
  long long period_s = 30;
  if (args.contains("--period-s")) period_s = std::atoll(args["--period-s"].c_str());
  if (period_s < 10 || period_s > 3600) die("--period-s must be 10..3600");
  const std::vector<std::int16_t> music = read_raw(args["--music"]);
  const std::vector<std::int16_t> speech =
      args.contains("--speech") ? read_raw(args["--speech"]) : std::vector<std::int16_t>{};
  const Schedule schedule{period_s * kRate, !speech.empty()};

  std::ofstream marks(args["--marks"], std::ios::app);
  if (!marks) die("cannot write " + args["--marks"]);

  int screen_no = 0;
  std::unique_ptr<xcb_connection_t, XcbDeleter> x(xcb_connect(args["--display"].c_str(), &screen_no));
  if (xcb_connection_has_error(x.get()) != 0) die("cannot open display " + args["--display"]);
  xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(x.get()));
  for (int i = 0; i < screen_no; ++i) xcb_screen_next(&it);
  const xcb_screen_t* screen = it.data;
  const xcb_window_t win = xcb_generate_id(x.get());
  // Override-redirect: the window manager neither frames nor moves it.
  const std::array<std::uint32_t, 2> wvals{screen->black_pixel, 1};
  xcb_create_window(x.get(), XCB_COPY_FROM_PARENT, win, screen->root, kStripX, kStripY, kStripW, kStripH, 0,
                    XCB_WINDOW_CLASS_INPUT_OUTPUT, screen->root_visual, XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT,
                    wvals.data());
  const xcb_gcontext_t white = xcb_generate_id(x.get()), black = xcb_generate_id(x.get());
  xcb_create_gc(x.get(), white, win, XCB_GC_FOREGROUND, &screen->white_pixel);
  xcb_create_gc(x.get(), black, win, XCB_GC_FOREGROUND, &screen->black_pixel);
  xcb_map_window(x.get(), win);
  xcb_flush(x.get());

  const pa_sample_spec spec{PA_SAMPLE_S16LE, kRate, kChannels};
  const std::uint32_t bytes_per_ms = kRate * kChannels * sizeof(std::int16_t) / 1000;
  const pa_buffer_attr attr{static_cast<std::uint32_t>(-1), 30 * bytes_per_ms, static_cast<std::uint32_t>(-1),
                            5 * bytes_per_ms, static_cast<std::uint32_t>(-1)};
  int err = 0;
  std::unique_ptr<pa_simple, PaDeleter> pa(pa_simple_new(args["--server"].c_str(), "deskaudit-avsync",
                                                         PA_STREAM_PLAYBACK, nullptr, "bench sound", &spec, nullptr,
                                                         &attr, &err));
  if (!pa) die(std::string("cannot connect to ") + args["--server"] + ": " + pa_strerror(err));

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  long long written = 0;  // frames written to the stream
  long long heard = -1;   // frames past the sink, at the last check
  int bar_px = 0;
  long long last_check_ms = 0, tone_stall_ms = 0;
  std::vector<std::int16_t> chunk(kChunkFrames * kChannels);
  while (!g_stop) {
    for (int f = 0; f < kChunkFrames; ++f) {
      const long long pos = written + f;
      std::int16_t l = 0, r = 0;
      switch (schedule.at(pos)) {
        case Part::silence:
          break;
        case Part::tone:
          l = r = static_cast<std::int16_t>(16384 *
                                            std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(pos) / kRate));
          break;
        case Part::speech:
        case Part::music: {
          const std::vector<std::int16_t>& src = schedule.at(pos) == Part::speech ? speech : music;
          const auto i = static_cast<std::size_t>((pos - schedule.part_start(pos)) %
                                                  static_cast<long long>(src.size() / kChannels));
          l = src[2 * i];
          r = src[2 * i + 1];
          break;
        }
      }
      chunk[2 * f] = l;
      chunk[2 * f + 1] = r;
    }
    if (pa_simple_write(pa.get(), chunk.data(), chunk.size() * sizeof(std::int16_t), &err) < 0)
      die(std::string("write: ") + pa_strerror(err));
    written += kChunkFrames;

    const pa_usec_t latency = pa_simple_get_latency(pa.get(), &err);
    if (latency == static_cast<pa_usec_t>(-1)) die(std::string("latency: ") + pa_strerror(err));
    const long long now = wall_ms();
    const long long now_heard = std::max(0LL, written - static_cast<long long>(latency * kRate / 1000000));
    if (now_heard < heard) continue;  // the latency estimate stepped back: keep the later position
    const long long start = schedule.part_start(now_heard);
    if (heard < start) {  // a part began at the sink since the last check
      marks << "{\"t_ms\":" << now - (now_heard - start) * 1000 / kRate << ",\"event\":\""
            << name(schedule.at(now_heard)) << "\"";
      if (schedule.at(now_heard) == Part::silence && start > 0) {
        marks << ",\"after\":\"" << name(schedule.at(start - 1)) << "\"";
        if (schedule.at(start - 1) == Part::tone) marks << ",\"tone_stall_ms\":" << tone_stall_ms;
      }
      if (schedule.at(now_heard) == Part::tone) tone_stall_ms = 0;
      marks << "}\n" << std::flush;
      if (schedule.at(now_heard) == Part::tone) {
        const std::uint32_t above = XCB_STACK_MODE_ABOVE;
        xcb_configure_window(x.get(), win, XCB_CONFIG_WINDOW_STACK_MODE, &above);
      }
    }
    heard = now_heard;
    if (schedule.at(heard) == Part::tone) tone_stall_ms = std::max(tone_stall_ms, now - last_check_ms);
    last_check_ms = now;
    const int want = schedule.at(heard) == Part::tone
                         ? static_cast<int>(std::min<long long>(kBarMaxMs, (heard - start) * 1000 / kRate))
                         : 0;
    if (want != bar_px) {
      const xcb_rectangle_t lit{0, 0, static_cast<std::uint16_t>(want), kStripH};
      const xcb_rectangle_t dark{static_cast<std::int16_t>(want), 0, static_cast<std::uint16_t>(kStripW - want),
                                 kStripH};
      if (want > 0) xcb_poly_fill_rectangle(x.get(), win, white, 1, &lit);
      xcb_poly_fill_rectangle(x.get(), win, black, 1, &dark);
      xcb_flush(x.get());
      bar_px = want;
    }
  }
  pa_simple_drain(pa.get(), &err);
  return 0;
}
