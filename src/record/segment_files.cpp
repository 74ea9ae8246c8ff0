#include "record/segment_files.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace deskaudit::record {

std::filesystem::path segment_path(const std::filesystem::path& dir, std::int64_t seq, bool part) {
  char name[48];
  std::snprintf(name, sizeof name, "seg-%06lld.mp4%s", static_cast<long long>(seq), part ? ".part" : "");
  return dir / name;
}

SegmentFiles::~SegmentFiles() {
  // A segment that never got a fragment holds no recording: leave no file.
  if (fd_ && fragments_ == 0) {
    fd_.reset();
    ::unlink(segment_path(dir_, seq_, true).c_str());
  }
}

Status SegmentFiles::open(std::string_view init_segment, std::int64_t start_ms) {
  if (fd_) return fail(Errc::internal, "segment " + std::to_string(seq_) + " is still open");
  if (next_seq_ < 0 || next_seq_ > 999999) return fail(Errc::invalid_argument, "segment sequence number " + std::to_string(next_seq_) + " outside 0..999999");
  const auto path = segment_path(dir_, next_seq_, true);
  if (std::error_code ec; std::filesystem::exists(segment_path(dir_, next_seq_, false), ec))
    return fail(Errc::conflict, "segment file " + segment_path(dir_, next_seq_, false).string() + " already exists");
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail(errno == EEXIST ? Errc::conflict : Errc::io, errno_message("create " + path.string(), errno));
  if (auto st = write_all(fd.get(), init_segment.data(), init_segment.size(), path.string()); !st) return st;
  fd_ = std::move(fd);
  seq_ = next_seq_++;
  size_ = init_size_ = static_cast<std::int64_t>(init_segment.size());
  fragments_ = 0;
  start_ms_ = end_ms_ = start_ms;
  return {};
}

Status SegmentFiles::append(std::string_view fragment, std::int64_t end_ms) {
  if (!fd_) return fail(Errc::internal, "no open segment");
  const auto path = segment_path(dir_, seq_, true);
  if (auto st = write_all(fd_.get(), fragment.data(), fragment.size(), path.string()); !st) return st;
  // Each fragment is durable before the next one is made: a crash loses at
  // most the fragment being built.
  if (::fdatasync(fd_.get()) != 0) return fail(Errc::io, errno_message("fsync " + path.string(), errno));
  size_ += static_cast<std::int64_t>(fragment.size());
  ++fragments_;
  end_ms_ = end_ms;
  return {};
}

Status SegmentFiles::rewrite_u32(std::int64_t offset, std::uint32_t value, std::int64_t end_ms) {
  if (!fd_) return fail(Errc::internal, "no open segment");
  if (offset < init_size_ || offset > size_ - 4) return fail(Errc::internal, "rewrite outside the fragments");
  const auto path = segment_path(dir_, seq_, true);
  const unsigned char be[4] = {static_cast<unsigned char>(value >> 24), static_cast<unsigned char>(value >> 16),
                               static_cast<unsigned char>(value >> 8), static_cast<unsigned char>(value)};
  ssize_t n = 0;
  do {
    n = ::pwrite(fd_.get(), be, sizeof be, static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof be))
    return fail(Errc::io, errno_message("write " + path.string(), n < 0 ? errno : EIO));
  if (::fdatasync(fd_.get()) != 0) return fail(Errc::io, errno_message("fsync " + path.string(), errno));
  end_ms_ = end_ms;
  return {};
}

Result<std::optional<SegmentClosed>> SegmentFiles::close() {
  if (!fd_) return std::optional<SegmentClosed>{};
  const auto part = segment_path(dir_, seq_, true);
  if (fragments_ == 0) {
    fd_.reset();
    if (::unlink(part.c_str()) != 0) return fail(Errc::io, errno_message("remove " + part.string(), errno));
    --next_seq_;  // the number is free again
    return std::optional<SegmentClosed>{};
  }
  if (::fsync(fd_.get()) != 0) return fail(Errc::io, errno_message("fsync " + part.string(), errno));
  fd_.reset();
  const auto final_path = segment_path(dir_, seq_, false);
  if (::rename(part.c_str(), final_path.c_str()) != 0)
    return fail(Errc::io, errno_message("rename " + part.string(), errno));
  if (auto st = fsync_dir(dir_); !st) return std::unexpected(st.error());
  SegmentClosed closed;
  closed.seq = seq_;
  closed.path = final_path;
  closed.size_bytes = size_;
  closed.start_offset_ms = start_ms_;
  closed.duration_ms = end_ms_ - start_ms_;
  return std::optional<SegmentClosed>{closed};
}

}  // namespace deskaudit::record
