#pragma once
// Fragmented MP4 (ISO/IEC 14496-12) segment files: validation and indexing,
// torn-tail recovery, the HLS playlist of a recording and the whole-recording
// MP4 download.
//
// A segment file = init segment (ftyp + moov with mvex/trex, exactly one
// H.264 video track, sample entry avc1/avc3, and at most one audio track,
// Opus with dOps or AAC-LC as mp4a with esds (a Windows agent may use AAC);
// empty sample tables) followed by whole fragments (moof +
// mdat: a video traf, then with an audio track at most one audio traf, each
// with tfdt and default-base-is-moof or moof-relative data offsets, their
// samples in that order in the mdat). A fragment's timing is its video's. Free/skip boxes may appear between top-level
// boxes; an mfra may close the file. Segment files come from agents and are
// untrusted: every size is checked with overflow-safe arithmetic before use.
//
// Thread safety: all functions are pure (no shared state) and may be called
// concurrently.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace deskaudit::media {

struct Fragment {
  std::uint64_t offset = 0;      // byte offset of the moof in the segment file
  std::uint64_t size = 0;        // moof + mdat bytes
  std::int64_t decode_time = 0;  // tfdt, in timescale units
  std::int64_t duration = 0;     // sum of sample durations, timescale units
  std::uint32_t sample_count = 0;
  bool starts_with_keyframe = false;
};

struct FragmentIndex {
  std::uint64_t init_size = 0;  // bytes of ftyp+moov (everything before the first moof)
  std::uint32_t timescale = 0;  // of the video track (mdhd)
  std::uint32_t track_id = 0;
  int width = 0, height = 0;    // from avc1 (tkhd when avc1 says 0)
  std::string codec;            // RFC 6381 string from avcC, e.g. "avc1.64001f"
  // Additive to the agreed API: the avcC box payload as lowercase hex. Two
  // segments decode with the same init only when their avcC (SPS/PPS) match,
  // which the codec string alone does not show.
  std::string avcc_hex;
  // The audio track, when the file has one (audio_codec empty otherwise).
  std::uint32_t audio_track_id = 0;
  std::uint32_t audio_timescale = 0;
  std::string audio_codec;       // RFC 6381: "opus" or "mp4a.40.2"
  std::string audio_config_hex;  // the dOps or esds payload as lowercase hex
  std::vector<Fragment> fragments;

  bool has_audio() const { return !audio_codec.empty(); }
  // The HLS CODECS value: "avc1.64001f" or "avc1.64001f,opus".
  std::string codecs() const { return has_audio() ? codec + "," + audio_codec : codec; }

  // Media time of the first fragment (its tfdt) in ms; 0 without fragments.
  std::int64_t start_ms() const;
  // Sum of the fragment durations in ms (rounded to nearest).
  std::int64_t duration_ms() const;
};

// Parses and validates a whole segment file. Errors: Errc::corrupt for broken
// structure (the message names the box and its byte offset), Errc::unprocessable
// for well-formed files we do not accept (other codecs, several tracks,
// absolute base-data-offsets, no fragment at all), Errc::io for read failures.
// A segment must hold at least one fragment.
Result<FragmentIndex> index_segment(std::span<const std::byte> file);
// Same for a file on disk; reads only the box headers of mdat payloads.
Result<FragmentIndex> index_segment_file(const std::filesystem::path& path);

// index_segment() of bytes that arrive in pieces (an upload's body), without
// the whole file: keeps only what the index reads (each top-level box's first
// 32 bytes, and whole ftyp/moov/moof/mfra and other non-media boxes of at
// most 16 MiB), so the file need not be read again (it may be written
// O_DIRECT, or sealed by an encrypting store). finish() gives what
// index_segment() would give for all the bytes, or Errc::unprocessable when
// more than 64 MiB would be kept (box metadata no real segment has).
// One instance per segment; not thread-safe.
class SegmentIndexer {
 public:
  void update(std::span<const std::byte> data);
  Result<FragmentIndex> finish() const;

 private:
  struct Piece {
    std::uint64_t offset = 0;
    std::vector<std::byte> bytes;
  };
  void keep(std::span<const std::byte> data);
  void read_header();

  std::vector<Piece> pieces_;
  std::uint64_t pos_ = 0;         // bytes seen
  std::uint64_t kept_ = 0;        // bytes in pieces_
  std::uint64_t keep_until_ = 0;  // bytes before this offset are kept
  std::uint64_t next_box_ = 0;    // where the next top-level box starts
  std::uint64_t header_at_ = 0;   // the box whose header is being read
  bool in_header_ = false;
  bool scanning_ = true;  // false after a box that runs to the end or a broken header
  bool over_ = false;
};

