#include "record/segment_files.hpp"

#include <cstdio>

namespace deskaudit::record {

std::filesystem::path segment_path(const std::filesystem::path& dir, std::int64_t seq, bool part) {
  char name[48];
  std::snprintf(name, sizeof name, "seg-%06lld.mp4%s", static_cast<long long>(seq), part ? ".part" : "");
  return dir / name;
}

namespace {

std::uint64_t get_be(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

void put_be(std::string& b, std::size_t at, int bytes, std::uint64_t v) {
  for (int i = bytes - 1; i >= 0; --i) {
    b[at + static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

// Calls fn(type, body_begin, end) for each box in [begin, end).
template <class Fn>
Status each_box(const std::string& b, std::size_t begin, std::size_t end, Fn&& fn) {
  std::size_t at = begin;
  while (at < end) {
    if (end - at < 8) return fail(Errc::corrupt, "truncated box header at byte " + std::to_string(at));
    std::uint64_t size = get_be(b, at, 4);
    std::size_t header = 8;
    if (size == 1) {
      if (end - at < 16) return fail(Errc::corrupt, "truncated box header at byte " + std::to_string(at));
      size = get_be(b, at + 8, 8);
      header = 16;
    } else if (size == 0) {
      size = end - at;
    }
    if (size < header || size > end - at) return fail(Errc::corrupt, "bad box size at byte " + std::to_string(at));
    if (auto st = fn(b.substr(at + 4, 4), at + header, at + static_cast<std::size_t>(size)); !st) return st;
    at += static_cast<std::size_t>(size);
  }
  return {};
}

}  // namespace

Status rebase_fragments(std::string& bytes, std::int64_t by_ms) {
  if (by_ms == 0) return {};
  if (by_ms < 0) return fail(Errc::invalid_argument, "negative rebase");
  return each_box(bytes, 0, bytes.size(), [&](const std::string& type, std::size_t b, std::size_t e) -> Status {
    if (type != "moof") return {};
    int trafs = 0;
    return each_box(bytes, b, e, [&](const std::string& t2, std::size_t b2, std::size_t e2) -> Status {
      if (t2 != "traf") return {};
      if (++trafs > 1) return fail(Errc::invalid_argument, "rebasing a fragment with more than one track");
      return each_box(bytes, b2, e2, [&](const std::string& t3, std::size_t b3, std::size_t e3) -> Status {
        if (t3 != "tfdt") return {};
        if (e3 - b3 < 8) return fail(Errc::corrupt, "truncated tfdt");
        const bool v1 = bytes[b3] == 1;
        if (v1 && e3 - b3 < 12) return fail(Errc::corrupt, "truncated tfdt");
        const int width = v1 ? 8 : 4;
        const std::uint64_t t = get_be(bytes, b3 + 4, width);
        if (t < static_cast<std::uint64_t>(by_ms)) {
          return fail(Errc::invalid_argument, "a fragment at " + std::to_string(t) + " ms lies before the new origin " +
                                                  std::to_string(by_ms) + " ms");
        }
        put_be(bytes, b3 + 4, width, t - static_cast<std::uint64_t>(by_ms));
        return {};
      });
    });
  });
}

Status SegmentFiles::commit_to_files(std::filesystem::path dir, std::int64_t first_seq, std::int64_t origin_ms) {
  if (!ring_) return fail(Errc::internal, "the segments are files already");
  if (mem_open_ && fragments_ > 0) return fail(Errc::internal, "the open segment has fragments: close it first");
  ring_ = nullptr;
  mem_open_ = false;
  mem_.clear();
  dir_ = std::move(dir);
  next_seq_ = first_seq;
  origin_ms_ = origin_ms;
  return {};
}

Status SegmentFiles::open_whole(RingSegment segment) {
  if (ring_) return fail(Errc::internal, "open_whole in memory mode");
  if (auto st = rebase_fragments(segment.bytes, origin_ms_); !st) return st;
  // The init segment is written by open(); the rest as one append.
  if (auto st = open(std::string_view(), segment.start_ms); !st) return st;
  if (auto st = append(segment.bytes, segment.end_ms, false); !st) return st;
  init_size_ = 0;
  fragments_ = segment.fragments;
  return {};
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
  if (fd_ || mem_open_) return fail(Errc::internal, "segment " + std::to_string(seq_) + " is still open");
  if (ring_) {
    mem_.assign(init_segment);
    mem_open_ = true;
    size_ = init_size_ = static_cast<std::int64_t>(init_segment.size());
    fragments_ = 0;
    start_ms_ = end_ms_ = start_ms;
    return {};
  }
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

Status SegmentFiles::append(std::string_view fragment, std::int64_t end_ms, bool rebase) {
  if (mem_open_) {
    mem_.append(fragment);
    size_ += static_cast<std::int64_t>(fragment.size());
    ++fragments_;
    end_ms_ = end_ms;
    return {};
  }
  if (!fd_) return fail(Errc::internal, "no open segment");
  const auto path = segment_path(dir_, seq_, true);
  std::string rebased;
  if (rebase && origin_ms_ != 0) {
    rebased.assign(fragment);
    if (auto st = rebase_fragments(rebased, origin_ms_); !st) return st;
    fragment = rebased;
  }
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
  if (!fd_ && !mem_open_) return fail(Errc::internal, "no open segment");
  if (offset < init_size_ || offset > size_ - 4) return fail(Errc::internal, "rewrite outside the fragments");
  if (mem_open_) {
    put_be(mem_, static_cast<std::size_t>(offset), 4, value);
    end_ms_ = end_ms;
    return {};
  }
  const auto path = segment_path(dir_, seq_, true);
  const unsigned char be[4] = {static_cast<unsigned char>(value >> 24), static_cast<unsigned char>(value >> 16),
                               static_cast<unsigned char>(value >> 8), static_cast<unsigned char>(value)};
  if (auto st = write_at(fd_.get(), offset, be, sizeof be, path.string()); !st) return st;
  if (auto st = sync_data(fd_.get(), path.string()); !st) return st;
  end_ms_ = end_ms;
  return {};
}

Result<std::optional<SegmentClosed>> SegmentFiles::close() {
  if (mem_open_) {
    mem_open_ = false;
    if (fragments_ > 0) ring_->push(RingSegment{std::move(mem_), start_ms_, end_ms_, fragments_});
    mem_.clear();
    return std::optional<SegmentClosed>{};
  }
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
  closed.start_offset_ms = start_ms_ - origin_ms_;
  closed.duration_ms = end_ms_ - start_ms_;
  return std::optional<SegmentClosed>{closed};
}

}  // namespace deskaudit::record
