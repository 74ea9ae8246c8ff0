#pragma once
// A small POSIX ustar (POSIX.1-1988) archive writer and reader, enough for
// the evidence package: regular files only, names of at most 100 bytes in
// the name field (no prefix field), sizes in the 11-digit octal field (at
// most 8 GiB - 1 per member), mode, mtime and checksum set, owner 0/0, the
// archive closed by two zero blocks. Any tar(1) reads it.
//
// The writer never copies data: an archive is a plan of headers and members
// whose bytes come from readers, so a server can stream it (and serve byte
// ranges of it) straight from the object store.
// Thread safety: a TarArchive is immutable after plan(); read() may be called
// from several threads when the members' readers may.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::evidence {

inline constexpr std::uint64_t kTarBlock = 512;
inline constexpr std::uint64_t kTarMaxMemberBytes = 077777777777ull;  // 11 octal digits: 8 GiB - 1

// Receives bytes in order; false stops the read.
using TarSink = std::function<bool(std::span<const std::byte>)>;
// Streams [offset, offset + length) of a member's bytes; false on failure.
using MemberReader = std::function<bool(std::uint64_t offset, std::uint64_t length, const TarSink& sink)>;

struct TarMember {
  std::string name;  // relative, '/'-separated, [A-Za-z0-9._/-], at most 100 bytes
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_s = 0;
  MemberReader read;
};

// The 512-byte header of a regular file (mode 0644); invalid_argument for a
// name that is empty, too long, absolute, holds ".." or other characters, or
// a size over kTarMaxMemberBytes.
Result<std::string> tar_header(std::string_view name, std::uint64_t size_bytes, std::int64_t mtime_s);
// Zero bytes after a member of this size up to the next block.
std::uint64_t tar_padding(std::uint64_t size_bytes);
// A reader over bytes held in memory (shared, so the reader may outlive the caller's copy).
MemberReader bytes_reader(std::string bytes);

class TarArchive {
 public:
  // Checks every member (tar_header rules, unique names) and lays them out.
  static Result<TarArchive> plan(std::vector<TarMember> members);
  std::uint64_t size_bytes() const { return total_; }
  // Streams [offset, offset + length) of the archive; false when the range
  // is outside it, a member's reader failed or the sink stopped.
  bool read(std::uint64_t offset, std::uint64_t length, const TarSink& sink) const;

 private:
  struct Part {
    std::uint64_t offset = 0;  // in the archive
    std::uint64_t size = 0;
    std::string inline_bytes;  // header, padding or the end blocks
    const TarMember* member = nullptr;  // data of this member otherwise
  };
  std::shared_ptr<std::vector<TarMember>> members_;
  std::vector<Part> parts_;
  std::uint64_t total_ = 0;
};

// Unpacks a ustar archive file into dir (created 0755 if absent): regular
// files and directories only, names checked as for tar_header (no absolute
// path, no "..", no links), every header checksum verified, every size
// checked against what is left of the file; at most max_members members.
// Files are written 0644; an existing file of the same name is replaced.
// corrupt naming the member or offset on a malformed archive. Returns the
// names of the files written, in archive order.
Result<std::vector<std::string>> untar(const std::filesystem::path& archive, const std::filesystem::path& dir,
                                       std::size_t max_members = 1'000'000);

}  // namespace deskaudit::evidence
