#include "storage/local_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "storage/keys.hpp"

namespace deskaudit::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kReadChunkBytes = 64u << 10;
constexpr std::size_t kCopyChunkBytes = 1u << 20;
// A concurrent remove() may prune a directory between our mkdir and our
// create; that is rare and retrying the whole step resolves it.
constexpr int kPutAttempts = 8;

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

// Distinguishes "a directory vanished under us, try again" from real errors.
struct Retry {};

// Creates the directories of key's parent under root, 0700 each.
std::expected<void, std::variant<Error, Retry>> make_parents(const fs::path& root, std::string_view key) {
  fs::path p = root;
  std::size_t start = 0;
  for (std::size_t slash = key.find('/'); slash != std::string_view::npos; slash = key.find('/', start)) {
    p /= std::string(key.substr(start, slash - start));
    start = slash + 1;
    if (::mkdir(p.c_str(), 0700) == 0) continue;
    const int e = errno;
    if (e == ENOENT) return std::unexpected(Retry{});
    if (e == ENAMETOOLONG) {
      return std::unexpected(Error{Errc::invalid_argument, errno_message("key '" + std::string(key) + "'", e), "key"});
    }
    if (e != EEXIST) return std::unexpected(Error{Errc::io, errno_message("mkdir " + p.string(), e), {}});
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return std::unexpected(Retry{});
      return std::unexpected(Error{Errc::io, errno_message("stat " + p.string(), errno), {}});
    }
    if (!S_ISDIR(st.st_mode)) {
      return std::unexpected(Error{Errc::conflict,
                                   "object '" + std::string(key.substr(0, slash)) + "' exists, so '" +
                                       std::string(key) + "' cannot be stored below it",
                                   "key"});
    }
  }
  return {};
}

// Runs `place(target)` (target = root/key) once key's parent directories
// exist. `place` answers std::nullopt when a directory vanished under it (a
// concurrent remove() pruned it): the directories are made again and `place`
// retried, up to kPutAttempts times.
template <class Place>
Status with_parents(const fs::path& root, std::string_view key, Place&& place) {
  const fs::path target = root / std::string(key);
  for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
    if (auto made = make_parents(root, key); !made) {
      if (std::holds_alternative<Retry>(made.error())) continue;
      return std::unexpected(std::get<Error>(made.error()));
    }
    if (std::optional<Status> done = place(target)) return *std::move(done);
  }
  return fail(Errc::io, "storing '" + std::string(key) + "': its directory kept disappearing (concurrent removes)");
}

Status copy_fd(int from, int to, const std::string& from_name, const std::string& to_name) {
  std::vector<char> buf(kCopyChunkBytes);
  for (;;) {
    const ssize_t n = ::read(from, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("read " + from_name, errno));
    }
    if (n == 0) return {};
    if (auto st = write_all(to, buf.data(), static_cast<std::size_t>(n), to_name); !st) return st;
  }
}

// The error of a failed rename onto an object's path.
Status rename_failure(int e, std::string_view key, const fs::path& target) {
  if (e == ENAMETOOLONG) return fail(Errc::invalid_argument, errno_message("key '" + std::string(key) + "'", e), "key");
  if (e == EISDIR || e == ENOTEMPTY || e == EEXIST) {
    return fail(Errc::conflict, "'" + std::string(key) + "' holds other keys below it, so it cannot be an object",
                "key");
  }
  return fail(Errc::io, errno_message("rename to " + target.string(), e));
}

bool might_match(std::string_view dir_key_prefix, std::string_view prefix) {
  return dir_key_prefix.starts_with(prefix) || prefix.starts_with(dir_key_prefix);
}

Status walk(const fs::path& dir, const std::string& key_prefix, std::string_view prefix, std::vector<ObjectInfo>& out) {
  DirPtr d(::opendir(dir.c_str()));
  if (!d) {
    const int e = errno;
    // Absent: nothing stored there (or pruned by a concurrent remove()).
    if (e == ENOENT || e == ENOTDIR) return {};
    return fail(Errc::io, errno_message("open directory " + dir.string(), e));
  }
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(d.get());
    if (entry == nullptr) {
      if (errno != 0) return fail(Errc::io, errno_message("read directory " + dir.string(), errno));
      return {};
    }
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(d.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return fail(Errc::io, errno_message("stat " + (dir / entry->d_name).string(), errno));
    }
    const std::string key = key_prefix + std::string(name);
    // Names outside the key rules (temporary files, strays) are not objects.
    if (!validate_key(key)) continue;
    if (S_ISDIR(st.st_mode)) {
      const std::string sub = key + "/";
      if (might_match(sub, prefix)) {
        if (auto s = walk(dir / entry->d_name, sub, prefix, out); !s) return s;
      }
    } else if (S_ISREG(st.st_mode) && key.starts_with(prefix)) {
      out.push_back(ObjectInfo{key, static_cast<std::uint64_t>(st.st_size)});
    }
  }
}

}  // namespace

