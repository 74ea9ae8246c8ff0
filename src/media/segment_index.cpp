// Validation and indexing of fragmented MP4 segment files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <limits>

#include <fmt/format.h>

#include "common/fs.hpp"
#include "media/box.hpp"
#include "media/fmp4.hpp"
#include "media/init.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::media {

using namespace detail;

namespace {

// moov and moof are read whole into memory; real ones are a few KiB (a moof
// of a 1-minute fragment at 30 fps is ~30 KiB), so this only stops abuse.
constexpr std::uint64_t kMaxMetaBoxBytes = 16u << 20;
constexpr std::uint64_t kMaxSamplesPerFragment = 1u << 20;
// The smallest fragment parse_fragment accepts: moof header 8 + mfhd 8 +
// traf header 8 + tfhd 16 + tfdt 16 + trun with a data offset 20, mdat
// header 8 and one sample of a 1-byte NAL length and a NAL header. Bounds the
// fragments of a segment (and so its index row and playlist) by its size.
constexpr std::uint64_t kMinFragmentBytes = 8 + 8 + 8 + 16 + 16 + 20 + 8 + 2;
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Random access to the bytes of a segment: memory or a file.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::uint64_t size() const = 0;
  // Up to n bytes at offset (fewer at the end). Valid until the next read.
  virtual Result<std::span<const std::byte>> read(std::uint64_t offset, std::size_t n) = 0;
};

class SpanSource final : public Source {
 public:
  explicit SpanSource(std::span<const std::byte> data) : data_(data) {}
  std::uint64_t size() const override { return data_.size(); }
  Result<std::span<const std::byte>> read(std::uint64_t offset, std::size_t n) override {
    if (offset >= data_.size()) return std::span<const std::byte>{};
    const auto off = static_cast<std::size_t>(offset);
    return data_.subspan(off, std::min(n, data_.size() - off));
  }

 private:
  std::span<const std::byte> data_;
};

class FileSource final : public Source {
 public:
  static Result<FileSource> open(const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Errc::io, errno_message("open " + path.string(), errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(Errc::io, errno_message("stat " + path.string(), errno));
    if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, path.string() + " is not a regular file");
    return FileSource(std::move(fd), static_cast<std::uint64_t>(st.st_size), path);
  }
  std::uint64_t size() const override { return size_; }
  Result<std::span<const std::byte>> read(std::uint64_t offset, std::size_t n) override {
    if (offset >= size_) return std::span<const std::byte>{};
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size_ - offset));
    buf_.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_.get(), buf_.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return fail(Errc::io, errno_message("read " + path_.string(), errno));
      if (r == 0) break;  // the file shrank under us: report what is there
      got += static_cast<std::size_t>(r);
    }
    return std::span<const std::byte>(buf_.data(), got);
  }

 private:
  FileSource(UniqueFd fd, std::uint64_t size, std::filesystem::path path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::filesystem::path path_;
  std::vector<std::byte> buf_;
};

// One track's fragment (a traf): its defaults and the smallest sample it may hold.
struct TrackRules {
  std::uint32_t track_id = 0;
  std::uint32_t trex_duration = 0, trex_size = 0, trex_flags = 0;
  std::uint64_t min_sample = 1;
  const char* what = "H.264";  // in messages: "an H.264 sample holds at least ..."
};

struct TrafResult {
  std::uint64_t decode_time = 0;
  std::uint64_t duration = 0;
  std::uint64_t samples = 0;
  std::optional<std::uint32_t> first_flags;
};

