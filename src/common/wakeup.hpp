#pragma once
// A one-way "stop waiting" signal from one thread to another that blocks in a
// platform wait (poll() on Linux, WaitForMultipleObjects on Windows) beside
// its own sources, e.g. a ScreenCapture::wait() woken by Recorder::stop().
// Linux: an eventfd; Windows: a manual-reset event. Once signalled it stays
// signalled until reset(). signal(), signalled() and reset() are thread-safe;
// a signal() racing a reset() may be lost, so the waiting side resets first
// and then reads the state the signal was about (under its own lock).
#include <chrono>
#include <memory>

#include "common/error.hpp"

namespace deskaudit {

class Wakeup {
 public:
#ifdef _WIN32
  using NativeHandle = void*;  // HANDLE of the event
#else
  using NativeHandle = int;  // eventfd, readable once signalled
#endif
  static Result<Wakeup> create();
  Wakeup(Wakeup&&) noexcept;
  Wakeup& operator=(Wakeup&&) noexcept;
  ~Wakeup();
  void signal();
  bool signalled() const;
  // Back to not signalled.
  void reset();
  // Blocks until signalled.
  Status wait() const;
  // Blocks until signalled (true) or until timeout has passed (false).
  Result<bool> wait_for(std::chrono::milliseconds timeout) const;
  // For the platform wait of the waiting thread; owned by this object.
  NativeHandle native() const;

 private:
  Wakeup() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskaudit
