#include "record/audio_track.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace deskaudit::record {

namespace {
constexpr std::int64_t kRate = encode::kAudioSampleRate;
constexpr std::int64_t kFrame = encode::kAudioFrameSamples;
constexpr std::int64_t kChannels = encode::kAudioChannels;
// While the server is absent, silence is laid down this far behind real time,
// so a server that comes back finds its first chunk after the silence.
constexpr std::int64_t kSilenceLagSamples = kRate / 5;
// Chunks (20 ms each) whose capture estimates decide a move of the timeline.
constexpr std::size_t kResyncWindow = 50;
}  // namespace

Result<std::unique_ptr<AudioTrack>> AudioTrack::open(AudioTrackOptions options) {
  auto enc = encode::OpusEncoder::open(options.opus);
  if (!enc) return std::unexpected(enc.error());
  options.sound.sample_rate = static_cast<int>(kRate);
  return std::unique_ptr<AudioTrack>(new AudioTrack(std::move(options), std::move(*enc)));
}

AudioTrack::~AudioTrack() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (live_ != nullptr) live_->wakeup();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AudioTrack::begin(std::chrono::steady_clock::time_point t0, std::int64_t start_ms) {
  t0_ = t0;
  start_ms_ = start_ms;
  thread_ = std::thread([this] { run(); });
}

std::int64_t AudioTrack::samples_at(std::chrono::steady_clock::time_point t) const {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0_).count();
  return static_cast<std::int64_t>(static_cast<__int128>(ns) * kRate / 1'000'000'000);
}

void AudioTrack::set_state(AudioState s) {
  std::lock_guard lock(mu_);
  if (s.error != state_.error && !s.error.empty()) spdlog::warn("no audio: {}", s.error);
  if (s.recording && !state_.recording) spdlog::info("recording audio from {}", s.source);
  state_ = std::move(s);
}

AudioState AudioTrack::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Status AudioTrack::append(const std::int16_t* pcm, std::size_t frames) {
  if (pcm == nullptr) {
    pcm_.insert(pcm_.end(), frames * kChannels, 0);
  } else {
    pcm_.insert(pcm_.end(), pcm, pcm + frames * kChannels);
  }
  position_ += static_cast<std::int64_t>(frames);
  std::size_t used = 0;
  std::vector<encode::AvPacketPtr> out;
  while (pcm_.size() - used >= static_cast<std::size_t>(kFrame * kChannels)) {
    auto pkt = encoder_.encode(std::span<const std::int16_t>(pcm_.data() + used, kFrame * kChannels),
                               start_ms_ * (kRate / 1000) + encoded_);
    if (!pkt) return std::unexpected(pkt.error());
    encoded_ += kFrame;
    used += kFrame * kChannels;
    out.push_back(std::move(*pkt));
  }
  pcm_.erase(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(used));
  if (!out.empty()) {
    std::lock_guard lock(mu_);
    for (auto& p : out) ready_.push_back(std::move(p));
  }
  return {};
}

Status AudioTrack::pad_silence_to(std::int64_t position) {
  if (position <= position_) return {};
  return append(nullptr, static_cast<std::size_t>(position - position_));
}

void AudioTrack::run() {
  pthread_setname_np(pthread_self(), "da-audio");
  std::unique_ptr<capture::SoundCapture> cap;
  capture_loop(cap);
  std::lock_guard lock(mu_);
  live_ = nullptr;  // before `cap` goes
}

