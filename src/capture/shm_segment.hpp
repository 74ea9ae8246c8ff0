#pragma once
// A SysV shared-memory segment for MIT-SHM, private to this user.
// Created with IPC_PRIVATE and mode 0600 (screen pixels are sensitive: other
// users must not read them), attached here, and marked for removal
// (IPC_RMID) by mark_removed() as soon as the X server has attached too, so
// no segment outlives the process, even after a crash. Move-only; detaches
// on destruction. Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <utility>

#include "common/error.hpp"

namespace deskaudit::capture {

class ShmSegment {
 public:
  ShmSegment() = default;
  static Result<ShmSegment> create(std::size_t size_bytes);
  ShmSegment(ShmSegment&& o) noexcept
      : id_(std::exchange(o.id_, -1)), addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)),
        removed_(std::exchange(o.removed_, true)) {}
  ShmSegment& operator=(ShmSegment&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
      removed_ = std::exchange(o.removed_, true);
    }
    return *this;
  }
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment() { reset(); }

  int id() const { return id_; }
  std::uint8_t* data() const { return addr_; }
  std::size_t size() const { return size_; }
  // IPC_RMID: the segment disappears from `ipcs` and is freed at last detach.
  Status mark_removed();
  void reset();

 private:
  int id_ = -1;
  std::uint8_t* addr_ = nullptr;
  std::size_t size_ = 0;
  bool removed_ = true;
};

}  // namespace deskaudit::capture
