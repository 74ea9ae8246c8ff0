// What the session's user hears on Windows: WASAPI in shared mode, by default
// the loopback of the default playback device (sound_capture.hpp).
//
// Under Wine 8 a loopback stream opens but has no capture service
// (AUDCLNT_E_WRONG_ENDPOINT_TYPE), so the tests here record a recording
// endpoint named with `server` (a PulseAudio sink's monitor, "Monitor of ..."):
// everything but the loopback flag runs (docs/windows.md, the real-Windows
// checklist for the rest).
#include <windows.h>
//
#include <initguid.h>
//
#include <audioclient.h>
#include <functiondiscoverykeys_devpkey.h>
#include <mmdeviceapi.h>

#include <algorithm>
#include <optional>
#include <string>

#include "capture/dxgi_frame.hpp"  // hresult_text
#include "capture/pcm_convert.hpp"
#include "capture/silence_filler.hpp"
#include "capture/sound_capture.hpp"
#include "common/com_ptr.hpp"
#include "common/text.hpp"
#include "common/utf16.hpp"
#include "common/win_handle.hpp"

namespace deskaudit::capture {
namespace {

// How often read() looks for packets (WASAPI's period is 10 ms).
constexpr DWORD kPollMs = 10;
// A loopback that sent nothing for this long is silence, laid down up to
// kSilenceMargin before now (a late packet still fits after it): SilenceFiller.
constexpr auto kLoopbackQuiet = std::chrono::milliseconds(100);
constexpr auto kSilenceMargin = std::chrono::milliseconds(20);
// Recording the default playback device: how often to ask whether it is still the default.
constexpr auto kDefaultCheck = std::chrono::seconds(2);
constexpr REFERENCE_TIME kBufferHns = 10'000'000;  // 1 s: room for a reader descheduled under load

std::string hr_text(HRESULT hr) { return hresult_text(static_cast<std::uint32_t>(hr)); }

Error step_failed(std::string_view step, HRESULT hr) {
  return Error(Errc::unavailable, "sound: " + std::string(step) + " failed: " + hr_text(hr));
}

// COM on the calling thread for the capture's life (the multithreaded
// apartment; a thread already in a single-threaded one is used as it is).
class ComApartment {
 public:
  ComApartment() {
    const HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
    owned_ = SUCCEEDED(hr);  // S_OK or S_FALSE: ours to balance; RPC_E_CHANGED_MODE: not
  }
  ~ComApartment() {
    if (owned_) CoUninitialize();
  }
  ComApartment(const ComApartment&) = delete;
  ComApartment& operator=(const ComApartment&) = delete;

