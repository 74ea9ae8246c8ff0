#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include "common/fs.hpp"

namespace deskaudit {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status ensure_private_dir(const std::filesystem::path& dir, unsigned mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, "create directory " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), mode) != 0) return fail(Errc::io, errno_message("chmod " + dir.string(), errno));
  return {};
}

Result<UniqueFd> open_for_read(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + path.string(), e));
  }
  return fd;
}

Result<UniqueFd> create_new_file(const std::filesystem::path& path, unsigned mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) {
    const int e = errno;
    return fail(e == EEXIST ? Errc::conflict : Errc::io, errno_message("create " + path.string(), e));
  }
  return fd;
}

Result<std::size_t> read_some(int fd, void* data, std::size_t size, std::string_view what) {
  for (;;) {
    const ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return fail(Errc::io, errno_message("read " + std::string(what), errno));
  }
}

Status write_all(int fd, const void* data, std::size_t size, std::string_view what) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("write " + std::string(what), errno));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Status write_at(int fd, std::int64_t offset, const void* data, std::size_t size, std::string_view what) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("write " + std::string(what), errno));
    }
    p += n;
    offset += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Status sync_data(int fd, std::string_view what) {
  if (::fdatasync(fd) != 0) return fail(Errc::io, errno_message("fsync " + std::string(what), errno));
  return {};
}

Status sync_file(int fd, std::string_view what) {
  if (::fsync(fd) != 0) return fail(Errc::io, errno_message("fsync " + std::string(what), errno));
  return {};
}

Status fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(Errc::io, errno_message("open " + dir.string(), errno));
  return sync_file(fd.get(), dir.string());
}

}  // namespace deskaudit
