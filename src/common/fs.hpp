#pragma once
// Small file helpers with RAII for descriptors. Paths in errors, errno text.
// The platform part (descriptors, durability, modes) is in fs_posix.cpp and
// fs_windows.cpp (CRT descriptors; there a mode is not applied: see
// docs/windows.md); the rest in fs.cpp. A descriptor is used by one thread at
// a time.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.hpp"

namespace deskaudit {

// Move-only owner of a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Creates dir (and parents) with the given mode for the last component;
// an existing directory gets its mode set to `mode`.
Status ensure_private_dir(const std::filesystem::path& dir, unsigned mode = 0700);
// Opens an existing file for reading (Errc::not_found when it is absent).
Result<UniqueFd> open_for_read(const std::filesystem::path& path);
// Creates a new file for writing with the given mode (Errc::conflict when it exists).
Result<UniqueFd> create_new_file(const std::filesystem::path& path, unsigned mode = 0600);
// Reads up to size bytes (0 at the end of the file), retrying on EINTR.
Result<std::size_t> read_some(int fd, void* data, std::size_t size, std::string_view what);
// Writes size bytes at offset; the file position is where it was before.
Status write_at(int fd, std::int64_t offset, const void* data, std::size_t size, std::string_view what);
// Makes the file's data durable (fdatasync), or data and metadata (fsync).
Status sync_data(int fd, std::string_view what);
Status sync_file(int fd, std::string_view what);
// Writes data to path atomically: temp file (mode), fsync, rename, fsync dir.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode = 0600);
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes = 16u << 20);
// Makes the directory's entries (a rename into it) durable. Windows: nothing
// to do (NTFS journals its metadata; renames there are write-through).
Status fsync_dir(const std::filesystem::path& dir);
// Writes all bytes, retrying on EINTR and short writes.
Status write_all(int fd, const void* data, std::size_t size, std::string_view what);

}  // namespace deskaudit
