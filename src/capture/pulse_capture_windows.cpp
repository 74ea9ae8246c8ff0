// Windows has no PulseAudio: sound recording there is not implemented yet
// (WASAPI loopback would be its source; docs/windows.md). open() refuses, so
// a recording asked for sound reports why in its AudioState, as on a Linux
// computer without a sound server.
#include "capture/pulse_capture.hpp"

namespace deskaudit::capture {

namespace {
constexpr const char* kNoSound = "sound recording is not available in the Windows agent yet";
}

struct PulseCapture::State {};

PulseOptions session_pulse_options(const std::string& /*username*/, const std::string& /*environment_server*/) {
  PulseOptions o;
  o.no_server_reason = kNoSound;
  return o;
}

Result<std::unique_ptr<PulseCapture>> PulseCapture::open(const PulseOptions& /*options*/) {
  return fail(Errc::unavailable, kNoSound);
}

PulseCapture::PulseCapture(std::unique_ptr<State> state) : s_(std::move(state)) {}
PulseCapture::~PulseCapture() = default;
Result<ReadResult> PulseCapture::read(std::chrono::milliseconds /*idle_limit*/) {
  return fail(Errc::unavailable, kNoSound);
}
void PulseCapture::wakeup() {}
Status PulseCapture::flush() { return {}; }

}  // namespace deskaudit::capture