// Walks one traf whose sample data starts at `cursor` in the mdat payload
// [payload_begin, payload_end), and advances the cursor past it.
Result<TrafResult> parse_traf(const Box& moof, const Box& traf_box, const std::vector<Box>& tkids_in,
                              const BoxHeader& mdat, const TrackRules& rules, std::uint64_t& cursor) {
  const auto* traf = &traf_box;
  const auto* tkids = &tkids_in;
  auto tfhd = only_child(*tkids, fourcc("tfhd"), *traf);
  if (!tfhd) return std::unexpected(tfhd.error());
  auto tfdt = only_child(*tkids, fourcc("tfdt"), *traf);
  if (!tfdt) return std::unexpected(tfdt.error());

  ByteReader th(tfhd->payload);
  const std::uint32_t tf_flags = th.u32() & 0xffffff;
  th.u32();  // track_ID, matched by the caller
  if (tf_flags & 0x000001) {
    return box_error(Errc::unprocessable, tfhd->header,
                     "absolute base-data-offset is not supported (write with default-base-is-moof)");
  }
  if (tf_flags & 0x010000) return box_error(Errc::unprocessable, tfhd->header, "empty fragment (duration-is-empty)");
  if (tf_flags & 0x000002) th.u32();  // sample_description_index
  std::uint32_t def_duration = rules.trex_duration, def_size = rules.trex_size, def_flags = rules.trex_flags;
  if (tf_flags & 0x000008) def_duration = th.u32();
  if (tf_flags & 0x000010) def_size = th.u32();
  if (tf_flags & 0x000020) def_flags = th.u32();
  if (!th.ok()) return box_error(Errc::corrupt, tfhd->header, "too short for its flags");

  ByteReader td(tfdt->payload);
  const std::uint8_t tfdt_version = td.u8();
  td.u24();
  const std::uint64_t decode_time = tfdt_version == 1 ? td.u64() : td.u32();
  if (!td.ok() || tfdt_version > 1) return box_error(Errc::corrupt, tfdt->header, "malformed");
  if (decode_time > std::uint64_t(kInt64Max)) return box_error(Errc::corrupt, tfdt->header, "decode time out of range");

  // Sample data must fill the mdat payload exactly, run after run, in order.
  const std::uint64_t payload_begin = mdat.offset + mdat.header_size;
  const std::uint64_t payload_end = mdat.offset + mdat.size;
  const std::uint64_t base = moof.header.offset;  // default-base-is-moof, or implied for one traf
  std::uint64_t prev_end = base;
  std::uint64_t total_duration = 0;
  std::uint64_t total_samples = 0;
  std::optional<std::uint32_t> first_flags;
  int trun_count = 0;
  const std::uint64_t min_sample = rules.min_sample;
  for (const auto& box : *tkids) {
    if (box.type() != fourcc("trun")) continue;
    ++trun_count;
    ByteReader tr(box.payload);
    tr.u8();  // version: only changes the sign of composition offsets
    const std::uint32_t flags = tr.u24();
    const std::uint32_t count = tr.u32();
    std::uint64_t start = prev_end;
    if (flags & 0x001) {
      const auto data_offset = static_cast<std::int32_t>(tr.u32());
      if (data_offset < 0) {
        const std::uint64_t back = std::uint64_t(-std::int64_t(data_offset));
        if (back > base) return box_error(Errc::corrupt, box.header, "data offset points before the file");
        start = base - back;
      } else {
        start = base + std::uint64_t(data_offset);  // base < 2^63, offset < 2^31
      }
    }
    std::optional<std::uint32_t> run_first_flags;
    if (flags & 0x004) run_first_flags = tr.u32();
    if (!tr.ok()) return box_error(Errc::corrupt, box.header, "too short for its flags");
    const std::uint64_t record = 4u * std::uint64_t(std::popcount(flags & 0xf00u));
    if (std::uint64_t(count) * record > tr.remaining()) {
      return box_error(Errc::corrupt, box.header,
                       fmt::format("sample_count {} needs {} bytes, {} present", count,
                                   std::uint64_t(count) * record, tr.remaining()));
    }
    total_samples += count;
    if (total_samples > kMaxSamplesPerFragment) {
      return box_error(Errc::corrupt, box.header, fmt::format("more than {} samples", kMaxSamplesPerFragment));
    }
    if (start < payload_begin || start > payload_end) {
      return box_error(Errc::corrupt, box.header,
                       fmt::format("sample data at offset {} is outside its mdat [{}, {})", start,
                                   payload_begin, payload_end));
    }
    if (start != cursor) {
      return box_error(Errc::corrupt, box.header,
                       fmt::format("sample data at offset {} does not follow the previous data (expected {})",
                                   start, cursor));
    }
    if (!(flags & 0x200) && count > 0 && def_size < min_sample) {
      return box_error(Errc::corrupt, box.header,
                       fmt::format("its {} samples would be {} bytes each (default sample size; an {} "
                                   "sample holds at least {} bytes)",
                                   count, def_size, rules.what, min_sample));
    }
    // Every sample holds at least one length-prefixed NAL unit, so the bytes
    // left in the mdat bound the sample count before any per-sample work.
    const std::uint64_t room = payload_end - start;
    if (count > room / min_sample) {
      return box_error(Errc::corrupt, box.header,
                       fmt::format("sample_count {} does not fit the {} bytes left in its mdat at offset {} "
                                   "(an {} sample holds at least {} bytes)",
                                   count, room, mdat.offset, rules.what, min_sample));
    }
    std::uint64_t run_bytes = 0;
    std::uint64_t run_duration = 0;
    if (!(flags & 0x200)) {
      if (mul_overflows(def_size, count, run_bytes) || run_bytes > room) {
        return box_error(Errc::corrupt, box.header,
                         fmt::format("sample data runs past the end of its mdat at offset {}", mdat.offset));
      }
    }
    if (!(flags & 0x100) && mul_overflows(def_duration, count, run_duration)) {
      return box_error(Errc::corrupt, box.header, "run duration out of range");
    }
    std::optional<std::uint32_t> sample0_flags;
    // Only runs that carry per-sample fields are walked; their records were
    // checked above to be present in the trun, so this loop is bounded by it.
    if (flags & 0xf00u) {
      for (std::uint32_t i = 0; i < count; ++i) {
        if (flags & 0x100) run_duration += tr.u32();  // < 2^20 samples * 2^32: no overflow
        if (flags & 0x200) {
          const std::uint32_t size = tr.u32();
          if (size < min_sample) {
            return box_error(Errc::corrupt, box.header,
                             fmt::format("sample {} is {} bytes (an {} sample holds at least {} bytes)", i,
                                         size, rules.what, min_sample));
          }
          run_bytes += size;
          if (run_bytes > room) {
            return box_error(Errc::corrupt, box.header,
                             fmt::format("sample data runs past the end of its mdat at offset {}", mdat.offset));
          }
        }
        if (flags & 0x400) {
          const std::uint32_t sflags = tr.u32();
          if (i == 0) sample0_flags = sflags;
        }
        if (flags & 0x800) tr.u32();
      }
    }
    if (count > 0 && !first_flags) first_flags = run_first_flags ? *run_first_flags : sample0_flags.value_or(def_flags);
    if (add_overflows(total_duration, run_duration, total_duration)) {
      return box_error(Errc::corrupt, box.header, "fragment duration out of range");
    }
    cursor = prev_end = start + run_bytes;
  }
  if (trun_count == 0) return box_error(Errc::corrupt, traf->header, "has no 'trun' box");
  if (total_samples == 0) return box_error(Errc::corrupt, traf->header, "fragment holds no sample");
  if (total_duration > std::uint64_t(kInt64Max) - decode_time) {
    return box_error(Errc::corrupt, tfdt->header, "decode time + duration out of range");
  }
  return TrafResult{decode_time, total_duration, total_samples, first_flags};
}

