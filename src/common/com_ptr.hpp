#pragma once
// Windows only: the owner of a COM interface pointer, released with
// Release(); and QueryInterface into one.
#include <unknwn.h>

#include <memory>

namespace deskaudit {

struct ComReleaser {
  void operator()(IUnknown* p) const noexcept { p->Release(); }
};
template <class T>
using ComPtr = std::unique_ptr<T, ComReleaser>;

// `from` as a T, or null when it is none.
template <class T>
ComPtr<T> com_query(IUnknown* from) {
  void* out = nullptr;
  if (FAILED(from->QueryInterface(__uuidof(T), &out))) return nullptr;
  return ComPtr<T>(static_cast<T*>(out));
}

}  // namespace deskaudit
