#pragma once
// UTF-8 <-> UTF-16 for the Win32 API (Windows builds only; utf16_windows.cpp).
// Text that does not convert (invalid UTF-8 or UTF-16) gives an empty string.
#include <string>
#include <string_view>

namespace deskaudit {

std::wstring widen(std::string_view utf8);
std::string narrow(std::wstring_view utf16);

}  // namespace deskaudit