Result<Fragment> parse_fragment(const Box& moof, const BoxHeader& mdat, const InitInfo& init) {
  if (auto st = validate_tree(moof, 1); !st) return std::unexpected(st.error());
  auto kids = parse_children(moof.payload, moof.payload_offset(), "moof");
  if (!kids) return std::unexpected(kids.error());
  if (auto mfhd = only_child(*kids, fourcc("mfhd"), moof); !mfhd) return std::unexpected(mfhd.error());
  const TrackRules video{init.track_id, init.trex_duration, init.trex_size, init.trex_flags,
                         init.nal_length_size + 1u, "H.264"};
  const TrackRules audio{init.audio_track_id, init.audio_trex_duration, init.audio_trex_size, init.audio_trex_flags, 1,
                         "audio"};
  // The video traf first (it carries the fragment's timing), then at most one
  // audio traf; their sample data follow each other in the mdat in that order.
  std::vector<Box> trafs;
  for (const auto& k : *kids)
    if (k.type() == fourcc("traf")) trafs.push_back(k);
  if (trafs.empty()) return box_error(Errc::corrupt, moof.header, "has no 'traf' box");
  if (trafs.size() > (init.audio_track_id != 0 ? 2u : 1u)) {
    return box_error(Errc::unprocessable, moof.header,
                     fmt::format("{} track fragments for a file of {} track(s)", trafs.size(),
                                 init.audio_track_id != 0 ? 2 : 1));
  }
  std::uint64_t cursor = mdat.offset + mdat.header_size;
  std::optional<TrafResult> v;
  for (std::size_t t = 0; t < trafs.size(); ++t) {
    const Box& traf = trafs[t];
    auto tkids = parse_children(traf.payload, traf.payload_offset(), "traf");
    if (!tkids) return std::unexpected(tkids.error());
    auto tfhd = only_child(*tkids, fourcc("tfhd"), traf);
    if (!tfhd) return std::unexpected(tfhd.error());
    ByteReader th(tfhd->payload);
    th.u32();
    const std::uint32_t track_id = th.u32();
    if (!th.ok()) return box_error(Errc::corrupt, tfhd->header, "too short");
    const TrackRules& want = t == 0 ? video : audio;
    if (track_id != want.track_id) {
      return box_error(Errc::corrupt, tfhd->header,
                       fmt::format("track_ID {} does not match the {} track {}", track_id,
                                   t == 0 ? "video" : "audio", want.track_id));
    }
    auto r = parse_traf(moof, traf, *tkids, mdat, want, cursor);
    if (!r) return std::unexpected(r.error());
    if (t == 0) v = *r;
  }
  const std::uint64_t payload_begin = mdat.offset + mdat.header_size;
  const std::uint64_t payload_end = mdat.offset + mdat.size;
  if (cursor != payload_end) {
    return box_error(Errc::corrupt, mdat,
                     fmt::format("payload is {} bytes but the samples of its moof cover {}",
                                 payload_end - payload_begin, cursor - payload_begin));
  }
  Fragment f;
  f.offset = moof.header.offset;
  f.size = moof.header.size + mdat.size;
  f.decode_time = static_cast<std::int64_t>(v->decode_time);
  f.duration = static_cast<std::int64_t>(v->duration);
  f.sample_count = static_cast<std::uint32_t>(v->samples);
  f.starts_with_keyframe = v->first_flags && (*v->first_flags & 0x00010000u) == 0;  // !sample_is_non_sync
  return f;
}