// Crash recovery of a `.part` file: the length of the longest prefix made of
// the init segment and whole, valid fragments. Returns the init size when the
// init is whole but no fragment is (the caller should then drop the file, as
// index_segment rejects a segment without fragments), 0 when even the init
// segment is incomplete. A whole init that is invalid is an error
// (Errc::corrupt/unprocessable): the file was never ours.
Result<std::uint64_t> valid_prefix_length(const std::filesystem::path& path);

// Compact JSON for the catalog:
// {"init_size","timescale","track_id","width","height","codec","avcc",
//  "fragments":[[offset,size,decode_time,duration,sample_count,keyframe(0|1)],...]}
// plus, with an audio track only, "audio":{"track_id","timescale","codec","config"}
// (indexes stored before audio existed read back as video-only).
nlohmann::json to_json(const FragmentIndex& index);
// Validates everything (types, ranges, ordering); Errc::corrupt on failure.
Result<FragmentIndex> fragment_index_from_json(const nlohmann::json& json);

// HLS (RFC 8216, version 7): one media playlist for a recording.
struct PlaylistSegment {
  std::int64_t seq;
  FragmentIndex index;
};
struct PlaylistOptions {
  bool ended = true;  // false: PLAYLIST-TYPE:EVENT without ENDLIST
  std::function<std::string(std::int64_t seq)> segment_uri;  // e.g. "segments/3"
  std::optional<std::int64_t> program_date_time_ms;  // wall time of the recording start
};
// Segments in playback order. One EXT-X-MAP per segment file (init differs per
// file), one entry per fragment. EXTINF values come from cumulative positions
// in timescale units rounded to ms, so they add up exactly to the media time.
// EXT-X-DISCONTINUITY where decode times jump (gap or step back larger than a
// frame) or where the init parameters (codec, size, timescale, avcC) change.
std::string build_hls_playlist(const std::vector<PlaylistSegment>& segments,
                               const PlaylistOptions& opts);

// HLS multivariant (master) playlist: one variant, the media playlist at
// `media_uri`, with BANDWIDTH (the peak fragment bit rate), AVERAGE-BANDWIDTH,
// RESOLUTION (the largest picture) and CODECS naming every track the
// segments hold: the video codec of the highest profile and level
// ("avc1.64001f"), then each audio codec once ("avc1.64001f,opus",
// "avc1.64001f,mp4a.40.2"). Without a fragment yet (a recording that just
// began) CODECS and RESOLUTION are left out and BANDWIDTH is 0: the player
// reads the tracks from the init segment then.
std::string build_hls_master_playlist(const std::vector<PlaylistSegment>& segments, std::string_view media_uri);

// Whole-recording download: a virtual MP4 file assembled from pieces (no copy
// on disk). A piece is either stored bytes (seq set: [offset, offset+size) of
// that segment file) or inline_bytes (seq unset, size == inline_bytes.size()).
struct DownloadPiece {
  std::optional<std::int64_t> seq;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string inline_bytes;
};
struct DownloadPlan {
  std::uint64_t total_size = 0;
  std::vector<DownloadPiece> pieces;
};
// Reads [offset, offset + size) of the stored segment file `seq`.
using SegmentReader =
    std::function<Result<std::string>(std::int64_t seq, std::uint64_t offset, std::uint64_t size)>;
// init_segment = the bytes [0, init_size) of the first segment. The plan's bytes
// are one fragmented MP4: the init with mvhd/tkhd/mdhd durations set and an
// mvex/mehd carrying the total duration, every fragment of every segment in
// order (adjacent fragments merged into one piece), and an mfra index of the
// keyframe fragments for seeking.
// Picture size / SPS / PPS changes (screen resizes) are followed when `read`
// is given: the sample entry becomes avc3 and the first fragment of each
// segment whose avcC differs from the segment before is rewritten (read
// through `read`: its moof and mdat header) so that its first keyframe
// starts with that avcC's SPS/PPS in-band.
// Errc::unprocessable when segments differ in track or timescale, change
// format without `read` (or in a way that cannot be followed), or decode
// times step back; Errc::invalid_argument when init_segment does not match
// segment 0.
Result<DownloadPlan> build_download_plan(std::span<const std::byte> init_segment,
                                         const std::vector<PlaylistSegment>& segments,
                                         const SegmentReader& read = {});

}  // namespace deskaudit::media
