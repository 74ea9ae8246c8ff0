#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {

std::string win_error(std::string_view what, DWORD code) {
  std::string out = std::string(what) + " failed: Windows error " + std::to_string(code);
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                                     FORMAT_MESSAGE_IGNORE_INSERTS,
                                 nullptr, code, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  LocalPtr<wchar_t> owned(text);
  if (n > 0 && text != nullptr) {
    std::wstring_view message(text, n);
    while (!message.empty() && (message.back() == L'\n' || message.back() == L'\r' || message.back() == L' '))
      message.remove_suffix(1);
    if (!message.empty()) out += " (" + narrow(message) + ")";
  }
  return out;
}

bool running_under_wine() {
  const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

}  // namespace deskaudit::agent::windows
