// The control socket on Windows: a named pipe (control_socket.hpp). One
// instance (FILE_FLAG_FIRST_PIPE_INSTANCE: a second agent for the same state
// directory is refused), local clients only, a DACL for SYSTEM and
// Administrators; overlapped I/O so that the server stops at once and a
// silent client is given up after kIoTimeout.
#include "agent/control_socket.hpp"

#include <windows.h>
// After windows.h, which it needs.
#include <sddl.h>

#include <algorithm>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <thread>

#include <spdlog/spdlog.h>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// SYSTEM and Administrators, nothing inherited.
constexpr wchar_t kPipeSddl[] = L"D:P(A;;FA;;;SY)(A;;FA;;;BA)";

DWORD remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<DWORD>(std::min<long long>(left, 3'600'000)) : 0;
}

// One overlapped read or write on `h`, waiting until `deadline` (and for
// `stop`, when given). Returns the bytes moved; 0 for a read at the end (the
// other side closed).
Result<DWORD> transfer(HANDLE h, bool write, void* data, DWORD size, Clock::time_point deadline,
                       HANDLE stop = nullptr) {
  HandlePtr event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!event) return fail(Errc::io, windows::win_error("CreateEventW", GetLastError()));
  OVERLAPPED ov{};
  ov.hEvent = event.get();
  const BOOL ok = write ? WriteFile(h, data, size, nullptr, &ov) : ReadFile(h, data, size, nullptr, &ov);
  DWORD err = ok ? ERROR_SUCCESS : GetLastError();
  if (err == ERROR_IO_PENDING) {
    const HANDLE waits[2] = {event.get(), stop};
    const DWORD w = WaitForMultipleObjects(stop != nullptr ? 2 : 1, waits, FALSE, remaining_ms(deadline));
    if (w != WAIT_OBJECT_0) {
      CancelIoEx(h, &ov);
      DWORD ignored = 0;
      GetOverlappedResult(h, &ov, &ignored, TRUE);  // the operation must be over before `ov` goes
      return fail(Errc::unavailable, w == WAIT_TIMEOUT ? "timed out" : "stopped");
    }
    err = ERROR_SUCCESS;
  }
  DWORD moved = 0;
  if (err == ERROR_SUCCESS && !GetOverlappedResult(h, &ov, &moved, FALSE)) err = GetLastError();
  if (!write && (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED)) return DWORD{0};
  if (err != ERROR_SUCCESS && err != ERROR_MORE_DATA) {
    return fail(Errc::io, windows::win_error(write ? "WriteFile" : "ReadFile", err));
  }
  return moved;
}

// Reads up to the first '\n' (not included) or the end; errors on timeout or
// overflow.
Result<std::string> read_line(HANDLE h, Clock::time_point deadline, HANDLE stop = nullptr) {
  std::string line;
  char buf[4096];
  for (;;) {
    auto n = transfer(h, false, buf, sizeof buf, deadline, stop);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return line;
    const auto* nl = static_cast<const char*>(std::memchr(buf, '\n', *n));
    const auto take = nl != nullptr ? static_cast<std::size_t>(nl - buf) : static_cast<std::size_t>(*n);
    if (line.size() + take > kMaxRequestBytes) {
      return fail(Errc::too_large, "line longer than " + std::to_string(kMaxRequestBytes) + " bytes");
    }
    line.append(buf, take);
    if (nl != nullptr) return line;
  }
}

Status write_all(HANDLE h, std::string_view data, Clock::time_point deadline, HANDLE stop = nullptr) {
  while (!data.empty()) {
    auto n = transfer(h, true, const_cast<char*>(data.data()), static_cast<DWORD>(data.size()), deadline, stop);
    if (!n) return std::unexpected(n.error());
    data.remove_prefix(*n);
  }
  return {};
}

std::string no_agent(const std::filesystem::path& path, const std::wstring& pipe) {
  return "no deskaudit agent is running for this state directory (no pipe " + narrow(pipe) + " for " + path.string() +
         "); start it with `deskaudit-agent run ...` or the service";
}

}  // namespace

std::wstring control_pipe_name(const std::filesystem::path& socket_path) {
  // FNV-1a (64 bits) of the lowercased absolute path: Windows paths are not
  // case-sensitive, and a pipe name cannot hold the path's backslashes.
  std::wstring p = std::filesystem::absolute(socket_path).lexically_normal().wstring();
  std::transform(p.begin(), p.end(), p.begin(), [](wchar_t c) { return static_cast<wchar_t>(std::towlower(c)); });
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const wchar_t c : p) {
    h ^= static_cast<std::uint16_t>(c);
    h *= 0x100000001b3ull;
  }
  wchar_t hex[17];
  std::swprintf(hex, 17, L"%016llx", static_cast<unsigned long long>(h));
  return std::wstring(L"\\\\.\\pipe\\deskaudit-agent-") + hex;
}

struct ControlServer::Impl {
  std::wstring pipe_name;
  HandlePtr pipe;
  HandlePtr stop;  // manual reset: the server's end
  Handler handler;
  std::thread thread;

