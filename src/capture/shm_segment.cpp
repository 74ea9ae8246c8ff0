#include "capture/shm_segment.hpp"

#include <cerrno>
#include <sys/ipc.h>
#include <sys/shm.h>

namespace deskaudit::capture {

Result<ShmSegment> ShmSegment::create(std::size_t size_bytes) {
  if (size_bytes == 0) return fail(Errc::invalid_argument, "shared memory segment of 0 bytes");
  ShmSegment seg;
  seg.id_ = ::shmget(IPC_PRIVATE, size_bytes, IPC_CREAT | IPC_EXCL | 0600);
  if (seg.id_ < 0) return fail(Errc::io, errno_message("shmget", errno));
  seg.removed_ = false;
  void* addr = ::shmat(seg.id_, nullptr, 0);
  if (addr == reinterpret_cast<void*>(-1)) {
    const int e = errno;
    seg.reset();
    return fail(Errc::io, errno_message("shmat", e));
  }
  seg.addr_ = static_cast<std::uint8_t*>(addr);
  seg.size_ = size_bytes;
  return seg;
}

Status ShmSegment::mark_removed() {
  if (id_ < 0 || removed_) return {};
  if (::shmctl(id_, IPC_RMID, nullptr) != 0) return fail(Errc::io, errno_message("shmctl IPC_RMID", errno));
  removed_ = true;
  return {};
}

void ShmSegment::reset() {
  if (addr_ != nullptr) ::shmdt(addr_);
  addr_ = nullptr;
  if (id_ >= 0 && !removed_) ::shmctl(id_, IPC_RMID, nullptr);
  id_ = -1;
  removed_ = true;
  size_ = 0;
}

}  // namespace deskaudit::capture
