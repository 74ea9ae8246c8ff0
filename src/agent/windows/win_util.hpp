#pragma once
// Small Win32 helpers of the Windows agent: owners of kernel, service and
// LocalAlloc'd handles, error texts with the Windows error code, UTF-8 <-> UTF-16.
#include <windows.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/utf16.hpp"
#include "common/win_handle.hpp"

namespace deskaudit::agent::windows {

using deskaudit::HandlePtr;  // common/win_handle.hpp

struct ServiceHandleCloser {
  void operator()(SC_HANDLE h) const noexcept { CloseServiceHandle(h); }
};
using ServiceHandlePtr = std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, ServiceHandleCloser>;

using deskaudit::LocalPtr;  // common/win_handle.hpp

// "<what> failed: Windows error <code> (<system message>)".
std::string win_error(std::string_view what, DWORD code);
inline std::string win_error(std::string_view what) { return win_error(what, GetLastError()); }

using deskaudit::narrow;  // common/utf16.hpp
using deskaudit::widen;

// True under Wine (ntdll exports wine_get_version): tests say which path they took.
bool running_under_wine();

}  // namespace deskaudit::agent::windows
