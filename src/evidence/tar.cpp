#include "evidence/tar.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "common/fs.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::evidence {
namespace {

// The ustar header fields used (offset, length).
constexpr std::size_t kName = 0, kMode = 100, kUid = 108, kGid = 116, kSize = 124, kMtime = 136, kChksum = 148,
                      kType = 156, kMagic = 257, kVersion = 263;

Status check_name(std::string_view name) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, "tar member name \"" + std::string(name.substr(0, 120)) + "\": " +
                                            std::string(why));
  };
  if (name.empty() || name.size() > 100) return bad("must be 1 to 100 bytes");
  if (name.front() == '/') return bad("must be relative");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/';
    if (!ok) return bad("may hold only [A-Za-z0-9._/-]");
  }
  std::string_view rest = name;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const auto part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return bad("has an empty, \".\" or \"..\" component");
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
  }
  return {};
}

void put_octal(std::string& block, std::size_t at, std::size_t width, std::uint64_t value) {
  // width - 1 digits and a NUL.
  for (std::size_t i = width - 1; i-- > 0;) {
    block[at + i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  block[at + width - 1] = '\0';
}

std::uint32_t checksum(std::string_view block) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < kTarBlock; ++i) {
    sum += (i >= kChksum && i < kChksum + 8) ? ' ' : static_cast<unsigned char>(block[i]);
  }
  return sum;
}

// An octal field (spaces and NULs around digits allowed, as tar writers vary).
std::optional<std::uint64_t> get_octal(std::string_view block, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  bool digits = false, done = false;
  for (std::size_t i = at; i < at + width; ++i) {
    const char c = block[i];
    if (c >= '0' && c <= '7' && !done) {
      if (v > (UINT64_MAX >> 3)) return std::nullopt;
      v = v * 8 + static_cast<std::uint64_t>(c - '0');
      digits = true;
    } else if (c == ' ' || c == '\0') {
      done = digits;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  return v;
}

}  // namespace

Result<std::string> tar_header(std::string_view name, std::uint64_t size_bytes, std::int64_t mtime_s) {
  if (auto st = check_name(name); !st) return std::unexpected(st.error());
  if (size_bytes > kTarMaxMemberBytes) {
    return fail(Errc::too_large, "tar member " + std::string(name) + " is " + std::to_string(size_bytes) +
                                     " bytes; a ustar member holds at most 8 GiB - 1");
  }
  std::string block(kTarBlock, '\0');
  std::memcpy(block.data() + kName, name.data(), name.size());
  put_octal(block, kMode, 8, 0644);
  put_octal(block, kUid, 8, 0);
  put_octal(block, kGid, 8, 0);
  put_octal(block, kSize, 12, size_bytes);
  put_octal(block, kMtime, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(0, mtime_s)) & 077777777777ull);
  block[kType] = '0';
  std::memcpy(block.data() + kMagic, "ustar", 6);  // with its NUL
  std::memcpy(block.data() + kVersion, "00", 2);
  // Six octal digits, NUL, space: what POSIX tar writes.
  const auto sum = checksum(block);
  put_octal(block, kChksum, 7, sum);
  block[kChksum + 7] = ' ';
  return block;
}

std::uint64_t tar_padding(std::uint64_t size_bytes) { return (kTarBlock - size_bytes % kTarBlock) % kTarBlock; }

MemberReader bytes_reader(std::string bytes) {
  auto shared = std::make_shared<const std::string>(std::move(bytes));
  return [shared](std::uint64_t offset, std::uint64_t length, const TarSink& sink) {
    if (offset > shared->size() || length > shared->size() - offset) return false;
    return sink(std::as_bytes(std::span(shared->data() + offset, length)));
  };
}

Result<TarArchive> TarArchive::plan(std::vector<TarMember> members) {
  TarArchive a;
  a.members_ = std::make_shared<std::vector<TarMember>>(std::move(members));
  std::set<std::string> names;
  std::uint64_t pos = 0;
  for (const auto& m : *a.members_) {
    if (!names.insert(m.name).second) return fail(Errc::invalid_argument, "tar member " + m.name + " appears twice");
    auto header = tar_header(m.name, m.size_bytes, m.mtime_s);
    if (!header) return std::unexpected(header.error());
    a.parts_.push_back({pos, kTarBlock, std::move(*header), nullptr});
    pos += kTarBlock;
    if (m.size_bytes > 0) a.parts_.push_back({pos, m.size_bytes, {}, &m});
    pos += m.size_bytes;  // at most 8 GiB per member: no overflow for any realistic count
    if (const auto pad = tar_padding(m.size_bytes); pad > 0) {
      a.parts_.push_back({pos, pad, std::string(pad, '\0'), nullptr});
      pos += pad;
    }
  }
  a.parts_.push_back({pos, 2 * kTarBlock, std::string(2 * kTarBlock, '\0'), nullptr});
  a.total_ = pos + 2 * kTarBlock;
  return a;
}

