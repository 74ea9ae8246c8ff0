#pragma once
// Windows only: the owner of a kernel object handle (process, thread, event,
// token), closed with CloseHandle; never INVALID_HANDLE_VALUE. And the owner
// of memory an API allocated with LocalAlloc (security descriptors, SDDL
// strings, decoded certificate structures).
#include <windows.h>

#include <memory>
#include <type_traits>

namespace deskaudit {

struct HandleCloser {
  void operator()(HANDLE h) const noexcept { CloseHandle(h); }
};
using HandlePtr = std::unique_ptr<std::remove_pointer_t<HANDLE>, HandleCloser>;

struct LocalFreer {
  void operator()(void* p) const noexcept { LocalFree(p); }
};
template <class T>
using LocalPtr = std::unique_ptr<T, LocalFreer>;

}  // namespace deskaudit
