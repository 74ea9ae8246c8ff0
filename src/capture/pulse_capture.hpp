#pragma once
// What the session's user hears: the monitor of the default sink of the
// session's PulseAudio server (or pipewire-pulse, or xrdp's sink), through
// libpulse's asynchronous API on the caller's thread (its own pa_mainloop).
//
// The server is found the way the desktop's programs find it: PULSE_SERVER
// when given, else the session user's runtime directory
// (/run/user/<uid>/pulse/native). Run as root for another user's session,
// the agent authenticates with that user's cookie (~/.config/pulse/cookie)
// when the file is there. Never autospawns a server.
//
// Thread safety: one thread calls read(); wakeup() may be called from any
// thread to make a blocked read() return.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::capture {

struct PulseOptions {
  std::string server;       // libpulse server string: "unix:/run/user/1000/pulse/native"
  std::string cookie_file;  // optional; read if present
  std::string no_server_reason;  // with an empty server: why there is none (open() says it)
  int sample_rate = 48000;  // the stream is s16le stereo at this rate
  std::chrono::milliseconds connect_timeout{2000};
};

// Where the session of `username` keeps its audio server (PULSE_SERVER of
// `environment_server` if not empty, else /run/user/<uid>/pulse/native) and
// its cookie. A user unknown here with no server given: no server, and the
// reason (the recording goes on without sound and says why).
PulseOptions session_pulse_options(const std::string& username, const std::string& environment_server);

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

class PulseCapture {
 public:
  // Connects and starts recording the default sink's monitor.
  // Errc::unavailable when the server is not there or refuses us.
  static Result<std::unique_ptr<PulseCapture>> open(const PulseOptions& options);
  ~PulseCapture();
  PulseCapture(const PulseCapture&) = delete;
  PulseCapture& operator=(const PulseCapture&) = delete;

  // Waits for the next chunk of audio, at most idle_limit: a server that
  // renders sends the monitor's data in real time (silence included: the
  // recording keeps the sink from suspending), so nothing for that long means
  // the server is frozen or hung; the connection stays and a later read()
  // gets what it sends once it runs again, without the backlog of the time
  // it was stopped (flushed: see read()). Errc::unavailable when the server
  // went away (then this object is done).
  Result<ReadResult> read(std::chrono::milliseconds idle_limit);
  void wakeup();
  // "default sink monitor 'null.monitor' on unix:/run/user/1000/pulse/native"
  const std::string& description() const { return description_; }

 private:
  struct State;
  explicit PulseCapture(std::unique_ptr<State> state);
  // Drops the recorded data queued in the server and here.
  Status flush();
  std::unique_ptr<State> s_;
  std::string description_;
};

}  // namespace deskaudit::capture
