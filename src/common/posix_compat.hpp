#pragma once
// The few POSIX calls the shared code makes (open/pread/fsync/rename/unlink,
// statvfs, strptime/timegm/localtime_r), for Windows: mingw-w64's CRT lacks
// them or takes char paths while std::filesystem::path is wide there. On
// other platforms this header adds nothing. Windows differences: O_NOFOLLOW
// is not applied (creating symbolic links needs a privilege there; the state
// directory's ACL is what keeps others out), files open in binary mode,
// rename replaces an existing target as POSIX rename does (MoveFileEx), and
// pread moves the descriptor's position (each descriptor is used by one
// thread, fs.hpp).
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <windows.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <iomanip>
#include <locale>
#include <sstream>
#include <string>

#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

inline int open(const wchar_t* path, int flags, int mode = 0) {
  return ::_wopen(path, flags | _O_BINARY, (mode & 0200) != 0 ? (_S_IREAD | _S_IWRITE) : _S_IREAD);
}

inline int fsync(int fd) { return ::_commit(fd); }

inline long long pread(int fd, void* data, std::size_t size, std::int64_t offset) {
  if (::_lseeki64(fd, offset, SEEK_SET) < 0) return -1;
  return ::_read(fd, data, static_cast<unsigned>(size > (1u << 30) ? (1u << 30) : size));
}

inline int windows_errno(DWORD code) {
  switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
      return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
      return EACCES;
    case ERROR_DISK_FULL:
      return ENOSPC;
    default:
      return EIO;
  }
}

inline int rename(const wchar_t* from, const wchar_t* to) {
  if (MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return 0;
  errno = windows_errno(GetLastError());
  return -1;
}

inline int unlink(const wchar_t* path) { return ::_wunlink(path); }

// The mode is not applied: the directory inherits its parent's ACL.
inline int mkdir(const wchar_t* path, int /*mode*/) { return ::_wmkdir(path); }

inline int truncate(const wchar_t* path, std::int64_t length) {
  const int fd = ::_wopen(path, _O_WRONLY | _O_BINARY | _O_NOINHERIT);
  if (fd < 0) return -1;
  const int rc = ::_chsize_s(fd, length) == 0 ? 0 : -1;
  const int saved = errno;
  ::_close(fd);
  errno = saved;
  return rc;
}

struct statvfs {
  std::uint64_t f_bsize = 1, f_frsize = 1, f_blocks = 0, f_bavail = 0;
};
// In bytes (f_frsize 1): the space free to this process's user, and the volume's size.
inline int statvfs(const wchar_t* path, struct statvfs* out) {
  ULARGE_INTEGER avail{}, total{};
  if (!GetDiskFreeSpaceExW(path, &avail, &total, nullptr)) {
    errno = windows_errno(GetLastError());
    return -1;
  }
  out->f_bavail = avail.QuadPart;
  out->f_blocks = total.QuadPart;
  return 0;
}

inline std::time_t timegm(std::tm* tm) { return ::_mkgmtime(tm); }

inline std::tm* localtime_r(const std::time_t* t, std::tm* out) { return ::localtime_s(out, t) == 0 ? out : nullptr; }

// The C locale's names, as glibc's strptime in the C locale.
inline const char* strptime(const char* text, const char* format, std::tm* tm) {
  std::istringstream in{std::string(text)};
  in.imbue(std::locale::classic());
  in >> std::get_time(tm, format);
  if (in.fail()) return nullptr;
  const auto at = in.eof() ? static_cast<std::streamoff>(std::char_traits<char>::length(text))
                           : static_cast<std::streamoff>(in.tellg());
  return text + at;
}
#endif