enum class Mode { strict, prefix, init_only };

struct WalkResult {
  FragmentIndex index;
  std::uint64_t valid_end = 0;  // end of the init + whole valid fragments
};

Result<WalkResult> walk(Source& src, Mode mode) {
  WalkResult out;
  std::optional<InitInfo> init;
  bool have_ftyp = false;
  std::uint64_t init_end = 0;
  std::optional<std::uint64_t> first_moof;
  const std::uint64_t end = src.size();

  // In prefix mode a problem after a whole init ends the prefix; a torn init
  // gives 0; an invalid init is an error in every mode.
  auto problem = [&](Error e, bool truncated) -> Result<WalkResult> {
    if (mode == Mode::prefix && init) return std::move(out);
    if (mode == Mode::prefix && truncated) {
      out.valid_end = 0;
      return std::move(out);
    }
    return std::unexpected(std::move(e));
  };
  auto read_box = [&](const BoxHeader& h) -> Result<Box> {
    auto bytes = src.read(h.offset, static_cast<std::size_t>(h.size));
    if (!bytes) return std::unexpected(bytes.error());
    if (bytes->size() != h.size) return box_error(Errc::io, h, "file shrank while reading");
    return Box{h, bytes->subspan(static_cast<std::size_t>(h.header_size))};
  };

  std::uint64_t off = 0;
  while (off < end) {
    auto hb = src.read(off, 32);
    if (!hb) return std::unexpected(hb.error());
    auto h = parse_box_header(*hb, off, end);
    if (h.status != HeaderStatus::ok) {
      return problem(Error{Errc::corrupt, h.message, {}}, h.status == HeaderStatus::truncated);
    }
    const BoxHeader bh = h.header;
    const std::uint32_t type = bh.type;
    if (!have_ftyp && type != fourcc("ftyp")) {
      return problem(box_error(Errc::corrupt, bh, "a segment must start with 'ftyp'").error(), false);
    }
    if (type == fourcc("ftyp")) {
      if (have_ftyp) return problem(box_error(Errc::corrupt, bh, "repeated").error(), false);
      if (bh.size > 4096) return problem(box_error(Errc::corrupt, bh, "too large").error(), false);
      auto box = read_box(bh);
      if (!box) return std::unexpected(box.error());
      if (auto st = check_ftyp(*box); !st) return problem(st.error(), false);
      have_ftyp = true;
    } else if (type == fourcc("moov")) {
      if (init) return problem(box_error(Errc::corrupt, bh, "repeated").error(), false);
      if (bh.size > kMaxMetaBoxBytes) return problem(box_error(Errc::corrupt, bh, "too large").error(), false);
      auto box = read_box(bh);
      if (!box) return std::unexpected(box.error());
      auto info = parse_moov(*box);
      if (!info) return problem(info.error(), false);
      init = std::move(*info);
      init_end = bh.offset + bh.size;
      out.valid_end = init_end;
    } else if (type == fourcc("moof")) {
      if (!init) return problem(box_error(Errc::corrupt, bh, "fragment before the 'moov'").error(), false);
      if (mode == Mode::init_only) {
        return problem(box_error(Errc::invalid_argument, bh, "an init segment holds no fragment").error(), false);
      }
      if (bh.size > kMaxMetaBoxBytes) return problem(box_error(Errc::corrupt, bh, "too large").error(), false);
      const std::uint64_t mdat_off = bh.offset + bh.size;
      if (mdat_off >= end) return problem(box_error(Errc::corrupt, bh, "not followed by an 'mdat'").error(), true);
      auto mb = src.read(mdat_off, 32);
      if (!mb) return std::unexpected(mb.error());
      auto mh = parse_box_header(*mb, mdat_off, end);
      if (mh.status != HeaderStatus::ok) {
        return problem(Error{Errc::corrupt, mh.message, {}}, mh.status == HeaderStatus::truncated);
      }
      if (mh.header.type != fourcc("mdat")) {
        return problem(box_error(Errc::corrupt, bh, "not followed by an 'mdat'").error(), false);
      }
      auto box = read_box(bh);
      if (!box) return std::unexpected(box.error());
      auto frag = parse_fragment(*box, mh.header, *init);
      if (!frag) return problem(frag.error(), false);
      if (!out.index.fragments.empty() && frag->decode_time <= out.index.fragments.back().decode_time) {
        return problem(box_error(Errc::corrupt, bh,
                                 fmt::format("decode time {} does not increase (previous {})", frag->decode_time,
                                             out.index.fragments.back().decode_time))
                           .error(),
                       false);
      }
      if (out.index.fragments.size() >= end / kMinFragmentBytes) {
        return problem(box_error(Errc::corrupt, bh,
                                 fmt::format("more fragments than {} bytes can hold", end))
                           .error(),
                       false);
      }
      if (!first_moof) first_moof = bh.offset;
      out.index.fragments.push_back(*frag);
      off = mh.header.offset + mh.header.size;
      out.valid_end = off;
      continue;
    } else if (type == fourcc("mdat")) {
      return problem(box_error(Errc::corrupt, bh, "media data without a preceding 'moof'").error(), false);
    } else if (type == fourcc("free") || type == fourcc("skip")) {
      // padding: allowed anywhere
    } else if (type == fourcc("mfra")) {
      if (!init) return problem(box_error(Errc::corrupt, bh, "before the 'moov'").error(), false);
      // The muxer's own random-access index; not used (we index ourselves),
      // but its structure must still be sound.
      if (bh.size > kMaxMetaBoxBytes) return problem(box_error(Errc::corrupt, bh, "too large").error(), false);
      auto box = read_box(bh);
      if (!box) return std::unexpected(box.error());
      if (auto st = validate_tree(*box, 1); !st) return problem(st.error(), false);
    } else {
      return problem(box_error(Errc::corrupt, bh, "unexpected top-level box").error(), false);
    }
    off = bh.offset + bh.size;
    if (init && !first_moof) init_end = off;
  }
  if (!init) {
    return problem(Error{Errc::corrupt, fmt::format("incomplete init segment: no 'moov' in {} bytes", end), {}},
                   true);
  }
  out.index.init_size = first_moof ? *first_moof : init_end;
  out.index.timescale = init->timescale;
  out.index.track_id = init->track_id;
  out.index.width = init->width;
  out.index.height = init->height;
  out.index.codec = init->codec;
  out.index.avcc_hex = init->avcc_hex;
  out.index.audio_track_id = init->audio_track_id;
  out.index.audio_timescale = init->audio_timescale;
  out.index.audio_codec = init->audio_codec;
  out.index.audio_config_hex = init->audio_config_hex;
  if (mode == Mode::strict && out.index.fragments.empty()) {
    return fail(Errc::unprocessable, "segment holds no fragment (no moof/mdat after the init segment)");
  }
  return out;
}