bool TarArchive::read(std::uint64_t offset, std::uint64_t length, const TarSink& sink) const {
  if (offset > total_ || length > total_ - offset) return false;
  const std::uint64_t end = offset + length;
  // The first part that ends after offset.
  auto it = std::upper_bound(parts_.begin(), parts_.end(), offset,
                             [](std::uint64_t at, const Part& p) { return at < p.offset + p.size; });
  for (; it != parts_.end() && it->offset < end; ++it) {
    const std::uint64_t from = std::max(offset, it->offset) - it->offset;
    const std::uint64_t to = std::min(end, it->offset + it->size) - it->offset;
    if (it->member == nullptr) {
      if (!sink(std::as_bytes(std::span(it->inline_bytes.data() + from, to - from)))) return false;
    } else if (!it->member->read(from, to - from, sink)) {
      return false;
    }
  }
  return true;
}

Result<std::vector<std::string>> untar(const std::filesystem::path& archive, const std::filesystem::path& dir,
                                       std::size_t max_members) {
  UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(Errc::io, errno_message("open " + archive.string(), errno));
  const auto file_size = static_cast<std::uint64_t>(::lseek(fd.get(), 0, SEEK_END));
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return fail(Errc::io, errno_message("seek " + archive.string(), errno));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, "create " + dir.string() + ": " + ec.message());
  const auto read_exact = [&](char* buf, std::size_t n) -> Status {
    std::size_t got = 0;
    while (got < n) {
      const auto r = ::read(fd.get(), buf + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return fail(Errc::io, errno_message("read " + archive.string(), errno));
      if (r == 0) return fail(Errc::corrupt, archive.string() + " ends in the middle of a member");
      got += static_cast<std::size_t>(r);
    }
    return {};
  };
  std::vector<std::string> written;
  std::uint64_t pos = 0;
  std::string block(kTarBlock, '\0');
  for (;;) {
    const auto where = archive.string() + " at byte " + std::to_string(pos);
    if (file_size - pos < kTarBlock) return fail(Errc::corrupt, where + ": no end-of-archive blocks");
    if (auto st = read_exact(block.data(), kTarBlock); !st) return std::unexpected(st.error());
    pos += kTarBlock;
    if (std::all_of(block.begin(), block.end(), [](char c) { return c == '\0'; })) return written;
    if (written.size() >= max_members) return fail(Errc::too_large, where + ": more than " + std::to_string(max_members) + " members");
    const auto stored_sum = get_octal(block, kChksum, 8);
    if (!stored_sum || *stored_sum != checksum(block)) return fail(Errc::corrupt, where + ": bad header checksum");
    const auto size = get_octal(block, kSize, 12);
    if (!size || *size > file_size - pos) return fail(Errc::corrupt, where + ": member size out of range");
    std::string name(block.data() + kName, strnlen(block.data() + kName, 100));
    const bool prefixed = block[345] != '\0';
    const char type = block[kType];
    if (prefixed) return fail(Errc::corrupt, where + ": long names (ustar prefix) are not expected here");
    const bool is_dir = type == '5';
    if (is_dir && name.ends_with('/')) name.pop_back();
    if (auto st = check_name(name); !st) return fail(Errc::corrupt, where + ": " + st.error().message);
    if (type != '0' && type != '\0' && !is_dir) {
      return fail(Errc::corrupt, where + ": member " + name + " is not a regular file or directory");
    }
    const auto target = dir / name;
    if (is_dir) {
      std::filesystem::create_directories(target, ec);
      if (ec) return fail(Errc::io, "create " + target.string() + ": " + ec.message());
      continue;
    }
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return fail(Errc::io, "create " + target.parent_path().string() + ": " + ec.message());
    const auto tmp = std::filesystem::path(target).concat(".part");
    UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!out) return fail(Errc::io, errno_message("create " + tmp.string(), errno));
    std::string buf;
    for (std::uint64_t left = *size; left > 0;) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 20)));
      if (auto st = read_exact(buf.data(), buf.size()); !st) return std::unexpected(st.error());
      if (auto st = write_all(out.get(), buf.data(), buf.size(), tmp.string()); !st) return std::unexpected(st.error());
      left -= buf.size();
    }
    out.reset();
    std::filesystem::rename(tmp, target, ec);
    if (ec) return fail(Errc::io, "rename " + tmp.string() + ": " + ec.message());
    pos += *size;
    const auto pad = tar_padding(*size);
    if (pad > file_size - pos) return fail(Errc::corrupt, archive.string() + ": member " + name + " is cut short");
    if (::lseek(fd.get(), static_cast<off_t>(pad), SEEK_CUR) < 0) return fail(Errc::io, errno_message("seek", errno));
    pos += pad;
    written.push_back(std::move(name));
  }
}

}  // namespace deskaudit::evidence
