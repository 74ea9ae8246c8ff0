// Whole-recording download: one fragmented MP4 assembled from the init of the
// first segment (patched with the total duration), the fragments of every
// segment as stored, and a random-access index (mfra) at the end.
#include <functional>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "media/box.hpp"
#include "media/fmp4.hpp"
#include "media/init.hpp"

namespace deskaudit::media {

using namespace detail;

namespace {

constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

// The box again, with a freshly written header (a size-0 or 64-bit header
// from the source must not be copied into a rebuilt parent).
std::string reserialize(const Box& box) {
  if (box.type() != fourcc("uuid")) {
    return make_box(box.type(), {reinterpret_cast<const char*>(box.payload.data()), box.payload.size()});
  }
  // uuid: the 16-byte user type sits at the end of the header.
  const auto* usertype = reinterpret_cast<const char*>(box.payload.data()) - 16;
  std::string payload(usertype, 16);
  payload.append(reinterpret_cast<const char*>(box.payload.data()), box.payload.size());
  std::string out = make_box(fourcc("uuid"), payload);
  return out;
}

// mvhd, tkhd, mdhd share a layout: version/flags, creation and modification
// time (32 or 64 bits), `middle` 32-bit fields, the duration (32 or 64 bits),
// then fields we copy (`middle`: 1 = timescale in mvhd/mdhd, 2 = track_ID and
// reserved in tkhd). Version 1 is written when the duration needs 64 bits.
Result<std::string> with_duration(const Box& box, int middle, std::uint64_t duration) {
  ByteReader in(box.payload);
  const std::uint8_t version = in.u8();
  const std::uint32_t flags = in.u24();
  if (version > 1) return box_error(Errc::corrupt, box.header, "unsupported version");
  const std::uint64_t created = version == 1 ? in.u64() : in.u32();
  const std::uint64_t modified = version == 1 ? in.u64() : in.u32();
  std::vector<std::uint32_t> mid;
  for (int i = 0; i < middle; ++i) mid.push_back(in.u32());
  if (version == 1) in.u64(); else in.u32();
  if (!in.ok()) return box_error(Errc::corrupt, box.header, "too short");
  const auto rest = box.payload.subspan(in.pos());
  const bool wide = version == 1 || duration > kU32Max;
  ByteWriter w;
  w.u8(wide ? 1 : 0);
  w.u8(std::uint8_t(flags >> 16));
  w.u16(std::uint16_t(flags));
  if (wide) {
    w.u64(created);
    w.u64(modified);
  } else {
    w.u32(std::uint32_t(created));
    w.u32(std::uint32_t(modified));
  }
  for (auto m : mid) w.u32(m);
  if (wide) w.u64(duration); else w.u32(std::uint32_t(duration));
  w.bytes(rest);
  return make_box(box.type(), w.str());
}

// How to rewrite one child box; absent children are copied.
using Patch = std::function<Result<std::string>(const Box&)>;
struct Rebuild {
  std::map<std::uint32_t, Patch> patches;
  std::string prepend;  // bytes placed before the first child
  std::uint32_t drop = 0;  // a child type left out
};

Result<std::string> rebuild(const Box& box, const Rebuild& how) {
  auto children = parse_children(box.payload, box.payload_offset(), fourcc_text(box.type()));
  if (!children) return std::unexpected(children.error());
  std::string payload = how.prepend;
  for (const auto& child : *children) {
    if (child.type() == how.drop) continue;
    const auto it = how.patches.find(child.type());
    if (it == how.patches.end()) {
      payload += reserialize(child);
      continue;
    }
    auto bytes = it->second(child);
    if (!bytes) return std::unexpected(bytes.error());
    payload += *bytes;
  }
  return make_box(box.type(), payload);
}

// moov with durations filled in and an mvex/mehd; everything else unchanged.
Result<std::string> patch_moov(const Box& moov, std::uint64_t movie_duration, std::uint64_t media_duration) {
  ByteWriter mehd;
  mehd.u32(0x01000000);  // version 1: 64-bit fragment_duration
  mehd.u64(movie_duration);
  const Rebuild mdia{{{fourcc("mdhd"), [&](const Box& b) { return with_duration(b, 1, media_duration); }}}, {}, 0};
  const Rebuild trak{{{fourcc("tkhd"), [&](const Box& b) { return with_duration(b, 2, movie_duration); }},
                      {fourcc("mdia"), [&](const Box& b) { return rebuild(b, mdia); }}},
                     {},
                     0};
  const Rebuild mvex{{}, make_box(fourcc("mehd"), mehd.str()), fourcc("mehd")};
  const Rebuild root{{{fourcc("mvhd"), [&](const Box& b) { return with_duration(b, 1, movie_duration); }},
                      {fourcc("trak"), [&](const Box& b) { return rebuild(b, trak); }},
                      {fourcc("mvex"), [&](const Box& b) { return rebuild(b, mvex); }}},
                     {},
                     0};
  return rebuild(moov, root);
}

std::string describe(const FragmentIndex& i) {
  return fmt::format("{}x{} {} timescale {} track {}", i.width, i.height, i.codec, i.timescale, i.track_id);
}

bool same_init(const FragmentIndex& a, const FragmentIndex& b) {
  return a.codec == b.codec && a.avcc_hex == b.avcc_hex && a.width == b.width && a.height == b.height &&
         a.timescale == b.timescale && a.track_id == b.track_id;
}

}  // namespace

Result<DownloadPlan> build_download_plan(std::span<const std::byte> init_segment,
                                         const std::vector<PlaylistSegment>& segments) {
  if (segments.empty()) return fail(Errc::invalid_argument, "a download needs at least one segment");
  const FragmentIndex& first = segments.front().index;
  if (init_segment.size() != first.init_size) {
    return fail(Errc::invalid_argument,
                fmt::format("init segment is {} bytes, segment {} says {}", init_segment.size(),
                            segments.front().seq, first.init_size));
  }
  auto info = parse_init_segment(init_segment);
  if (!info) return std::unexpected(with_context(info.error(), "init segment"));
  if (info->codec != first.codec || info->avcc_hex != first.avcc_hex || info->timescale != first.timescale ||
      info->track_id != first.track_id) {
    return fail(Errc::invalid_argument, "init segment does not match the index of the first segment");
  }

  // Every fragment must follow the previous one in decode time: the file is
  // one timeline, and a step back would give a player non-monotonic DTS.
  const Fragment* prev = nullptr;
  std::int64_t prev_seq = 0;
  std::uint64_t keyframe_fragments = 0;
  for (const auto& s : segments) {
    if (!same_init(first, s.index)) {
      const auto was = describe(first), now = describe(s.index);
      const auto change = was != now ? fmt::format("{} -> {}", was, now) : "same size and codec, other SPS/PPS";
      return fail(Errc::unprocessable,
                  fmt::format("segment {} changes the video format ({}); a recording whose format "
                              "changes cannot be downloaded as one MP4",
                              s.seq, change));
    }
    for (const auto& f : s.index.fragments) {
      if (prev != nullptr && f.decode_time <= prev->decode_time) {
        return fail(Errc::unprocessable,
                    fmt::format("segment {}: decode time {} steps back (segment {} reached {})", s.seq,
                                f.decode_time, prev_seq, prev->decode_time));
      }
      if (f.starts_with_keyframe) ++keyframe_fragments;
      prev = &f;
      prev_seq = s.seq;
    }
  }
  if (prev == nullptr) return fail(Errc::invalid_argument, "the segments hold no fragment");

  std::int64_t start = 0;
  for (const auto& s : segments) {
    if (!s.index.fragments.empty()) {
      start = s.index.fragments.front().decode_time;
      break;
    }
  }
  const auto media_duration = static_cast<std::uint64_t>(prev->decode_time + prev->duration - start);
  const auto movie_duration = static_cast<std::uint64_t>(
      (static_cast<unsigned __int128>(media_duration) * info->movie_timescale + first.timescale - 1) /
      first.timescale);

  // Rebuild the init: ftyp as is, the patched moov; free/skip padding dropped.
  auto top = parse_children(init_segment, 0, "init segment");
  if (!top) return std::unexpected(top.error());
  std::string init_bytes;
  for (const auto& b : *top) {
    if (b.type() == fourcc("ftyp")) {
      init_bytes += reserialize(b);
    } else if (b.type() == fourcc("moov")) {
      auto moov = patch_moov(b, movie_duration, media_duration);
      if (!moov) return std::unexpected(moov.error());
      init_bytes += *moov;
    }
  }

  DownloadPlan plan;
  std::uint64_t total = init_bytes.size();
  plan.pieces.push_back(DownloadPiece{std::nullopt, 0, init_bytes.size(), std::move(init_bytes)});

  ByteWriter tfra_entries;
  std::uint32_t tfra_count = 0;
  for (const auto& s : segments) {
    for (const auto& f : s.index.fragments) {
      if (f.starts_with_keyframe && tfra_count < kU32Max) {
        tfra_entries.u64(static_cast<std::uint64_t>(f.decode_time));
        tfra_entries.u64(total);  // moof offset in the download
        tfra_entries.u8(1);       // traf_number, trun_number, sample_number (1-based)
        tfra_entries.u8(1);
        tfra_entries.u8(1);
        ++tfra_count;
      }
      // Fragments that touch in the stored file travel as one piece.
      DownloadPiece* last = &plan.pieces.back();
      if (last->seq && *last->seq == s.seq && last->offset + last->size == f.offset) {
        last->size += f.size;
      } else {
        plan.pieces.push_back(DownloadPiece{s.seq, f.offset, f.size, {}});
      }
      std::uint64_t next = 0;
      if (add_overflows(total, f.size, next)) return fail(Errc::invalid_argument, "download size overflows");
      total = next;
    }
  }

  if (keyframe_fragments > 0) {
    ByteWriter tfra;
    tfra.u32(0x01000000);  // version 1: 64-bit time and offset
    tfra.u32(first.track_id);
    tfra.u32(0);  // 1-byte traf/trun/sample numbers
    tfra.u32(tfra_count);
    tfra.bytes(tfra_entries.str());
    std::string mfra_payload = make_box(fourcc("tfra"), tfra.str());
    ByteWriter mfro;
    mfro.u32(0);
    mfro.u32(static_cast<std::uint32_t>(8 + mfra_payload.size() + 16));  // whole mfra, mfro included
    mfra_payload += make_box(fourcc("mfro"), mfro.str());
    std::string mfra = make_box(fourcc("mfra"), mfra_payload);
    if (mfra.size() <= kU32Max) {
      total += mfra.size();
      plan.pieces.push_back(DownloadPiece{std::nullopt, 0, mfra.size(), std::move(mfra)});
    }
  }
  plan.total_size = total;
  return plan;
}

}  // namespace deskaudit::media