  void run();
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& socket_path, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->pipe_name = control_pipe_name(socket_path);
  impl->handler = std::move(handler);
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(kPipeSddl, SDDL_REVISION_1, &sd, nullptr)) {
    return fail(Errc::internal,
                windows::win_error("ConvertStringSecurityDescriptorToSecurityDescriptorW", GetLastError()));
  }
  SECURITY_ATTRIBUTES sa{sizeof sa, sd, FALSE};
  HANDLE h = CreateNamedPipeW(
      impl->pipe_name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096, 0, &sa);
  const DWORD err = GetLastError();
  LocalFree(sd);
  if (h == INVALID_HANDLE_VALUE) {
    if (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY) {
      return fail(Errc::conflict, "another deskaudit agent is already running for " + socket_path.string() +
                                      " (its pipe " + narrow(impl->pipe_name) + " exists)");
    }
    return fail(Errc::io, windows::win_error("CreateNamedPipeW " + narrow(impl->pipe_name), err));
  }
  impl->pipe.reset(h);
  impl->stop.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!impl->stop) return fail(Errc::io, windows::win_error("CreateEventW", GetLastError()));
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::~ControlServer() {
  SetEvent(impl_->stop.get());
  if (impl_->thread.joinable()) impl_->thread.join();
}

void ControlServer::Impl::run() {
  HandlePtr connected(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!connected) {
    spdlog::error("control pipe: {}", windows::win_error("CreateEventW", GetLastError()));
    return;
  }
  for (;;) {
    OVERLAPPED ov{};
    ov.hEvent = connected.get();
    ResetEvent(connected.get());
    DWORD err = ConnectNamedPipe(pipe.get(), &ov) ? ERROR_SUCCESS : GetLastError();
    if (err == ERROR_IO_PENDING) {
      const HANDLE waits[2] = {connected.get(), stop.get()};
      if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) != WAIT_OBJECT_0) {
        CancelIoEx(pipe.get(), &ov);
        DWORD ignored = 0;
        GetOverlappedResult(pipe.get(), &ov, &ignored, TRUE);
        return;
      }
      DWORD ignored = 0;
      err = GetOverlappedResult(pipe.get(), &ov, &ignored, FALSE) ? ERROR_SUCCESS : GetLastError();
    }
    if (err != ERROR_SUCCESS && err != ERROR_PIPE_CONNECTED) {
      // A client that came and went before we saw it: wait for the next.
      if (err != ERROR_NO_DATA) spdlog::warn("control pipe: {}", windows::win_error("ConnectNamedPipe", err));
      DisconnectNamedPipe(pipe.get());
      if (WaitForSingleObject(stop.get(), err == ERROR_NO_DATA ? 0 : 100) == WAIT_OBJECT_0) return;
      continue;
    }
    const json reply = control_reply(read_line(pipe.get(), Clock::now() + kIoTimeout, stop.get()), handler);
    if (write_all(pipe.get(), reply.dump() + "\n", Clock::now() + kIoTimeout, stop.get())) {
      // Disconnecting drops what the client has not read yet: wait (at most
      // kIoTimeout, never for a silent client) for it to close its end.
      (void)read_line(pipe.get(), Clock::now() + kIoTimeout, stop.get());
    }
    DisconnectNamedPipe(pipe.get());
    if (WaitForSingleObject(stop.get(), 0) == WAIT_OBJECT_0) return;
  }
}

Result<json> control_request(const std::filesystem::path& socket_path, const json& request,
                             std::chrono::milliseconds timeout) {
  const auto pipe = control_pipe_name(socket_path);
  const auto deadline = Clock::now() + timeout;
  HandlePtr h;
  for (;;) {
    HANDLE raw = CreateFileW(pipe.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                             FILE_FLAG_OVERLAPPED, nullptr);
    if (raw != INVALID_HANDLE_VALUE) {
      h.reset(raw);
      break;
    }
    const DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND) return fail(Errc::unavailable, no_agent(socket_path, pipe));
    if (err == ERROR_ACCESS_DENIED) {
      return fail(Errc::permission_denied, "the agent's pipe " + narrow(pipe) +
                                               " is for SYSTEM and Administrators: run this in an "
                                               "elevated (administrator) prompt");
    }
    if (err != ERROR_PIPE_BUSY) return fail(Errc::io, windows::win_error("CreateFileW " + narrow(pipe), err));
    // Serving another client (one at a time): wait for our turn.
    if (remaining_ms(deadline) == 0 || !WaitNamedPipeW(pipe.c_str(), std::max<DWORD>(1, remaining_ms(deadline)))) {
      if (GetLastError() == ERROR_FILE_NOT_FOUND) return fail(Errc::unavailable, no_agent(socket_path, pipe));
      if (Clock::now() >= deadline) return fail(Errc::unavailable, "the agent did not take the request in time");
    }
  }
  if (auto st = write_all(h.get(), request.dump() + "\n", deadline); !st) {
    return std::unexpected(with_context(st.error(), "sending to the agent"));
  }
  return parse_control_reply(read_line(h.get(), deadline));
}

}  // namespace deskaudit::agent
