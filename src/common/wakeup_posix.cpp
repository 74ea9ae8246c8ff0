#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cerrno>
#include <algorithm>
#include <cstdint>

#include "common/fs.hpp"
#include "common/wakeup.hpp"

namespace deskaudit {

struct Wakeup::Impl {
  UniqueFd fd;
};

Result<Wakeup> Wakeup::create() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return fail(Errc::internal, errno_message("eventfd", errno));
  Wakeup w;
  w.impl_ = std::make_unique<Impl>(Impl{std::move(fd)});
  return w;
}

Wakeup::Wakeup(Wakeup&&) noexcept = default;
Wakeup& Wakeup::operator=(Wakeup&&) noexcept = default;
Wakeup::~Wakeup() = default;

void Wakeup::signal() {
  const std::uint64_t one = 1;
  if (::write(impl_->fd.get(), &one, sizeof one) < 0) {
    // An eventfd write fails only on counter overflow: it is signalled then.
  }
}

bool Wakeup::signalled() const {
  pollfd p{impl_->fd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

void Wakeup::reset() {
  std::uint64_t count = 0;
  if (::read(impl_->fd.get(), &count, sizeof count) < 0) {
    // EAGAIN: not signalled, nothing to reset.
  }
}

Status Wakeup::wait() const {
  pollfd p{impl_->fd.get(), POLLIN, 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return fail(Errc::internal, errno_message("poll", errno));
  }
  return {};
}

Result<bool> Wakeup::wait_for(std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{impl_->fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return fail(Errc::internal, errno_message("poll", errno));
  }
}

Wakeup::NativeHandle Wakeup::native() const { return impl_->fd.get(); }

}  // namespace deskaudit
