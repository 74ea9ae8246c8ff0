// capture::SoundCapture on Windows (wasapi_capture.cpp), run under Wine by
// tests/integration/windows/agent_windows_wine_test.sh with a PulseAudio
// server whose null sink is described as "deskaudit-test-sink": Wine shows
// it as a playback device of that name and its monitor as the recording
// device "Monitor of deskaudit-test-sink". A tone rendered to the sink
// through WASAPI (by agent_windows_probe tone) comes back through the monitor.
// DESKAUDIT_TEST_SOUND=1 (the script sets it) makes a missing sink a failure;
// without it the tests that need the sink are skipped (a real Windows machine
// has no such device: its checklist records the default loopback).
#include <windows.h>
//
#include <audioclient.h>
#include <mmdeviceapi.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "../agent/windows/probe_exe.hpp"
#include "agent/windows/win_util.hpp"
#include "capture/sound_capture.hpp"
#include "playback_device.hpp"
#include "common/com_ptr.hpp"
#include "common/win_handle.hpp"

namespace deskaudit::capture {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kSink = "deskaudit-test-sink";
constexpr const char* kMonitor = "Monitor of deskaudit-test-sink";

bool sound_required() {
  const char* v = std::getenv("DESKAUDIT_TEST_SOUND");
  return v != nullptr && std::string(v) == "1";
}

struct Com {
  Com() { CoInitializeEx(nullptr, COINIT_MULTITHREADED); }
  ~Com() { CoUninitialize(); }
};

// `agent_windows_probe tone DEVICE MS` in a process of its own (under Wine a
// render stream starting in the recording process stalls its capture for up
// to a second, which no agent has): plays a 1 kHz sine at half scale for MS
// ms on the playback device DEVICE and prints "started <steady ns>" once the
// stream runs (steady_clock is the performance counter in every process).
class Tone {
 public:
  Tone(const std::wstring& device, std::chrono::milliseconds length) {
    SECURITY_ATTRIBUTES sa{sizeof(sa), nullptr, TRUE};
    HANDLE read = nullptr, write = nullptr;
    if (!CreatePipe(&read, &write, &sa, 0)) return;
    read_.reset(read);
    HandlePtr write_end(write);
    SetHandleInformation(read, HANDLE_FLAG_INHERIT, 0);
    STARTUPINFOW si{};
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = write;
    si.hStdError = write;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    std::wstring command = L"\"" + agent::windows::probe_exe() + L"\" tone \"" + device + L"\" " +
                           std::to_wstring(length.count());
    PROCESS_INFORMATION pi{};
    if (!CreateProcessW(nullptr, command.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si, &pi)) return;
    CloseHandle(pi.hThread);
    process_.reset(pi.hProcess);
  }
  // Waits for the "started" line (at most 10 s): when the tone began.
  std::optional<Clock::time_point> started() {
    std::string text;
    const auto t0 = Clock::now();
    while (read_ && Clock::now() - t0 < 10s) {
      char buf[256];
      DWORD n = 0;
      if (!ReadFile(read_.get(), buf, sizeof buf, &n, nullptr) || n == 0) break;
      text.append(buf, n);
      output_ += std::string(buf, n);
      if (const auto at = text.find("started "); at != std::string::npos && text.find('\n', at) != std::string::npos)
        return Clock::time_point(Clock::duration(std::stoll(text.substr(at + 8))));
    }
    return std::nullopt;
  }
  // The exit code once it ended (at most 10 s), and what it printed.
  DWORD wait() {
    DWORD code = 259;
    if (process_ && WaitForSingleObject(process_.get(), 10000) == WAIT_OBJECT_0) GetExitCodeProcess(process_.get(), &code);
    return code;
  }
  const std::string& output() const { return output_; }

