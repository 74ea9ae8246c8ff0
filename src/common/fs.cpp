#include "common/fs.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.hpp"

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

Status fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(Errc::io, errno_message("open " + dir.string(), errno));
  if (::fsync(fd.get()) != 0) return fail(Errc::io, errno_message("fsync " + dir.string(), errno));
  return {};
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode) {
  const auto tmp = path.parent_path() / ("." + path.filename().string() + "." + random_id("") + ".tmp");
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return fail(Errc::io, errno_message("create " + tmp.string(), errno));
  if (auto st = write_all(fd.get(), data.data(), data.size(), tmp.string()); !st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fsync(fd.get()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail(Errc::io, errno_message("fsync " + tmp.string(), e));
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail(Errc::io, errno_message("rename to " + path.string(), e));
  }
  return fsync_dir(path.parent_path().empty() ? "." : path.parent_path());
}

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + path.string(), e));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("read " + path.string(), errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return fail(Errc::too_large, path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace deskaudit
