#pragma once
// Windows only: the owner of a COM interface pointer, released with
// Release(); QueryInterface into one; the owner of memory COM allocated
// (CoTaskMemAlloc: strings, formats).
#include <objbase.h>
#include <unknwn.h>

#include <memory>

namespace deskaudit {

struct ComReleaser {
  void operator()(IUnknown* p) const noexcept { p->Release(); }
};
template <class T>
using ComPtr = std::unique_ptr<T, ComReleaser>;

struct CoTaskMemFreer {
  void operator()(void* p) const noexcept { CoTaskMemFree(p); }
};
template <class T>
using CoTaskPtr = std::unique_ptr<T, CoTaskMemFreer>;

// `from` as a T, or null when it is none.
template <class T>
ComPtr<T> com_query(IUnknown* from) {
  void* out = nullptr;
  if (FAILED(from->QueryInterface(__uuidof(T), &out))) return nullptr;
  return ComPtr<T>(static_cast<T*>(out));
}

}  // namespace deskaudit
