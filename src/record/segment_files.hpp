#pragma once
// The segment files of one recording in its spool directory.
// A segment is `seg-NNNNNN.mp4.part` (0600, created exclusively: an existing
// file is never overwritten) while open, holds the init segment and whole
// fragments, each fsync'd as written, and is renamed to `seg-NNNNNN.mp4`
// (directory fsync'd) when closed.
// Before commit_to_files() a SegmentFiles given a PreEventRing writes no
// file: the open segment is built in memory and close() hands it to the
// ring (event-triggered recording, pre_event_ring.hpp).
// Thread safety: one thread at a time.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "record/pre_event_ring.hpp"
#include "record/recorder.hpp"

namespace deskaudit::record {

std::filesystem::path segment_path(const std::filesystem::path& dir, std::int64_t seq, bool part);

// Moves the media time of every fragment (moof/traf/tfdt) in `bytes` (an init
// segment and fragments, or fragments) back by `by_ms`, in place: a recording
// cut out of the pre-event ring starts at media time 0. Video track in ms
// only (the recorder's fragments of a video-only file); refuses anything else
// and a time that would become negative.
Status rebase_fragments(std::string& bytes, std::int64_t by_ms);

class SegmentFiles {
 public:
  SegmentFiles(std::filesystem::path dir, std::int64_t first_seq) : dir_(std::move(dir)), next_seq_(first_seq) {}
  // Until commit_to_files(): segments go to `ring` (which must outlive this).
  void buffer_in(PreEventRing* ring) { ring_ = ring; }
  bool in_memory() const { return ring_ != nullptr; }
  // Leaves memory mode: from now on segments are files in dir, numbered from
  // first_seq, and their media times (fragments, SegmentClosed) are moved back
  // by origin_ms. The open segment (which must hold no fragment yet) is
  // dropped: the caller opens it again with open().
  Status commit_to_files(std::filesystem::path dir, std::int64_t first_seq, std::int64_t origin_ms);
  // Opens the next segment file with a whole ring segment in it (rebased);
  // close() it next.
  Status open_whole(RingSegment segment);
  std::int64_t origin_ms() const { return origin_ms_; }
  // Leaves an open .part file with fragments in place (valid up to its last
  // fragment, for crash recovery); removes one without any.
  ~SegmentFiles();

  bool is_open() const { return static_cast<bool>(fd_) || mem_open_; }
  std::int64_t size_bytes() const { return size_; }
  std::int64_t fragments() const { return fragments_; }
  std::int64_t start_ms() const { return start_ms_; }
  std::int64_t end_ms() const { return end_ms_; }
  std::int64_t seq() const { return seq_; }  // of the open segment

  // Creates the next segment file and writes the init segment into it.
  Status open(std::string_view init_segment, std::int64_t start_ms);
  // Appends one whole fragment (moof+mdat) and fsyncs; end_ms is the media
  // time where its last sample ends.
  // Fragments are rebased by origin_ms (commit_to_files) unless rebase is false.
  Status append(std::string_view fragment, std::int64_t end_ms, bool rebase = true);
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
  PreEventRing* ring_ = nullptr;
  bool mem_open_ = false;
  std::string mem_;  // the open segment while in memory
  std::int64_t origin_ms_ = 0;
};

}  // namespace deskaudit::record
