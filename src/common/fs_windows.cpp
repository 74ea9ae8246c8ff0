#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <cerrno>

#include "common/fs.hpp"

namespace deskaudit {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::_close(fd_);
  fd_ = fd;
}

// The mode is not applied: files and directories inherit the ACL of their
// parent (ProgramData ACLs for SYSTEM and Administrators are not set yet).
Status ensure_private_dir(const std::filesystem::path& dir, unsigned /*mode*/) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, "create directory " + dir.string() + ": " + ec.message());
  return {};
}

Result<UniqueFd> open_for_read(const std::filesystem::path& path) {
  UniqueFd fd(::_wopen(path.c_str(), _O_RDONLY | _O_BINARY | _O_NOINHERIT));
  if (!fd) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + path.string(), e));
  }
  return fd;
}

Result<UniqueFd> create_new_file(const std::filesystem::path& path, unsigned /*mode*/) {
  UniqueFd fd(::_wopen(path.c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE));
  if (!fd) {
    const int e = errno;
    return fail(e == EEXIST ? Errc::conflict : Errc::io, errno_message("create " + path.string(), e));
  }
  return fd;
}

// CRT reads and writes take unsigned int sizes: larger requests go in pieces.
constexpr std::size_t kMaxIo = 1u << 30;

Result<std::size_t> read_some(int fd, void* data, std::size_t size, std::string_view what) {
  const int n = ::_read(fd, data, static_cast<unsigned>(std::min(size, kMaxIo)));
  if (n < 0) return fail(Errc::io, errno_message("read " + std::string(what), errno));
  return static_cast<std::size_t>(n);
}

Status write_all(int fd, const void* data, std::size_t size, std::string_view what) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const int n = ::_write(fd, p, static_cast<unsigned>(std::min(size, kMaxIo)));
    if (n < 0) return fail(Errc::io, errno_message("write " + std::string(what), errno));
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Status write_at(int fd, std::int64_t offset, const void* data, std::size_t size, std::string_view what) {
  const auto here = ::_lseeki64(fd, 0, SEEK_CUR);
  if (here < 0 || ::_lseeki64(fd, offset, SEEK_SET) < 0)
    return fail(Errc::io, errno_message("seek " + std::string(what), errno));
  auto st = write_all(fd, data, size, what);
  if (::_lseeki64(fd, here, SEEK_SET) < 0 && st)
    return fail(Errc::io, errno_message("seek " + std::string(what), errno));
  return st;
}

Status sync_data(int fd, std::string_view what) { return sync_file(fd, what); }

Status sync_file(int fd, std::string_view what) {
  if (::_commit(fd) != 0) return fail(Errc::io, errno_message("flush " + std::string(what), errno));
  return {};
}

Status fsync_dir(const std::filesystem::path& /*dir*/) { return {}; }

}  // namespace deskaudit
