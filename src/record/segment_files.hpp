#pragma once
// The segment files of one recording in its spool directory.
// A segment is `seg-NNNNNN.mp4.part` (0600, created exclusively: an existing
// file is never overwritten) while open, holds the init segment and whole
// fragments, each fsync'd as written, and is renamed to `seg-NNNNNN.mp4`
// (directory fsync'd) when closed.
// Thread safety: one thread at a time.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "record/recorder.hpp"

namespace deskaudit::record {

std::filesystem::path segment_path(const std::filesystem::path& dir, std::int64_t seq, bool part);

class SegmentFiles {
 public:
  SegmentFiles(std::filesystem::path dir, std::int64_t first_seq) : dir_(std::move(dir)), next_seq_(first_seq) {}
  // Leaves an open .part file with fragments in place (valid up to its last
  // fragment, for crash recovery); removes one without any.
  ~SegmentFiles();

  bool is_open() const { return static_cast<bool>(fd_); }
  std::int64_t size_bytes() const { return size_; }
  std::int64_t fragments() const { return fragments_; }
  std::int64_t start_ms() const { return start_ms_; }
  std::int64_t end_ms() const { return end_ms_; }
  std::int64_t seq() const { return seq_; }  // of the open segment

  // Creates the next segment file and writes the init segment into it.
  Status open(std::string_view init_segment, std::int64_t start_ms);
  // Appends one whole fragment (moof+mdat) and fsyncs; end_ms is the media
  // time where its last sample ends.
  Status append(std::string_view fragment, std::int64_t end_ms);
  // Overwrites a 32-bit big-endian field already written (offset from the
  // start of the file, inside its fragments) and fsyncs; the segment now
  // ends at end_ms. For the duration of a last sample written while its
  // picture was still on screen: a 4-byte write inside one sector leaves the
  // file valid with the old value or the new one.
  Status rewrite_u32(std::int64_t offset, std::uint32_t value, std::int64_t end_ms);
  // Closes the open segment: fsync, rename, fsync dir. A segment without a
  // fragment is removed and yields nullopt.
  Result<std::optional<SegmentClosed>> close();

 private:
  std::filesystem::path dir_;
  std::int64_t next_seq_;
  std::int64_t seq_ = -1;
  UniqueFd fd_;
  std::int64_t size_ = 0;
  std::int64_t init_size_ = 0;
  std::int64_t fragments_ = 0;
  std::int64_t start_ms_ = 0;
  std::int64_t end_ms_ = 0;
};

}  // namespace deskaudit::record