 private:
  HandlePtr read_;
  HandlePtr process_;
  std::string output_;
};

std::unique_ptr<SoundCapture> open_monitor() {
  auto cap = SoundCapture::open(session_sound_options("anyone", kMonitor));
  if (!cap) {
    ADD_FAILURE() << cap.error().message;
    return nullptr;
  }
  return std::move(*cap);
}

#define NEED_SINK()                                                                              \
  do {                                                                                           \
    Com com_check;                                                                               \
    if (!test::playback_device(L"deskaudit-test-sink")) {                                              \
      if (sound_required()) FAIL() << "no playback device named " << kSink << " (PulseAudio?)"; \
      GTEST_SKIP() << "no playback device named " << kSink;                                      \
    }                                                                                            \
  } while (0)

TEST(WasapiCaptureTest, AnUnknownDeviceIsRefusedWithTheDevicesThereAre) {
  NEED_SINK();
  auto cap = SoundCapture::open(session_sound_options("anyone", "no such device"));
  ASSERT_FALSE(cap.has_value());
  EXPECT_EQ(cap.error().code, Errc::unavailable);
  EXPECT_NE(cap.error().message.find("no active sound device is named 'no such device'"), std::string::npos)
      << cap.error().message;
  EXPECT_NE(cap.error().message.find("'Monitor of deskaudit-test-sink' (recording)"), std::string::npos)
      << cap.error().message;
  EXPECT_NE(cap.error().message.find("'deskaudit-test-sink' (playback)"), std::string::npos) << cap.error().message;
}

// What the device plays comes back at its level, stamped when it played.
// When a render stream starts on the null sink, PulseAudio now and then
// delivers nothing to the monitor for a while and the data of that time is
// lost (of 6 runs, 4 lost 0.5-1 s, the tone's start included): then the
// first loud sample that comes is stamped that much later, which is right.
// So the stamp is never before the tone's start, and at most what was lost
// (the time read minus the frames that came) plus 200 ms after it. (Not
// "exactly what was lost after it": under load the loss can also fall after
// the tone's start; once, 574 ms lost with the first loud stamp 492 ms late.)
TEST(WasapiCaptureTest, RecordsWhatIsPlayedStampedWhenItPlayed) {
  NEED_SINK();
  auto cap = open_monitor();
  ASSERT_TRUE(cap);
  EXPECT_EQ(cap->description(), "recording device 'Monitor of deskaudit-test-sink' (48000 Hz, 2 ch, float32)");
  // Drain what the monitor has queued before the tone.
  for (auto until = Clock::now() + 300ms; Clock::now() < until;) ASSERT_TRUE(cap->read(1000ms).has_value());
  // Read all along (the line the tone prints waits in its pipe).
  const auto read_from = Clock::now();
  Tone tone(L"deskaudit-test-sink", 1500ms);
  std::optional<Clock::time_point> first_loud;
  std::int64_t loud = 0, total = 0;
  int peak = 0;
  for (auto until = read_from + 5000ms; Clock::now() < until;) {
    auto r = cap->read(1000ms);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->status, ReadStatus::chunk);
    const auto& pcm = r->chunk.pcm;
    ASSERT_EQ(pcm.size() % 2, 0u);
    for (std::size_t i = 0; i < pcm.size(); i += 2) {
      const int level = std::abs(static_cast<int>(pcm[i]));
      peak = std::max(peak, level);
      if (level > 8000) {
        ++loud;
        if (!first_loud) first_loud = r->chunk.captured_at + std::chrono::microseconds(i / 2 * 1'000'000 / 48000);
      }
    }
    total += static_cast<std::int64_t>(pcm.size() / 2);
  }
  const auto read_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - read_from).count();
  const auto tone_started = tone.started();
  ASSERT_TRUE(tone_started) << "the tone did not start: " << tone.output();
  EXPECT_EQ(tone.wait(), 0u) << tone.output();
  ASSERT_TRUE(first_loud) << "nothing loud came back (peak " << peak << ")";
  const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(*first_loud - *tone_started).count();
  const auto lost = std::max<long long>(0, read_ms - total * 1000 / 48000);
  std::printf("first loud sample stamped %lld ms after the tone started; %lld ms read, %lld ms of frames (%lld lost), "
              "%lld loud, peak %d\n",
              static_cast<long long>(late), static_cast<long long>(read_ms), static_cast<long long>(total * 1000 / 48000),
              lost, static_cast<long long>(loud), peak);
  EXPECT_GE(late, -60);
  EXPECT_LE(late - lost, 200);
  EXPECT_NEAR(peak, 16384, 1000);
  // A 1 kHz sine is above 8000 of 16384 for two thirds of its samples.
  const double heard_s = std::max(0.0, 1.5 - static_cast<double>(lost) / 1000.0);
  EXPECT_GE(static_cast<double>(loud) / 48000.0, heard_s * 2.0 / 3.0 - 0.1);
  EXPECT_LE(static_cast<double>(loud) / 48000.0, 1.5 * 2.0 / 3.0 + 0.1);
  EXPECT_LE(lost, 1500) << "the monitor sent less than 3.5 s of 5 s";
}

TEST(WasapiCaptureTest, WakeupEndsABlockedRead) {
  NEED_SINK();
  auto cap = open_monitor();
  ASSERT_TRUE(cap);
  // Drain, so that the read below waits.
  for (auto until = Clock::now() + 200ms; Clock::now() < until;) ASSERT_TRUE(cap->read(1000ms).has_value());
  std::thread waker([&] {
    std::this_thread::sleep_for(100ms);
    cap->wakeup();
  });
  bool woken = false;
  const auto t0 = Clock::now();
  while (!woken && Clock::now() - t0 < 2s) {
    auto r = cap->read(5000ms);
    ASSERT_TRUE(r.has_value());
    woken = r->status == ReadStatus::woken;
  }
  waker.join();
  EXPECT_TRUE(woken);
}

// The default: the loopback of the default playback device. Wine 8 opens a
// loopback stream but has no capture service for it; real Windows records it,
// and with nothing playing read() hands out silence for the time that passed.
TEST(WasapiCaptureTest, TheDefaultIsTheLoopbackOfTheDefaultPlaybackDevice) {
  if (agent::windows::running_under_wine()) NEED_SINK();
  auto cap = SoundCapture::open(session_sound_options("anyone", ""));
  if (agent::windows::running_under_wine()) {
    ASSERT_FALSE(cap.has_value());
    EXPECT_EQ(cap.error().message, "sound: the loopback's capture service failed: AUDCLNT_E_WRONG_ENDPOINT_TYPE (0x88890003)");
    return;
  }
  ASSERT_TRUE(cap.has_value()) << cap.error().message;
  EXPECT_EQ(cap->get()->description().rfind("loopback of the default playback device '", 0), 0u);
  std::int64_t frames = 0;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < 1s) {
    auto r = cap->get()->read(1000ms);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    if (r->status == ReadStatus::chunk) frames += static_cast<std::int64_t>(r->chunk.pcm.size() / 2);
  }
  EXPECT_NEAR(static_cast<double>(frames) / 48000.0, 1.0, 0.2);
}

}  // namespace
}  // namespace deskaudit::capture