std::int64_t to_ms(__int128 ticks, std::uint32_t timescale) {
  if (timescale == 0) return 0;
  const __int128 v = (ticks * 1000 + timescale / 2) / timescale;
  return v > kInt64Max ? kInt64Max : static_cast<std::int64_t>(v);
}

}  // namespace

std::int64_t FragmentIndex::start_ms() const {
  return fragments.empty() ? 0 : to_ms(fragments.front().decode_time, timescale);
}

std::int64_t FragmentIndex::duration_ms() const {
  __int128 total = 0;  // from JSON, each duration may be any int64
  for (const auto& f : fragments) total += f.duration;
  return to_ms(total, timescale);
}

Result<FragmentIndex> index_segment(std::span<const std::byte> file) {
  SpanSource src(file);
  auto r = walk(src, Mode::strict);
  if (!r) return std::unexpected(r.error());
  return std::move(r->index);
}

Result<FragmentIndex> index_segment_file(const std::filesystem::path& path) {
  auto src = FileSource::open(path);
  if (!src) return std::unexpected(src.error());
  auto r = walk(*src, Mode::strict);
  if (!r) return std::unexpected(with_context(r.error(), path.string()));
  return std::move(r->index);
}

Result<std::uint64_t> valid_prefix_length(const std::filesystem::path& path) {
  auto src = FileSource::open(path);
  if (!src) return std::unexpected(src.error());
  auto r = walk(*src, Mode::prefix);
  if (!r) return std::unexpected(with_context(r.error(), path.string()));
  return r->valid_end;
}

