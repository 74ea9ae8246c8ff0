#include "record/segment_files.hpp"

#include <cstdio>

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
    std::error_code ec;
    std::filesystem::remove(segment_path(dir_, seq_, true), ec);
  }
}

Status SegmentFiles::open(std::string_view init_segment, std::int64_t start_ms) {
  if (fd_) return fail(Errc::internal, "segment " + std::to_string(seq_) + " is still open");
  if (next_seq_ < 0 || next_seq_ > 999999) return fail(Errc::invalid_argument, "segment sequence number " + std::to_string(next_seq_) + " outside 0..999999");
  const auto path = segment_path(dir_, next_seq_, true);
  if (std::error_code ec; std::filesystem::exists(segment_path(dir_, next_seq_, false), ec))
    return fail(Errc::conflict, "segment file " + segment_path(dir_, next_seq_, false).string() + " already exists");
  auto fd = create_new_file(path, 0600);
  if (!fd) return std::unexpected(fd.error());
  if (auto st = write_all(fd->get(), init_segment.data(), init_segment.size(), path.string()); !st) return st;
  fd_ = std::move(*fd);
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
  if (auto st = sync_data(fd_.get(), path.string()); !st) return st;
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
  if (auto st = write_at(fd_.get(), offset, be, sizeof be, path.string()); !st) return st;
  if (auto st = sync_data(fd_.get(), path.string()); !st) return st;
  end_ms_ = end_ms;
  return {};
}

Result<std::optional<SegmentClosed>> SegmentFiles::close() {
  if (!fd_) return std::optional<SegmentClosed>{};
  const auto part = segment_path(dir_, seq_, true);
  if (fragments_ == 0) {
    fd_.reset();
    if (std::error_code ec; !std::filesystem::remove(part, ec))
      return fail(Errc::io, "remove " + part.string() + ": " + (ec ? ec.message() : "it is gone"));
    --next_seq_;  // the number is free again
    return std::optional<SegmentClosed>{};
  }
  if (auto st = sync_file(fd_.get(), part.string()); !st) return std::unexpected(st.error());
  fd_.reset();
  const auto final_path = segment_path(dir_, seq_, false);
  if (std::error_code ec; std::filesystem::rename(part, final_path, ec), ec)
    return fail(Errc::io, "rename " + part.string() + ": " + ec.message());
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
