#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/wakeup.hpp"

namespace deskaudit {

struct Wakeup::Impl {
  HANDLE event = nullptr;
  ~Impl() {
    if (event != nullptr) CloseHandle(event);
  }
};

Result<Wakeup> Wakeup::create() {
  Wakeup w;
  w.impl_ = std::make_unique<Impl>();
  w.impl_->event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (w.impl_->event == nullptr)
    return fail(Errc::internal, "CreateEvent failed: error " + std::to_string(GetLastError()));
  return w;
}

Wakeup::Wakeup(Wakeup&&) noexcept = default;
Wakeup& Wakeup::operator=(Wakeup&&) noexcept = default;
Wakeup::~Wakeup() = default;

void Wakeup::signal() { SetEvent(impl_->event); }

bool Wakeup::signalled() const { return WaitForSingleObject(impl_->event, 0) == WAIT_OBJECT_0; }

void Wakeup::reset() { ResetEvent(impl_->event); }

Status Wakeup::wait() const {
  if (WaitForSingleObject(impl_->event, INFINITE) != WAIT_OBJECT_0)
    return fail(Errc::internal, "WaitForSingleObject failed: error " + std::to_string(GetLastError()));
  return {};
}

Result<bool> Wakeup::wait_for(std::chrono::milliseconds timeout) const {
  const DWORD r = WaitForSingleObject(impl_->event, static_cast<DWORD>(std::max<std::int64_t>(0, timeout.count())));
  if (r == WAIT_OBJECT_0) return true;
  if (r == WAIT_TIMEOUT) return false;
  return fail(Errc::internal, "WaitForSingleObject failed: error " + std::to_string(GetLastError()));
}

Wakeup::NativeHandle Wakeup::native() const { return impl_->event; }

}  // namespace deskaudit
