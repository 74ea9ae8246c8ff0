#pragma once
// Small file helpers with RAII for descriptors. Paths in errors, errno text.
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
// Writes data to path atomically: temp file (mode), fsync, rename, fsync dir.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode = 0600);
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes = 16u << 20);
Status fsync_dir(const std::filesystem::path& dir);
// Writes all bytes, retrying on EINTR and short writes.
Status write_all(int fd, const void* data, std::size_t size, std::string_view what);

}  // namespace deskaudit
