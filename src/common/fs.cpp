#include "common/fs.hpp"

#include "common/crypto.hpp"

namespace deskaudit {

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode) {
  const auto tmp = path.parent_path() / ("." + path.filename().string() + "." + random_id("") + ".tmp");
  auto fd = create_new_file(tmp, mode);
  if (!fd) return std::unexpected(fd.error());
  const auto remove_tmp = [&] {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  if (auto st = write_all(fd->get(), data.data(), data.size(), tmp.string()); !st) {
    remove_tmp();
    return st;
  }
  if (auto st = sync_file(fd->get(), tmp.string()); !st) {
    remove_tmp();
    return st;
  }
  fd->reset();
  if (std::error_code ec; std::filesystem::rename(tmp, path, ec), ec) {
    remove_tmp();
    return fail(Errc::io, "rename to " + path.string() + ": " + ec.message());
  }
  return fsync_dir(path.parent_path().empty() ? "." : path.parent_path());
}

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  auto fd = open_for_read(path);
  if (!fd) return std::unexpected(fd.error());
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = read_some(fd->get(), buf, sizeof buf, path.string());
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    if (out.size() + *n > max_bytes) {
      return fail(Errc::too_large, path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, *n);
  }
  return out;
}

}  // namespace deskaudit