namespace detail {
Result<InitInfo> parse_init_segment(std::span<const std::byte> init_segment) {
  SpanSource src(init_segment);
  auto r = walk(src, Mode::init_only);
  if (!r) return std::unexpected(r.error());
  // walk() validated the same bytes; parse the moov again for the caller.
  auto children = parse_children(init_segment, 0, "init segment");
  if (!children) return std::unexpected(children.error());
  auto moov = find_child(*children, fourcc("moov"));
  if (!moov) return fail(Errc::corrupt, "init segment has no moov");
  return parse_moov(*moov);
}
}  // namespace detail

// ---- JSON ------------------------------------------------------------------

nlohmann::json to_json(const FragmentIndex& index) {
  nlohmann::json frags = nlohmann::json::array();
  for (const auto& f : index.fragments) {
    frags.push_back({f.offset, f.size, f.decode_time, f.duration, f.sample_count, f.starts_with_keyframe ? 1 : 0});
  }
  nlohmann::json j = {{"init_size", index.init_size}, {"timescale", index.timescale}, {"track_id", index.track_id},
                      {"width", index.width},         {"height", index.height},       {"codec", index.codec},
                      {"avcc", index.avcc_hex},       {"fragments", std::move(frags)}};
  if (index.has_audio()) {
    j["audio"] = {{"track_id", index.audio_track_id},
                  {"timescale", index.audio_timescale},
                  {"codec", index.audio_codec},
                  {"config", index.audio_config_hex}};
  }
  return j;
}

namespace {

template <class T>
Result<T> json_uint(const nlohmann::json& j, std::string_view name, std::uint64_t max) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<std::int64_t>() >= 0)) {
    return fail(Errc::corrupt, fmt::format("fragment index: '{}' must be a non-negative integer", name));
  }
  const auto v = j.get<std::uint64_t>();
  if (v > max) return fail(Errc::corrupt, fmt::format("fragment index: '{}' out of range", name));
  return static_cast<T>(v);
}

// RFC 6381 codec strings as the validator writes them ("avc1.64001f",
// "opus", "mp4a.40.2"): they go into playlists between quotes.
bool codec_text_ok(const std::string& codec) {
  return !codec.empty() && codec.size() <= 64 && std::all_of(codec.begin(), codec.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.';
  });
}

}  // namespace