 private:
  bool owned_ = false;
};

std::string endpoint_id(IMMDevice* device) {
  LPWSTR id = nullptr;
  if (FAILED(device->GetId(&id))) return {};
  CoTaskPtr<wchar_t> owned(id);
  return narrow(id);
}

std::string friendly_name(IMMDevice* device) {
  IPropertyStore* raw = nullptr;
  if (FAILED(device->OpenPropertyStore(STGM_READ, &raw))) return {};
  ComPtr<IPropertyStore> store(raw);
  PROPVARIANT v;
  PropVariantInit(&v);
  std::string name;
  if (SUCCEEDED(store->GetValue(PKEY_Device_FriendlyName, &v)) && v.vt == VT_LPWSTR && v.pwszVal != nullptr)
    name = narrow(v.pwszVal);
  PropVariantClear(&v);
  return name;
}

bool is_playback(IMMDevice* device) {
  auto endpoint = com_query<IMMEndpoint>(device);
  EDataFlow flow = eCapture;
  return endpoint && SUCCEEDED(endpoint->GetDataFlow(&flow)) && flow == eRender;
}

// The active endpoint whose friendly name or id is `wanted` (either case).
Result<ComPtr<IMMDevice>> find_endpoint(IMMDeviceEnumerator* enumerator, const std::string& wanted) {
  IMMDeviceCollection* raw = nullptr;
  if (HRESULT hr = enumerator->EnumAudioEndpoints(eAll, DEVICE_STATE_ACTIVE, &raw); FAILED(hr))
    return std::unexpected(step_failed("EnumAudioEndpoints", hr));
  ComPtr<IMMDeviceCollection> all(raw);
  UINT count = 0;
  all->GetCount(&count);
  std::string names;
  for (UINT i = 0; i < count; ++i) {
    IMMDevice* d = nullptr;
    if (FAILED(all->Item(i, &d))) continue;
    ComPtr<IMMDevice> device(d);
    const std::string name = friendly_name(d);
    if (ascii_iequals(name, wanted) || ascii_iequals(endpoint_id(d), wanted)) return device;
    names += (names.empty() ? "'" : ", '") + name + (is_playback(d) ? "' (playback)" : "' (recording)");
  }
  return fail(Errc::unavailable, "sound: no active sound device is named '" + wanted +
                                     "' (there are: " + (names.empty() ? std::string("none") : names) + ")");
}

// The device's shared-mode mix format as a PcmFormat.
Result<PcmFormat> pcm_format(const WAVEFORMATEX& wf) {
  PcmFormat f;
  f.channels = wf.nChannels;
  f.rate = static_cast<int>(wf.nSamplesPerSec);
  f.bytes_per_sample = wf.nChannels == 0 ? 0 : wf.nBlockAlign / wf.nChannels;
  WORD tag = wf.wFormatTag;
  int valid_bits = wf.wBitsPerSample;
  if (tag == WAVE_FORMAT_EXTENSIBLE && wf.cbSize >= sizeof(WAVEFORMATEXTENSIBLE) - sizeof(WAVEFORMATEX)) {
    const auto& ext = reinterpret_cast<const WAVEFORMATEXTENSIBLE&>(wf);
    f.channel_mask = ext.dwChannelMask;
    if (ext.Samples.wValidBitsPerSample != 0) valid_bits = ext.Samples.wValidBitsPerSample;
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: {0000000X-0000-0010-8000-00AA00389B71}.
    const GUID& sub = ext.SubFormat;
    static constexpr unsigned char kTail[8] = {0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    if (sub.Data2 == 0 && sub.Data3 == 0x10 && std::equal(std::begin(kTail), std::end(kTail), sub.Data4) &&
        (sub.Data1 == WAVE_FORMAT_PCM || sub.Data1 == WAVE_FORMAT_IEEE_FLOAT))
      tag = static_cast<WORD>(sub.Data1);
  }
  if (tag == WAVE_FORMAT_IEEE_FLOAT && wf.wBitsPerSample == 32) {
    f.sample = PcmFormat::Sample::f32;
  } else if (tag == WAVE_FORMAT_PCM && wf.wBitsPerSample == 16) {
    f.sample = PcmFormat::Sample::s16;
  } else if (tag == WAVE_FORMAT_PCM && (wf.wBitsPerSample == 24 || (wf.wBitsPerSample == 32 && valid_bits == 24))) {
    f.sample = PcmFormat::Sample::s24;
  } else if (tag == WAVE_FORMAT_PCM && wf.wBitsPerSample == 32) {
    f.sample = PcmFormat::Sample::s32;
  } else {
    return fail(Errc::unprocessable, "sound: the device's mix format (tag 0x" + std::to_string(tag) + ", " +
                                         std::to_string(wf.wBitsPerSample) + " bits) is not supported");
  }
  return f;
}

std::int64_t qpc_hns() {
  static const std::int64_t freq = [] {
    LARGE_INTEGER f;
    QueryPerformanceFrequency(&f);
    return static_cast<std::int64_t>(f.QuadPart);
  }();
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  return static_cast<std::int64_t>(now.QuadPart / freq * 10'000'000 + now.QuadPart % freq * 10'000'000 / freq);
}

}  // namespace

struct SoundCapture::State {
  ComApartment apartment;  // first in, last out: every pointer below is released before it
  ComPtr<IMMDeviceEnumerator> enumerator;
  ComPtr<IMMDevice> device;
  ComPtr<IAudioClient> client;
  ComPtr<IAudioCaptureClient> capture;
  HandlePtr wake;
  std::string id;
  bool loopback = false;
  bool follow_default = false;
  std::optional<PcmConverter> converter;
  SilenceFiller silence{std::chrono::steady_clock::now(), kLoopbackQuiet, kSilenceMargin};  // loopback's
  std::chrono::steady_clock::time_point last_packet;
  std::chrono::steady_clock::time_point next_default_check;
};

SoundOptions session_sound_options(const std::string& /*username*/, const std::string& configured) {
  SoundOptions o;
  o.server = configured;
  return o;
}

Result<std::unique_ptr<SoundCapture>> SoundCapture::open(const SoundOptions& options) {
  auto s = std::make_unique<State>();
  IMMDeviceEnumerator* en = nullptr;
  if (HRESULT hr = CoCreateInstance(__uuidof(MMDeviceEnumerator), nullptr, CLSCTX_ALL, __uuidof(IMMDeviceEnumerator),
                                    reinterpret_cast<void**>(&en));
      FAILED(hr))
    return std::unexpected(step_failed("creating the MMDevice enumerator", hr));
  s->enumerator.reset(en);
  if (options.server.empty()) {
    IMMDevice* d = nullptr;
    if (HRESULT hr = en->GetDefaultAudioEndpoint(eRender, eConsole, &d); FAILED(hr))
      return std::unexpected(hr == HRESULT_FROM_WIN32(ERROR_NOT_FOUND)
                                 ? Error(Errc::unavailable, "sound: there is no playback device")
                                 : step_failed("GetDefaultAudioEndpoint", hr));
    s->device.reset(d);
    s->follow_default = true;
  } else {
    auto d = find_endpoint(en, options.server);
    if (!d) return std::unexpected(d.error());
    s->device = std::move(*d);
  }
  s->id = endpoint_id(s->device.get());
  s->loopback = is_playback(s->device.get());
  IAudioClient* ac = nullptr;
  if (HRESULT hr = s->device->Activate(__uuidof(IAudioClient), CLSCTX_ALL, nullptr, reinterpret_cast<void**>(&ac));
      FAILED(hr))
    return std::unexpected(step_failed("activating the audio client", hr));
  s->client.reset(ac);
  WAVEFORMATEX* mix_raw = nullptr;
  if (HRESULT hr = ac->GetMixFormat(&mix_raw); FAILED(hr)) return std::unexpected(step_failed("GetMixFormat", hr));
  CoTaskPtr<WAVEFORMATEX> mix(mix_raw);
  auto format = pcm_format(*mix);
  if (!format) return std::unexpected(format.error());
  auto converter = PcmConverter::create(*format);
  if (!converter) return std::unexpected(converter.error());
  s->converter.emplace(std::move(*converter));
  const DWORD flags = s->loopback ? AUDCLNT_STREAMFLAGS_LOOPBACK : 0;
  if (HRESULT hr = ac->Initialize(AUDCLNT_SHAREMODE_SHARED, flags, kBufferHns, 0, mix.get(), nullptr); FAILED(hr))
    return std::unexpected(step_failed("IAudioClient::Initialize", hr));
  IAudioCaptureClient* cc = nullptr;
  if (HRESULT hr = ac->GetService(__uuidof(IAudioCaptureClient), reinterpret_cast<void**>(&cc)); FAILED(hr))
    return std::unexpected(step_failed(s->loopback ? "the loopback's capture service" : "the capture service", hr));
  s->capture.reset(cc);
  s->wake.reset(CreateEventW(nullptr, FALSE, FALSE, nullptr));
  if (!s->wake) return fail(Errc::internal, "sound: CreateEvent failed");
  if (HRESULT hr = ac->Start(); FAILED(hr)) return std::unexpected(step_failed("IAudioClient::Start", hr));
  const auto now = std::chrono::steady_clock::now();
  s->silence = SilenceFiller(now, kLoopbackQuiet, kSilenceMargin);
  s->last_packet = now;
  s->next_default_check = now + kDefaultCheck;
  const std::string name = friendly_name(s->device.get());
  std::string description =
      (s->follow_default ? "loopback of the default playback device '"
                         : (s->loopback ? "loopback of the playback device '" : "recording device '")) +
      name + "' (" + describe(*format) + ")";
  auto cap = std::unique_ptr<SoundCapture>(new SoundCapture(std::move(s)));
  cap->description_ = std::move(description);
  return cap;
}

SoundCapture::SoundCapture(std::unique_ptr<State> state) : s_(std::move(state)) {}

SoundCapture::~SoundCapture() {
  if (s_ && s_->client) s_->client->Stop();
}

Result<ReadResult> SoundCapture::read(std::chrono::milliseconds idle_limit) {
  State& s = *s_;
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (s.follow_default && now >= s.next_default_check) {
      s.next_default_check = now + kDefaultCheck;
      IMMDevice* d = nullptr;
      if (SUCCEEDED(s.enumerator->GetDefaultAudioEndpoint(eRender, eConsole, &d))) {
        ComPtr<IMMDevice> current(d);
        if (endpoint_id(d) != s.id)
          return fail(Errc::unavailable, "sound: the default playback device changed to '" + friendly_name(d) + "'");
      } else {
        return fail(Errc::unavailable, "sound: there is no default playback device any more");
      }
    }
    ReadResult result;
    result.status = ReadStatus::chunk;
    bool first = true;
    for (;;) {
      UINT32 next = 0;
      if (HRESULT hr = s.capture->GetNextPacketSize(&next); FAILED(hr))
        return std::unexpected(hr == AUDCLNT_E_DEVICE_INVALIDATED
                                   ? Error(Errc::unavailable, "sound: the device was removed or disabled")
                                   : step_failed("GetNextPacketSize", hr));
      if (next == 0) break;
      BYTE* data = nullptr;
      UINT32 frames = 0;
      DWORD flags = 0;
      UINT64 qpc = 0;
      if (HRESULT hr = s.capture->GetBuffer(&data, &frames, &flags, nullptr, &qpc); FAILED(hr))
        return std::unexpected(step_failed("IAudioCaptureClient::GetBuffer", hr));
      if (first) {
        // The performance counter at the packet's first frame, in 100 ns.
        const auto age = std::chrono::nanoseconds((qpc_hns() - static_cast<std::int64_t>(qpc)) * 100);
        result.chunk.captured_at =
            std::chrono::steady_clock::now() -
            std::clamp(age, std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::seconds(2)));
        first = false;
      }
      if ((flags & AUDCLNT_BUFFERFLAGS_DATA_DISCONTINUITY) != 0) s.converter->reset();
      if ((flags & AUDCLNT_BUFFERFLAGS_SILENT) != 0)
        s.converter->silence(frames, result.chunk.pcm);
      else
        s.converter->convert(data, frames, result.chunk.pcm);
      s.capture->ReleaseBuffer(frames);
    }
    now = std::chrono::steady_clock::now();
    if (!first) {
      s.last_packet = now;
      s.silence.on_packet(now, result.chunk.captured_at, static_cast<std::int64_t>(result.chunk.pcm.size() / 2));
      if (!result.chunk.pcm.empty()) return result;
    }
    if (s.loopback) {
      // Nothing plays: a loopback sends no packets then, and the time since
      // the last sound is silence.
      if (const auto due = s.silence.due(now); due.frames > 0) {
        result.chunk.captured_at = due.at;
        result.chunk.pcm.assign(static_cast<std::size_t>(due.frames) * 2, 0);
        s.converter->reset();
        return result;
      }
    }
    if (!s.loopback && now - std::max(started, s.last_packet) >= idle_limit) {
      result.status = ReadStatus::silent;
      return result;
    }
    if (WaitForSingleObject(s.wake.get(), kPollMs) == WAIT_OBJECT_0) {
      result.status = ReadStatus::woken;
      return result;
    }
  }
}

void SoundCapture::wakeup() { SetEvent(s_->wake.get()); }

}  // namespace deskaudit::capture
