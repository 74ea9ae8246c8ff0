#include "capture/sound_capture.hpp"

#include <pulse/pulseaudio.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>

namespace deskaudit::capture {

namespace {
struct MainloopDeleter {
  void operator()(pa_mainloop* m) const noexcept { pa_mainloop_free(m); }
};
struct ContextDeleter {
  void operator()(pa_context* c) const noexcept {
    pa_context_disconnect(c);
    pa_context_unref(c);
  }
};
struct StreamDeleter {
  void operator()(pa_stream* s) const noexcept {
    pa_stream_disconnect(s);
    pa_stream_unref(s);
  }
};
using MainloopPtr = std::unique_ptr<pa_mainloop, MainloopDeleter>;
using ContextPtr = std::unique_ptr<pa_context, ContextDeleter>;
using StreamPtr = std::unique_ptr<pa_stream, StreamDeleter>;
}  // namespace

// Member order matters: the stream and the context go before their mainloop.
struct SoundCapture::State {
  MainloopPtr loop;
  ContextPtr ctx;
  StreamPtr stream;
  std::atomic<bool> woken{false};
  int sample_rate = 48000;
  bool stalled = false;  // the last read() found nothing for its idle limit
};

SoundOptions session_sound_options(const std::string& username, const std::string& environment_server) {
  SoundOptions o;
  o.server = environment_server;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(username.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    if (o.server.empty())
      o.no_server_reason = "no local user '" + username + "' whose runtime directory would hold the audio server "
                           "(give --pulse-server or PULSE_SERVER)";
    return o;
  }
  if (o.server.empty()) o.server = "unix:/run/user/" + std::to_string(pw.pw_uid) + "/pulse/native";
  if (pw.pw_dir != nullptr && *pw.pw_dir != '\0') o.cookie_file = std::string(pw.pw_dir) + "/.config/pulse/cookie";
  return o;
}

SoundCapture::SoundCapture(std::unique_ptr<State> state) : s_(std::move(state)) {}
SoundCapture::~SoundCapture() = default;

Result<std::unique_ptr<SoundCapture>> SoundCapture::open(const SoundOptions& o) {
  if (o.server.empty())
    return fail(Errc::unavailable, o.no_server_reason.empty() ? "no audio server given" : o.no_server_reason);
  auto s = std::make_unique<State>();
  s->sample_rate = o.sample_rate;
  s->loop.reset(pa_mainloop_new());
  if (!s->loop) return fail(Errc::internal, "pa_mainloop_new failed");
  s->ctx.reset(pa_context_new(pa_mainloop_get_api(s->loop.get()), "deskaudit-agent"));
  if (!s->ctx) return fail(Errc::internal, "pa_context_new failed");
  std::error_code ec;
  if (!o.cookie_file.empty() && std::filesystem::exists(o.cookie_file, ec))
    pa_context_load_cookie_from_file(s->ctx.get(), o.cookie_file.c_str());
  if (pa_context_connect(s->ctx.get(), o.server.c_str(), PA_CONTEXT_NOAUTOSPAWN, nullptr) < 0)
    return fail(Errc::unavailable,
                "audio server " + o.server + ": " + pa_strerror(pa_context_errno(s->ctx.get())));
  const auto deadline = std::chrono::steady_clock::now() + o.connect_timeout;
  const auto iterate_until = [&](auto&& done, const std::string& what) -> Status {
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return fail(Errc::unavailable, what + ": timed out");
      // At most 50 ms per wait: a server that accepts the socket but never
      // answers must not hang us past the deadline.
      if (pa_mainloop_prepare(s->loop.get(), 50'000) < 0 || pa_mainloop_poll(s->loop.get()) < 0 ||
          pa_mainloop_dispatch(s->loop.get()) < 0)
        return fail(Errc::unavailable, what + ": main loop quit");
    }
    return {};
  };
  bool ctx_failed = false;
  auto st = iterate_until(
      [&] {
        const auto state = pa_context_get_state(s->ctx.get());
        ctx_failed = state == PA_CONTEXT_FAILED || state == PA_CONTEXT_TERMINATED;
        return state == PA_CONTEXT_READY || ctx_failed;
      },
      "audio server " + o.server);
  if (!st) return std::unexpected(st.error());
  if (ctx_failed)
    return fail(Errc::unavailable, "audio server " + o.server + ": " + pa_strerror(pa_context_errno(s->ctx.get())));

  pa_sample_spec spec{PA_SAMPLE_S16LE, static_cast<std::uint32_t>(o.sample_rate), 2};
  s->stream.reset(pa_stream_new(s->ctx.get(), "deskaudit recording", &spec, nullptr));
  if (!s->stream) return fail(Errc::unavailable, std::string("audio stream: ") + pa_strerror(pa_context_errno(s->ctx.get())));
  // 20 ms fragments: the recorder's timestamps follow the capture closely.
  pa_buffer_attr attr{};
  attr.maxlength = static_cast<std::uint32_t>(-1);
  attr.fragsize = static_cast<std::uint32_t>(pa_usec_to_bytes(20'000, &spec));
  attr.tlength = attr.prebuf = attr.minreq = static_cast<std::uint32_t>(-1);
  const auto flags = static_cast<pa_stream_flags_t>(PA_STREAM_ADJUST_LATENCY);
  if (pa_stream_connect_record(s->stream.get(), "@DEFAULT_MONITOR@", &attr, flags) < 0)
    return fail(Errc::unavailable, std::string("audio stream: ") + pa_strerror(pa_context_errno(s->ctx.get())));
  bool stream_failed = false;
  st = iterate_until(
      [&] {
        const auto state = pa_stream_get_state(s->stream.get());
        stream_failed = state == PA_STREAM_FAILED || state == PA_STREAM_TERMINATED;
        return state == PA_STREAM_READY || stream_failed;
      },
      "recording the default sink's monitor on " + o.server);
  if (!st) return std::unexpected(st.error());
  if (stream_failed)
    return fail(Errc::unavailable, "recording the default sink's monitor on " + o.server + ": " +
                                       pa_strerror(pa_context_errno(s->ctx.get())));
  std::unique_ptr<SoundCapture> cap(new SoundCapture(std::move(s)));
  const char* dev = pa_stream_get_device_name(cap->s_->stream.get());
  cap->description_ = std::string("monitor '") + (dev != nullptr ? dev : "?") + "' on " + o.server;
  return cap;
}

void SoundCapture::wakeup() {
  s_->woken = true;
  pa_mainloop_wakeup(s_->loop.get());
}

Status SoundCapture::flush() {
  pa_stream* st = s_->stream.get();
  pa_operation* op = pa_stream_flush(st, nullptr, nullptr);
  if (op == nullptr)
    return fail(Errc::unavailable, std::string("audio flush: ") + pa_strerror(pa_context_errno(s_->ctx.get())));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (pa_operation_get_state(op) == PA_OPERATION_RUNNING && std::chrono::steady_clock::now() < deadline) {
    if (pa_mainloop_prepare(s_->loop.get(), 50'000) < 0 || pa_mainloop_poll(s_->loop.get()) < 0 ||
        pa_mainloop_dispatch(s_->loop.get()) < 0) {
      pa_operation_unref(op);
      return fail(Errc::unavailable, "audio main loop quit");
    }
  }
  pa_operation_unref(op);
  // What the server sent before it flushed is here or still in the socket
  // (up to a second of sound): read and drop until nothing is waiting.
  for (int idle_rounds = 0; idle_rounds < 3 && std::chrono::steady_clock::now() < deadline;) {
    bool had = false;
    while (pa_stream_readable_size(st) > 0) {
      const void* data = nullptr;
      std::size_t bytes = 0;
      if (pa_stream_peek(st, &data, &bytes) < 0 || bytes == 0) break;
      pa_stream_drop(st);
      had = true;
    }
    if (pa_mainloop_iterate(s_->loop.get(), 0, nullptr) < 0) return fail(Errc::unavailable, "audio main loop quit");
    idle_rounds = had || pa_stream_readable_size(st) > 0 ? 0 : idle_rounds + 1;
  }
  return {};
}

Result<ReadResult> SoundCapture::read(std::chrono::milliseconds idle_limit) {
  pa_stream* st = s_->stream.get();
  const auto deadline = std::chrono::steady_clock::now() + idle_limit;
  for (;;) {
    if (s_->woken.exchange(false)) return ReadResult{ReadStatus::woken, {}};
    const auto cs = pa_context_get_state(s_->ctx.get());
    const auto ss = pa_stream_get_state(st);
    if (cs != PA_CONTEXT_READY || ss != PA_STREAM_READY)
      return fail(Errc::unavailable, std::string("audio server went away: ") + pa_strerror(pa_context_errno(s_->ctx.get())));
    if (pa_stream_readable_size(st) > 0 && s_->stalled) {
      // The first sound after a freeze: the server renders the time it was
      // stopped at once and queues it ahead of the present, which would
      // place everything after it late by as much. Nobody heard that time
      // (the server was not playing either): drop it, here and in the
      // server's queue, and go on with what comes next.
      s_->stalled = false;
      if (auto st_flush = flush(); !st_flush) return std::unexpected(st_flush.error());
      continue;
    }
    if (pa_stream_readable_size(st) > 0) {
      const void* data = nullptr;
      std::size_t bytes = 0;
      if (pa_stream_peek(st, &data, &bytes) < 0)
        return fail(Errc::unavailable, std::string("audio read: ") + pa_strerror(pa_context_errno(s_->ctx.get())));
      // The server sends what the sink renders as it renders it, in real
      // time: the first sample of the queued data came in as long ago as the
      // queue lasts. (pa_stream_get_latency's interpolated figure was seen
      // to run off by over half a second when the sink's latency changed.)
      const std::size_t queued = std::max(pa_stream_readable_size(st), bytes);
      ReadResult r{ReadStatus::chunk, {}};
      r.chunk.captured_at = std::chrono::steady_clock::now() -
                            std::chrono::microseconds(pa_bytes_to_usec(queued, pa_stream_get_sample_spec(st)));
      const std::size_t samples = bytes / sizeof(std::int16_t) / 2 * 2;
      if (data == nullptr) {
        r.chunk.pcm.assign(samples, 0);  // a hole in the stream: silence
      } else {
        r.chunk.pcm.resize(samples);
        std::memcpy(r.chunk.pcm.data(), data, samples * sizeof(std::int16_t));
      }
      if (bytes > 0) pa_stream_drop(st);
      if (!r.chunk.pcm.empty()) return r;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      s_->stalled = true;
      return ReadResult{ReadStatus::silent, {}};
    }
    const auto wait_us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
    if (pa_mainloop_prepare(s_->loop.get(), static_cast<int>(std::min<std::int64_t>(wait_us, 1'000'000))) < 0 ||
        pa_mainloop_poll(s_->loop.get()) < 0 || pa_mainloop_dispatch(s_->loop.get()) < 0)
      return fail(Errc::unavailable, "audio main loop quit");
  }
}

}  // namespace deskaudit::capture
