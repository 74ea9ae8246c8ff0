#pragma once
// What the session's user hears, as 48 kHz s16 stereo chunks.
//
// Linux (pulse_capture.cpp): the monitor of the default sink of the session's
// PulseAudio server (or pipewire-pulse, or xrdp's sink), through libpulse's
// asynchronous API on the caller's thread (its own pa_mainloop). The server
// is found the way the desktop's programs find it: PULSE_SERVER when given,
// else the session user's runtime directory (/run/user/<uid>/pulse/native).
// Run as root for another user's session, the agent authenticates with that
// user's cookie (~/.config/pulse/cookie) when the file is there. Never
// autospawns a server.
//
// Windows (wasapi_capture.cpp): WASAPI in shared mode. By default the
// loopback of the default playback device (what the speakers play, followed
// when the default changes); `device` names another endpoint by its friendly
// name or id: a playback device is recorded through its loopback, a recording
// device (a "Stereo Mix", a virtual cable) directly. The device's mix format
// is converted by capture::PcmConverter (pcm_convert.hpp).
//
// Thread safety: one thread calls open() and read() (on Windows COM is
// initialised on it); wakeup() may be called from any thread to make a
// blocked read() return.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::capture {

struct SoundOptions {
  // Linux: the libpulse server string ("unix:/run/user/1000/pulse/native").
  // Windows: the endpoint (friendly name or id; empty: the default playback
  // device's loopback).
  std::string server;
  std::string cookie_file;       // Linux, optional; read if present
  std::string no_server_reason;  // Linux, with an empty server: why there is none (open() says it)
  int sample_rate = 48000;       // the stream is s16le stereo at this rate
  std::chrono::milliseconds connect_timeout{2000};
};

// Linux: where the session of `username` keeps its audio server (PULSE_SERVER
// or --pulse-server as `configured` if not empty, else
// /run/user/<uid>/pulse/native) and its cookie. A user unknown here with no
// server given: no server, and the reason (the recording goes on without
// sound and says why).
// Windows: the endpoint `configured` (--sound-device; empty: the default
// playback device's loopback), whoever the user is.
SoundOptions session_sound_options(const std::string& username, const std::string& configured);

struct AudioChunk {
  std::vector<std::int16_t> pcm;  // interleaved stereo
  // When its first sample was captured, as far as its arrival tells: its
  // arrival time minus the duration of the data queued with it.
  std::chrono::steady_clock::time_point captured_at;
};

// What read() returns: a chunk, or why there is none.
enum class ReadStatus {
  chunk,   // `chunk` holds sound
  woken,   // wakeup() was called
  silent,  // nothing came for the idle limit: the server is stopped or not answering
};
struct ReadResult {
  ReadStatus status = ReadStatus::woken;
  AudioChunk chunk;
};

class SoundCapture {
 public:
  // Connects and starts recording the default sink's monitor (Windows: the
  // endpoint of the options). Errc::unavailable when the server (device) is
  // not there or refuses us; on Windows also when no endpoint has the name
  // asked for (the message lists those there are).
  static Result<std::unique_ptr<SoundCapture>> open(const SoundOptions& options);
  ~SoundCapture();
  SoundCapture(const SoundCapture&) = delete;
  SoundCapture& operator=(const SoundCapture&) = delete;

  // Waits for the next chunk of audio, at most idle_limit: a server that
  // renders sends the monitor's data in real time (silence included: the
  // recording keeps the sink from suspending), so nothing for that long means
  // the server is frozen or hung; the connection stays and a later read()
  // gets what it sends once it runs again, without the backlog of the time
  // it was stopped (flushed: see read()). Errc::unavailable when the server
  // went away (then this object is done).
  // Windows: a loopback sends nothing while nothing plays, so then read()
  // returns zeros for the time that passed (stamped by the performance
  // counter, as the device's own packets are); a recording endpoint that
  // sends nothing for idle_limit is `silent` as above. Errc::unavailable when
  // the endpoint was removed or disabled, and, recording the default
  // playback device, when another became the default (checked every 2 s):
  // the caller opens again and records the new one.
  Result<ReadResult> read(std::chrono::milliseconds idle_limit);
  void wakeup();
  // "default sink monitor 'null.monitor' on unix:/run/user/1000/pulse/native",
  // "loopback of the default playback device 'Speakers (Realtek(R) Audio)' (48000 Hz, 2 ch, float32)"
  const std::string& description() const { return description_; }

 private:
  struct State;
  explicit SoundCapture(std::unique_ptr<State> state);
  // Linux: drops the recorded data queued in the server and here (read()
  // after a freeze). Not defined on Windows, which has no use for it.
  Status flush();
  std::unique_ptr<State> s_;
  std::string description_;
};

}  // namespace deskaudit::capture