Result<std::unique_ptr<LocalObjectStore>> LocalObjectStore::open(const fs::path& root) {
  if (root.empty() || !root.is_absolute()) {
    return fail(Errc::invalid_argument, "object store directory must be an absolute path, got '" + root.string() + "'");
  }
  fs::path normal = root.lexically_normal();
  if (normal.has_filename() == false && normal != normal.root_path()) normal = normal.parent_path();
  if (auto st = ensure_private_dir(normal, 0700); !st) return std::unexpected(st.error());
  return std::unique_ptr<LocalObjectStore>(new LocalObjectStore(std::move(normal)));
}

template <class Fill>
Status LocalObjectStore::put_with(std::string_view key, Fill&& fill) {
  if (auto st = validate_key(key); !st) return st;
  return with_parents(root_, key, [&](const fs::path& target) -> std::optional<Status> {
    const fs::path parent = target.parent_path();
    const fs::path tmp = parent / ("~tmp-" + random_id(""));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      const int e = errno;
      if (e == ENOENT) return std::nullopt;
      if (e == ENAMETOOLONG)
        return fail(Errc::invalid_argument, errno_message("key '" + std::string(key) + "'", e), "key");
      return fail(Errc::io, errno_message("create " + tmp.string(), e));
    }
    auto cleanup = [&tmp] { ::unlink(tmp.c_str()); };
    if (auto st = fill(fd.get(), tmp.string()); !st) {
      cleanup();
      return st;
    }
    if (::fsync(fd.get()) != 0) {
      const int e = errno;
      cleanup();
      return fail(Errc::io, errno_message("fsync " + tmp.string(), e));
    }
    fd.reset();
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      const int e = errno;
      cleanup();
      return rename_failure(e, key, target);
    }
    return fsync_dir(parent);
  });
}

Status LocalObjectStore::put_file(std::string_view key, const fs::path& source) {
  if (auto st = validate_key(key); !st) return st;
  UniqueFd src(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + source.string(), e));
  }
  struct stat st {};
  if (::fstat(src.get(), &st) != 0) return fail(Errc::io, errno_message("stat " + source.string(), errno));
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, source.string() + " is not a regular file");
  return put_with(key, [&](int fd, const std::string& tmp) -> Status {
    // Each attempt copies from the start of the source.
    if (::lseek(src.get(), 0, SEEK_SET) != 0) return fail(Errc::io, errno_message("seek " + source.string(), errno));
    return copy_fd(src.get(), fd, source.string(), tmp);
  });
}

Status LocalObjectStore::put_handed_over_file(std::string_view key, const fs::path& source, std::string_view) {
  if (auto st = validate_key(key); !st) return st;
  struct stat src_st {};
  {
    UniqueFd src(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!src) {
      const int e = errno;
      return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + source.string(), e));
    }
    if (::fstat(src.get(), &src_st) != 0) return fail(Errc::io, errno_message("stat " + source.string(), errno));
    if (!S_ISREG(src_st.st_mode)) return fail(Errc::invalid_argument, source.string() + " is not a regular file");
    struct stat root_st {};
    if (::stat(root_.c_str(), &root_st) != 0) return fail(Errc::io, errno_message("stat " + root_.string(), errno));
    if (root_st.st_dev != src_st.st_dev) return put_file(key, source);  // another file system: copy
    // Private like every stored object, and on disk before the name is.
    if (::fchmod(src.get(), 0600) != 0) return fail(Errc::io, errno_message("chmod " + source.string(), errno));
    if (::fsync(src.get()) != 0) return fail(Errc::io, errno_message("fsync " + source.string(), errno));
  }
  return with_parents(root_, key, [&](const fs::path& target) -> std::optional<Status> {
    if (::rename(source.c_str(), target.c_str()) == 0) return fsync_dir(target.parent_path());
    const int e = errno;
    if (e == EXDEV) return put_file(key, source);  // a mount point in between
    if (e == ENOENT) {
      struct stat now {};
      if (::lstat(source.c_str(), &now) != 0) return fail(Errc::not_found, source.string() + " disappeared");
      return std::nullopt;  // a concurrent remove() pruned the directory: make it again
    }
    return rename_failure(e, key, target);
  });
}

