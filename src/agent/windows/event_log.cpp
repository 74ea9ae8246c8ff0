#include "agent/windows/event_log.hpp"

#include <string>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

// ReportEventW's limit for one string.
constexpr std::size_t kMaxEventChars = 31'839;

std::wstring source_key(const wchar_t* source) { return std::wstring(kEventLogKey) + L"\\" + source; }

Error registry_error(std::string_view what, LSTATUS code) {
  return Error{
      code == ERROR_ACCESS_DENIED ? Errc::permission_denied : Errc::io, win_error(what, static_cast<DWORD>(code)), {}};
}

}  // namespace

Status register_event_source(const std::filesystem::path& message_file, const wchar_t* source) {
  HKEY raw = nullptr;
  const auto key = source_key(source);
  LSTATUS r = RegCreateKeyExW(HKEY_LOCAL_MACHINE, key.c_str(), 0, nullptr, REG_OPTION_NON_VOLATILE, KEY_SET_VALUE,
                              nullptr, &raw, nullptr);
  if (r != ERROR_SUCCESS) return std::unexpected(registry_error("RegCreateKeyExW HKLM\\" + narrow(key), r));
  std::unique_ptr<std::remove_pointer_t<HKEY>, decltype(&RegCloseKey)> k(raw, &RegCloseKey);
  const std::wstring file = message_file.wstring();
  r = RegSetValueExW(k.get(), L"EventMessageFile", 0, REG_EXPAND_SZ, reinterpret_cast<const BYTE*>(file.c_str()),
                     static_cast<DWORD>((file.size() + 1) * sizeof(wchar_t)));
  if (r != ERROR_SUCCESS) return std::unexpected(registry_error("RegSetValueExW EventMessageFile", r));
  const DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
  r = RegSetValueExW(k.get(), L"TypesSupported", 0, REG_DWORD, reinterpret_cast<const BYTE*>(&types), sizeof types);
  if (r != ERROR_SUCCESS) return std::unexpected(registry_error("RegSetValueExW TypesSupported", r));
  return {};
}

Status unregister_event_source(const wchar_t* source) {
  const auto key = source_key(source);
  const LSTATUS r = RegDeleteKeyW(HKEY_LOCAL_MACHINE, key.c_str());
  if (r != ERROR_SUCCESS && r != ERROR_FILE_NOT_FOUND) {
    return std::unexpected(registry_error("RegDeleteKeyW HKLM\\" + narrow(key), r));
  }
  return {};
}

Result<std::shared_ptr<EventLogSink>> EventLogSink::open(spdlog::level::level_enum min_level, const wchar_t* source) {
  HANDLE h = RegisterEventSourceW(nullptr, source);
  if (h == nullptr) return fail(Errc::io, win_error("RegisterEventSourceW " + narrow(source)));
  std::shared_ptr<EventLogSink> sink(new EventLogSink(h));
  sink->set_level(min_level);
  return sink;
}

EventLogSink::~EventLogSink() { DeregisterEventSource(source_); }

void EventLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (msg.level == spdlog::level::off) return;
  WORD type = EVENTLOG_INFORMATION_TYPE;
  if (msg.level >= spdlog::level::err) {
    type = EVENTLOG_ERROR_TYPE;
  } else if (msg.level == spdlog::level::warn) {
    type = EVENTLOG_WARNING_TYPE;
  }
  std::wstring text = widen(std::string_view(msg.payload.data(), msg.payload.size()));
  if (text.size() > kMaxEventChars) {
    text.resize(kMaxEventChars);
    if (text.back() >= 0xD800 && text.back() <= 0xDBFF) text.pop_back();  // half a surrogate pair
  }
  const wchar_t* strings[1] = {text.c_str()};
  if (ReportEventW(source_, type, 0, kEventMessageId, nullptr, 1, 0, strings, nullptr)) {
    ++reported_;
  } else {
    ++failed_;
  }
}

}  // namespace deskaudit::agent::windows
