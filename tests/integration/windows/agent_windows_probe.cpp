// A test program over deskaudit_agent_windows, run under Wine by
// service_wine_test.sh and agent_windows_test.exe:
//   agent_windows_probe hold                         waits forever (Wine ends services with the last ordinary process)
//   agent_windows_probe install NAME LOG             installs itself as service NAME ("service NAME LOG")
//   agent_windows_probe uninstall NAME               stops and deletes NAME
//   agent_windows_probe query NAME                   prints state=..., start=..., description=..., failure_actions=...
//   agent_windows_probe service NAME LOG             the service: appends "running", session events, "stopped" to LOG
//   agent_windows_probe helper EXIT_CODE --stop-event H   a session helper: waits for the event, exits EXIT_CODE
//   agent_windows_probe count EXE_NAME               prints how many processes run EXE_NAME
//   agent_windows_probe tone DEVICE MS               plays a 1 kHz sine at half scale for MS ms on the playback
//                                                    device DEVICE (its friendly name), printing
//                                                    "started <steady_clock ns>" once the stream runs
#include <windows.h>
//
#include <initguid.h>  // PKEY_Device_FriendlyName defined here
//
#include <audioclient.h>
#include <functiondiscoverykeys_devpkey.h>
#include <mmdeviceapi.h>
#include <tlhelp32.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numbers>
#include <string>
#include <vector>

#include "../../unit/capture/playback_device.hpp"
#include "agent/windows/service.hpp"
#include "agent/windows/session_process.hpp"
#include "agent/windows/win_util.hpp"
#include "common/com_ptr.hpp"

using namespace deskaudit;
using namespace deskaudit::agent::windows;

namespace {

int failed(const Error& e) {
  std::fprintf(stderr, "error %s: %s\n", std::string(errc_name(e.code)).c_str(), e.message.c_str());
  return e.code == Errc::not_found ? 3 : 1;
}

std::string state_name(DWORD s) {
  switch (s) {
    case SERVICE_STOPPED: return "stopped";
    case SERVICE_START_PENDING: return "start_pending";
    case SERVICE_STOP_PENDING: return "stop_pending";
    case SERVICE_RUNNING: return "running";
    default: return std::to_string(s);
  }
}

int query(const std::wstring& name) {
  auto state = query_service_state(name);
  if (!state) return failed(state.error());
  std::printf("state=%s\n", state_name(*state).c_str());
  ServiceHandlePtr scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  ServiceHandlePtr service(scm ? OpenServiceW(scm.get(), name.c_str(), SERVICE_QUERY_CONFIG) : nullptr);
  if (!service) return failed(Error{Errc::unavailable, win_error("OpenServiceW")});
  std::vector<std::byte> buffer(8192);
  DWORD needed = 0;
  auto* config = reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buffer.data());
  if (QueryServiceConfigW(service.get(), config, static_cast<DWORD>(buffer.size()), &needed))
    std::printf("start=%s\ncommand=%s\n", config->dwStartType == SERVICE_AUTO_START ? "auto" : "other",
                narrow(config->lpBinaryPathName).c_str());
  if (QueryServiceConfig2W(service.get(), SERVICE_CONFIG_DESCRIPTION, reinterpret_cast<BYTE*>(buffer.data()),
                           static_cast<DWORD>(buffer.size()), &needed)) {
    const auto* d = reinterpret_cast<SERVICE_DESCRIPTIONW*>(buffer.data());
    std::printf("description=%s\n", d->lpDescription ? narrow(d->lpDescription).c_str() : "");
  }
  if (QueryServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS, reinterpret_cast<BYTE*>(buffer.data()),
                           static_cast<DWORD>(buffer.size()), &needed)) {
    const auto* f = reinterpret_cast<SERVICE_FAILURE_ACTIONSW*>(buffer.data());
    std::string actions;
    for (DWORD i = 0; i < f->cActions; ++i)
      actions += (i ? "," : "") + std::string(f->lpsaActions[i].Type == SC_ACTION_RESTART ? "restart:" : "other:") +
                 std::to_string(f->lpsaActions[i].Delay);
    std::printf("failure_actions=%s reset=%lu\n", actions.c_str(), f->dwResetPeriod);
  } else {
    std::printf("failure_actions=unreadable (%s)\n", win_error("QueryServiceConfig2W").c_str());
  }
  return 0;
}

int service(const std::wstring& name, const std::wstring& log_path) {
  std::mutex mutex;
  std::ofstream log(std::filesystem::path(log_path), std::ios::app);
  auto line = [&](const std::string& text) {
    std::lock_guard lock(mutex);
    log << text << std::endl;
  };
  ServiceCallbacks callbacks;
  callbacks.run = [&](std::stop_token stop) {
    DWORD session = 0;
    ProcessIdToSessionId(GetCurrentProcessId(), &session);
    line("running pid=" + std::to_string(GetCurrentProcessId()) + " session=" + std::to_string(session) +
         " by_scm=" + (started_by_service_manager() ? "1" : "0"));
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, stop, [] { return false; });
    line("stop requested");
    return 0;
  };
  callbacks.on_session_change = [&](const SessionEvent& e) {
    line("session " + std::string(session_change_name(e.change)) + " " + std::to_string(e.session_id));
  };
  auto code = run_as_service(name, std::move(callbacks));
  if (!code) return failed(code.error());
  line("dispatcher returned exit=" + std::to_string(*code));
  return *code;
}