void AudioTrack::capture_loop(std::unique_ptr<capture::SoundCapture>& cap) {
  const auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stop_;
  };
  const auto record_failure = [this](const Error& e) {
    spdlog::error("audio track stopped: {}", e.message);
    std::lock_guard lock(mu_);
    failure_ = e;
    state_ = AudioState{false, {}, "audio encoder failed: " + e.message};
  };
  bool resync = true;
  std::deque<std::int64_t> offsets;  // capture estimate minus track position, per chunk
  std::int64_t drop = 0;             // samples still to drop from the coming chunks (track ahead)
  while (!stopping()) {
    if (!cap) {
      auto c = capture::SoundCapture::open(options_.sound);
      if (!c) {
        set_state(AudioState{false, {}, c.error().message});
        if (auto st = pad_silence_to(samples_at(std::chrono::steady_clock::now()) - kSilenceLagSamples); !st)
          return record_failure(st.error());
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, options_.retry_interval, [this] { return stop_; });
        continue;
      }
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
        cap = std::move(*c);
        live_ = cap.get();
      }
      // "recording" once sound flows: an idle sink may send its first data
      // only after the block it rendered before we came has played out.
      set_state(AudioState{false, cap->description(), {}});
      resync = true;
    }
    auto chunk = cap->read(options_.idle_limit);
    if (!chunk) {
      {
        std::lock_guard lock(mu_);
        live_ = nullptr;
      }
      cap.reset();
      set_state(AudioState{false, {}, chunk.error().message});
      continue;
    }
    if (chunk->status == capture::ReadStatus::woken) continue;  // stop_ is checked above
    if (chunk->status == capture::ReadStatus::silent) {
      // Frozen or hung with its socket open: the track goes on as silence,
      // as when the server is absent, and what it sends when it runs again
      // is placed by its capture time (overlap with that silence dropped).
      set_state(AudioState{false, cap->description(),
                           fmt::format("the audio server sent nothing for over {} ms: it is stopped or not answering ({})",
                                       options_.idle_limit.count(), cap->description())});
      if (auto st = pad_silence_to(samples_at(std::chrono::steady_clock::now()) - kSilenceLagSamples); !st)
        return record_failure(st.error());
      resync = true;
      continue;
    }
    const auto& c = chunk->chunk;
    std::size_t frames = c.pcm.size() / kChannels;
    const std::int16_t* data = c.pcm.data();
    const std::int64_t at = samples_at(c.captured_at);
    // A chunk's capture time is known only as "now minus the latency", late
    // by however long we were not scheduled: the earliest estimate of a
    // window is the truest. Only when every estimate of the window is away
    // from the track by more than kResyncMs does the track move to them.
    const std::int64_t threshold = kResyncMs * kRate / 1000;
    std::int64_t shift = 0;
    if (resync) {
      shift = at - position_;
      offsets.clear();
    } else if (drop == 0) {
      offsets.push_back(at - position_);
      if (offsets.size() > kResyncWindow) offsets.pop_front();
      const auto [lo, hi] = std::minmax_element(offsets.begin(), offsets.end());
      if (offsets.size() == kResyncWindow && *lo > threshold) shift = *lo;
      if (offsets.size() == kResyncWindow && *hi < -threshold) shift = *hi;
    }
    if (shift != 0) {
      spdlog::debug("audio timeline moves by {} samples{}", shift, resync ? " (connected)" : "");
      offsets.clear();
      drop = 0;
      if (shift > 0) {
        if (auto st = pad_silence_to(position_ + shift); !st) return record_failure(st.error());
      } else {
        // Captured before where the track already is (silence laid while
        // connecting or while the server was frozen, or a clock running
        // fast): drop the overlap, over as many chunks as it spans.
        drop = -shift;
      }
    }
    if (drop > 0) {
      const auto skip = static_cast<std::size_t>(std::min<std::int64_t>(drop, static_cast<std::int64_t>(frames)));
      frames -= skip;
      data += skip * kChannels;
      drop -= static_cast<std::int64_t>(skip);
    }
    if (resync) set_state(AudioState{true, cap->description(), {}});
    resync = false;
    if (frames > 0)
      if (auto st = append(data, frames); !st) return record_failure(st.error());
  }
}

std::vector<encode::AvPacketPtr> AudioTrack::take_until(std::int64_t until_ms) {
  const std::int64_t limit = until_ms * (kRate / 1000);
  std::vector<encode::AvPacketPtr> out;
  std::lock_guard lock(mu_);
  while (!ready_.empty() && ready_.front()->pts + ready_.front()->duration <= limit) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  return out;
}

Result<std::vector<encode::AvPacketPtr>> AudioTrack::finish(std::int64_t end_ms) {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (live_ != nullptr) live_->wakeup();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    if (failure_) return std::unexpected(*failure_);
  }
  const std::int64_t end = (end_ms - start_ms_) * (kRate / 1000);
  // Whole frames covering end_ms: pad to the frame boundary past it.
  if (auto st = pad_silence_to(std::max<std::int64_t>(position_, (end + kFrame - 1) / kFrame * kFrame)); !st)
    return std::unexpected(st.error());
  std::vector<encode::AvPacketPtr> out;
  std::lock_guard lock(mu_);
  while (!ready_.empty() && ready_.front()->pts < end_ms * (kRate / 1000)) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  return out;
}

}  // namespace deskaudit::record