Result<FragmentIndex> fragment_index_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail(Errc::corrupt, "fragment index: not an object");
  for (const char* key : {"init_size", "timescale", "track_id", "width", "height", "codec", "avcc", "fragments"}) {
    if (!j.contains(key)) return fail(Errc::corrupt, fmt::format("fragment index: '{}' missing", key));
  }
  FragmentIndex idx;
  constexpr std::uint64_t u32max = std::numeric_limits<std::uint32_t>::max();
  constexpr std::uint64_t i64max = std::uint64_t(kInt64Max);
  auto init_size = json_uint<std::uint64_t>(j["init_size"], "init_size", i64max);
  auto timescale = json_uint<std::uint32_t>(j["timescale"], "timescale", u32max);
  auto track_id = json_uint<std::uint32_t>(j["track_id"], "track_id", u32max);
  auto width = json_uint<int>(j["width"], "width", 65535);
  auto height = json_uint<int>(j["height"], "height", 65535);
  for (const auto* r : {&init_size}) if (!*r) return std::unexpected(r->error());
  for (const auto* r : {&timescale, &track_id}) if (!*r) return std::unexpected(r->error());
  for (const auto* r : {&width, &height}) if (!*r) return std::unexpected(r->error());
  if (!j["codec"].is_string() || !j["avcc"].is_string() || !j["fragments"].is_array()) {
    return fail(Errc::corrupt, "fragment index: 'codec'/'avcc' must be strings, 'fragments' an array");
  }
  if (*timescale == 0) return fail(Errc::corrupt, "fragment index: timescale is 0");
  idx.init_size = *init_size;
  idx.timescale = *timescale;
  idx.track_id = *track_id;
  idx.width = *width;
  idx.height = *height;
  idx.codec = j["codec"].get<std::string>();
  if (!codec_text_ok(idx.codec)) return fail(Errc::corrupt, "fragment index: 'codec' is not an RFC 6381 codec");
  idx.avcc_hex = j["avcc"].get<std::string>();
  if (j.contains("audio")) {
    const auto& a = j["audio"];
    if (!a.is_object() || !a.contains("track_id") || !a.contains("timescale") || !a.contains("codec") ||
        !a.contains("config") || !a["codec"].is_string() || !a["config"].is_string()) {
      return fail(Errc::corrupt, "fragment index: 'audio' must hold track_id, timescale, codec and config");
    }
    auto atrack = json_uint<std::uint32_t>(a["track_id"], "audio.track_id", u32max);
    auto ascale = json_uint<std::uint32_t>(a["timescale"], "audio.timescale", u32max);
    for (const auto* r : {&atrack, &ascale}) if (!*r) return std::unexpected(r->error());
    if (*atrack == 0 || *ascale == 0 || a["codec"].get<std::string>().empty())
      return fail(Errc::corrupt, "fragment index: audio track_id, timescale and codec must be set");
    idx.audio_track_id = *atrack;
    idx.audio_timescale = *ascale;
    idx.audio_codec = a["codec"].get<std::string>();
    if (!codec_text_ok(idx.audio_codec))
      return fail(Errc::corrupt, "fragment index: audio 'codec' is not an RFC 6381 codec");
    idx.audio_config_hex = a["config"].get<std::string>();
  }
  std::uint64_t next_offset = idx.init_size;
  for (const auto& fj : j["fragments"]) {
    if (!fj.is_array() || fj.size() != 6) return fail(Errc::corrupt, "fragment index: a fragment must be a 6-array");
    Fragment f;
    auto offset = json_uint<std::uint64_t>(fj[0], "offset", i64max);
    auto size = json_uint<std::uint64_t>(fj[1], "size", i64max);
    auto decode_time = json_uint<std::int64_t>(fj[2], "decode_time", i64max);
    auto duration = json_uint<std::int64_t>(fj[3], "duration", i64max);
    auto samples = json_uint<std::uint32_t>(fj[4], "sample_count", u32max);
    auto key = json_uint<int>(fj[5], "keyframe", 1);
    for (const auto* r : {&offset, &size}) if (!*r) return std::unexpected(r->error());
    for (const auto* r : {&decode_time, &duration}) if (!*r) return std::unexpected(r->error());
    if (!samples) return std::unexpected(samples.error());
    if (!key) return std::unexpected(key.error());
    if (*offset < next_offset || *size == 0 || *size > i64max - *offset) {
      return fail(Errc::corrupt, "fragment index: fragments overlap or are out of order");
    }
    if (!idx.fragments.empty() && *decode_time <= idx.fragments.back().decode_time) {
      return fail(Errc::corrupt, "fragment index: decode times do not increase");
    }
    if (*duration > kInt64Max - *decode_time) return fail(Errc::corrupt, "fragment index: duration out of range");
    f.offset = *offset;
    f.size = *size;
    f.decode_time = *decode_time;
    f.duration = *duration;
    f.sample_count = *samples;
    f.starts_with_keyframe = *key == 1;
    next_offset = f.offset + f.size;
    idx.fragments.push_back(f);
  }
  return idx;
}

}  // namespace deskaudit::media