Status LocalObjectStore::put_bytes(std::string_view key, std::span<const std::byte> data) {
  return put_with(key, [&](int fd, const std::string& tmp) { return write_all(fd, data.data(), data.size(), tmp); });
}

Result<std::uint64_t> LocalObjectStore::read(std::string_view key, ByteRange range, const ByteSink& sink) {
  if (auto st = validate_key(key); !st) return std::unexpected(st.error());
  const fs::path path = root_ / std::string(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int e = errno;
    // A name too long for the file system cannot have been stored either.
    if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG) {
      return fail(Errc::not_found, "no object '" + std::string(key) + "' in " + describe());
    }
    return fail(Errc::io, errno_message("open " + path.string(), e));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errc::io, errno_message("stat " + path.string(), errno));
  if (!S_ISREG(st.st_mode)) return fail(Errc::not_found, "no object '" + std::string(key) + "' in " + describe());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (range.offset > size) {
    return fail(Errc::invalid_argument, "range starts at " + std::to_string(range.offset) + ", past the end of '" +
                                            std::string(key) + "' (" + std::to_string(size) + " bytes)");
  }
  const std::uint64_t length = std::min(range.length.value_or(size - range.offset), size - range.offset);

  std::vector<std::byte> buf(
      static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunkBytes, std::max<std::uint64_t>(length, 1))));
  std::uint64_t done = 0;
  while (done < length) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), length - done));
    const ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(range.offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("read " + path.string(), errno));
    }
    // The descriptor pins the inode; puts replace it by rename, so it cannot
    // shrink unless someone edits the store by hand.
    if (n == 0) return fail(Errc::corrupt, path.string() + " shrank while being read");
    if (!sink(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)))) {
      return fail(Errc::unavailable, "reading '" + std::string(key) + "': stopped by reader");
    }
    done += static_cast<std::uint64_t>(n);
  }
  return done;
}

Result<std::optional<ObjectInfo>> LocalObjectStore::head(std::string_view key) {
  if (auto st = validate_key(key); !st) return std::unexpected(st.error());
  const fs::path path = root_ / std::string(key);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG) return std::optional<ObjectInfo>();
    return fail(Errc::io, errno_message("stat " + path.string(), e));
  }
  if (!S_ISREG(st.st_mode)) return std::optional<ObjectInfo>();
  return std::optional<ObjectInfo>(ObjectInfo{std::string(key), static_cast<std::uint64_t>(st.st_size)});
}

Status LocalObjectStore::remove(std::string_view key) {
  if (auto st = validate_key(key); !st) return st;
  const fs::path path = root_ / std::string(key);
  if (::unlink(path.c_str()) != 0) {
    const int e = errno;
    // Absent, or only a directory of other keys: no object to delete.
    if (e == ENOENT || e == ENOTDIR || e == EISDIR || e == ENAMETOOLONG) return {};
    return fail(Errc::io, errno_message("delete " + path.string(), e));
  }
  fs::path dir = path.parent_path();
  // Make the deletion durable. A concurrent remove() may already have
  // pruned the directory, which makes that moot.
  if (UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); d) {
    if (::fsync(d.get()) != 0) return fail(Errc::io, errno_message("fsync " + dir.string(), errno));
  } else if (errno != ENOENT) {
    return fail(Errc::io, errno_message("open " + dir.string(), errno));
  }
  // Prune directories that became empty; stop at the first that is not
  // (rmdir refuses non-empty ones, so a concurrent put is never harmed).
  while (dir != root_ && dir.string().size() > root_.string().size()) {
    if (::rmdir(dir.c_str()) != 0) break;
    dir = dir.parent_path();
  }
  return {};
}

Result<std::vector<ObjectInfo>> LocalObjectStore::list(std::string_view prefix) {
  if (auto st = validate_prefix(prefix); !st) return std::unexpected(st.error());
  // Start at the deepest directory the prefix names completely.
  const auto slash = prefix.rfind('/');
  const std::string dir_part =
      slash == std::string_view::npos ? std::string() : std::string(prefix.substr(0, slash + 1));
  std::vector<ObjectInfo> out;
  if (auto st = walk(dir_part.empty() ? root_ : root_ / dir_part, dir_part, prefix, out); !st) {
    return std::unexpected(st.error());
  }
  std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

std::string LocalObjectStore::describe() const { return "file://" + root_.string(); }

}  // namespace deskaudit::storage