// A 1 kHz sine at half scale on the device, for `ms` milliseconds, in its
// float mix format; "started <steady_clock ns>" once the stream runs.
int tone(const std::wstring& name, long ms) {
  CoInitializeEx(nullptr, COINIT_MULTITHREADED);
  auto device = test::playback_device(name);
  if (!device) return failed(Error{Errc::not_found, "no playback device named " + narrow(name)});
  IAudioClient* ac = nullptr;
  if (FAILED(device->Activate(__uuidof(IAudioClient), CLSCTX_ALL, nullptr, reinterpret_cast<void**>(&ac))))
    return failed(Error{Errc::unavailable, "Activate failed"});
  ComPtr<IAudioClient> client(ac);
  WAVEFORMATEX* mix = nullptr;
  if (FAILED(ac->GetMixFormat(&mix))) return failed(Error{Errc::unavailable, "GetMixFormat failed"});
  const bool is_float = mix->wFormatTag == WAVE_FORMAT_IEEE_FLOAT ||
                        (mix->wFormatTag == WAVE_FORMAT_EXTENSIBLE && mix->wBitsPerSample == 32);
  const UINT32 rate = mix->nSamplesPerSec;
  const WORD channels = mix->nChannels;
  const HRESULT init = ac->Initialize(AUDCLNT_SHAREMODE_SHARED, 0, 2'000'000, 0, mix, nullptr);
  CoTaskMemFree(mix);
  if (FAILED(init) || !is_float) return failed(Error{Errc::unavailable, "Initialize failed or the mix is not float"});
  IAudioRenderClient* rc = nullptr;
  if (FAILED(ac->GetService(__uuidof(IAudioRenderClient), reinterpret_cast<void**>(&rc))))
    return failed(Error{Errc::unavailable, "no render service"});
  ComPtr<IAudioRenderClient> render(rc);
  UINT32 buffer_frames = 0;
  ac->GetBufferSize(&buffer_frames);
  const auto total = static_cast<UINT64>(rate) * static_cast<UINT64>(ms) / 1000;
  UINT64 written = 0;
  bool started = false;
  while (written < total) {
    UINT32 padding = 0;
    ac->GetCurrentPadding(&padding);
    const auto room = static_cast<UINT32>(std::min<UINT64>(buffer_frames - padding, total - written));
    if (room > 0) {
      BYTE* data = nullptr;
      if (FAILED(render->GetBuffer(room, &data))) return failed(Error{Errc::unavailable, "GetBuffer failed"});
      auto* f = reinterpret_cast<float*>(data);
      for (UINT32 i = 0; i < room; ++i) {
        const auto v =
            static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(written + i) / rate));
        for (WORD c = 0; c < channels; ++c) f[i * channels + c] = v;
      }
      render->ReleaseBuffer(room, 0);
      written += room;
    }
    if (!started) {
      const auto at = std::chrono::steady_clock::now().time_since_epoch().count();
      if (FAILED(ac->Start())) return failed(Error{Errc::unavailable, "Start failed"});
      std::printf("started %lld\n", static_cast<long long>(at));
      std::fflush(stdout);
      started = true;
    }
    Sleep(10);
  }
  for (UINT32 padding = 1; padding > 0;) {  // until it has played out
    ac->GetCurrentPadding(&padding);
    Sleep(10);
  }
  ac->Stop();
  std::puts("done");
  return 0;
}
}  // namespace

int wmain(int argc, wchar_t** argv) {
  std::vector<std::wstring> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == L"hold") {
    std::puts("holding");
    std::fflush(stdout);
    Sleep(INFINITE);
    return 0;
  }
  if (args.size() == 3 && args[0] == L"install") {
    auto command = own_command_line(L"service " + args[1] + L" \"" + args[2] + L"\"");
    if (!command) return failed(command.error());
    ServiceConfig config{args[1], L"deskaudit probe", L"deskaudit test service (agent_windows_probe)", *command};
    auto st = install_service(config);
    if (!st) return failed(st.error());
    std::puts("installed");
    return 0;
  }
  if (args.size() == 2 && args[0] == L"uninstall") {
    auto st = uninstall_service(args[1], std::chrono::seconds(30));
    if (!st) return failed(st.error());
    std::puts("uninstalled");
    return 0;
  }
  if (args.size() == 2 && args[0] == L"query") return query(args[1]);
  if (args.size() == 2 && args[0] == L"count") {
    HandlePtr snapshot(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
    if (!snapshot || snapshot.get() == INVALID_HANDLE_VALUE) {
      snapshot.release();
      return failed(Error{Errc::unavailable, win_error("CreateToolhelp32Snapshot")});
    }
    int n = 0;
    PROCESSENTRY32W entry{};
    entry.dwSize = sizeof(entry);
    for (BOOL more = Process32FirstW(snapshot.get(), &entry); more; more = Process32NextW(snapshot.get(), &entry))
      if (_wcsicmp(entry.szExeFile, args[1].c_str()) == 0) ++n;
    std::printf("%d\n", n);
    return 0;
  }
  if (args.size() == 3 && args[0] == L"service") return service(args[1], args[2]);
  if (args.size() == 3 && args[0] == L"tone") return tone(args[1], std::stol(args[2]));
  if (args.size() == 4 && args[0] == L"helper" && args[2] == L"--stop-event") {
    auto stop = stop_event_from_argument(narrow(args[3]));
    if (!stop) return failed(stop.error());
    if (WaitForSingleObject(stop->get(), INFINITE) != WAIT_OBJECT_0) return 1;
    return std::stoi(args[1]);
  }
  std::fputs(
      "usage: agent_windows_probe hold|install NAME LOG|uninstall NAME|query NAME|service NAME LOG|helper CODE "
      "--stop-event H|count EXE|tone DEVICE MS\n",
      stderr);
  return 2;
}
