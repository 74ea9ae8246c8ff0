// Whole-recording download: one fragmented MP4 assembled from the init of the
// first segment (patched with the total duration), the fragments of every
// segment as stored, and a random-access index (mfra) at the end. Where the
// format changes (a screen resize), the sample entry is avc3 and the first
// keyframe of the new format carries its SPS/PPS in-band.
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
// media_duration is in units of media_timescale (the video track's); each
// track's mdhd gets it in its own timescale (the audio track's is its sample rate).
Result<std::string> patch_moov(const Box& moov, std::uint64_t movie_duration, std::uint64_t media_duration,
                               std::uint32_t media_timescale) {
  ByteWriter mehd;
  mehd.u32(0x01000000);  // version 1: 64-bit fragment_duration
  mehd.u64(movie_duration);
  const auto mdhd = [&](const Box& b) -> Result<std::string> {
    ByteReader in(b.payload);
    const std::uint8_t version = in.u8();
    in.u24();
    in.skip(version == 1 ? 16 : 8);
    const std::uint32_t timescale = in.u32();
    if (!in.ok() || timescale == 0 || media_timescale == 0) return box_error(Errc::corrupt, b.header, "no timescale");
    const auto scaled = static_cast<unsigned __int128>(media_duration) * timescale / media_timescale;
    if (scaled > std::numeric_limits<std::uint64_t>::max()) return box_error(Errc::unprocessable, b.header, "duration out of range");
    return with_duration(b, 1, static_cast<std::uint64_t>(scaled));
  };
  const Rebuild mdia{{{fourcc("mdhd"), mdhd}}, {}, 0};
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

bool same_audio(const FragmentIndex& a, const FragmentIndex& b) {
  return a.audio_codec == b.audio_codec && a.audio_config_hex == b.audio_config_hex &&
         a.audio_track_id == b.audio_track_id && a.audio_timescale == b.audio_timescale;
}

bool same_init(const FragmentIndex& a, const FragmentIndex& b) {
  return a.codec == b.codec && a.avcc_hex == b.avcc_hex && a.width == b.width && a.height == b.height &&
         a.timescale == b.timescale && a.track_id == b.track_id && same_audio(a, b);
}

// The parameter sets (SPS, PPS) of an avcC, each behind a NAL length of the
// avcC's own length size: what a sample carries in-band to switch the decoder
// to this format.
struct ParameterSets {
  int length_size = 0;
  std::string in_band;
};

Result<ParameterSets> parameter_sets(const std::string& avcc_hex) {
  if (avcc_hex.size() % 2 != 0) return fail(Errc::corrupt, "avcC hex has an odd length");
  std::string raw;
  raw.reserve(avcc_hex.size() / 2);
  for (std::size_t i = 0; i < avcc_hex.size(); i += 2) {
    const auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = nibble(avcc_hex[i]), lo = nibble(avcc_hex[i + 1]);
    if (hi < 0 || lo < 0) return fail(Errc::corrupt, "avcC hex is not lowercase hex");
    raw.push_back(char(hi * 16 + lo));
  }
  ByteReader in(as_bytes(raw));
  in.skip(4);  // version, profile, compatibility, level
  ParameterSets out;
  out.length_size = (in.u8() & 0x03) + 1;
  ByteWriter w;
  const auto copy_sets = [&](int count) {
    for (int i = 0; i < count && in.ok(); ++i) {
      const std::uint16_t n = in.u16();
      const auto nal = in.bytes(n);
      if (!in.ok()) return;
      for (int b = out.length_size - 1; b >= 0; --b) w.u8(std::uint8_t((std::uint32_t(n) >> (8 * b)) & 0xff));
      w.bytes(nal);
    }
  };
  copy_sets(in.u8() & 0x1f);
  copy_sets(in.u8());
  if (!in.ok() || out.length_size < 2) return fail(Errc::corrupt, "avcC too short for its parameter sets");
  out.in_band = std::move(w.str());
  return out;
}

// The init of the download when the format changes along the way: the
// sample entry becomes avc3, whose samples may carry parameter sets in-band
// (ISO/IEC 14496-15 5.4.2), so a keyframe with a new SPS/PPS switches the
// decoder to the new picture size.
Result<std::string> with_avc3_entry(const Box& stsd) {
  std::string payload(reinterpret_cast<const char*>(stsd.payload.data()), stsd.payload.size());
  if (payload.size() < 16 || payload.compare(12, 4, "avc1") != 0) {
    if (payload.size() >= 16 && payload.compare(12, 4, "avc3") == 0) return make_box(stsd.type(), payload);
    return box_error(Errc::unprocessable, stsd.header, "first sample entry is not avc1/avc3");
  }
  payload.replace(12, 4, "avc3");
  return make_box(stsd.type(), payload);
}

Result<std::string> patch_sample_entry(const Box& moov) {
  const Rebuild stbl{{{fourcc("stsd"), with_avc3_entry}}, {}, 0};
  const Rebuild minf{{{fourcc("stbl"), [&](const Box& b) { return rebuild(b, stbl); }}}, {}, 0};
  const Rebuild mdia{{{fourcc("minf"), [&](const Box& b) { return rebuild(b, minf); }}}, {}, 0};
  const Rebuild trak{{{fourcc("mdia"), [&](const Box& b) { return rebuild(b, mdia); }}}, {}, 0};
  const Rebuild root{{{fourcc("trak"), [&](const Box& b) { return rebuild(b, trak); }}}, {}, 0};
  return rebuild(moov, root);
}

// The first fragment of a segment whose format differs from the one before:
// its moof and mdat header rewritten so that the first sample (a keyframe)
// starts with `in_band` (the new parameter sets). Returns the bytes that
// replace [fragment start, payload start) plus the inserted sets; the rest of
// the mdat payload is copied as stored, from `payload_offset` on.
struct RewrittenHead {
  std::string bytes;
  std::uint64_t payload_offset = 0;  // in the segment file
};

Result<RewrittenHead> with_parameter_sets(const SegmentReader& read, std::int64_t seq, const Fragment& f,
                                          const std::string& in_band) {
  constexpr std::uint64_t kMaxMoof = 1u << 20;
  const auto where = fmt::format("segment {} fragment at byte {}", seq, f.offset);
  auto head = read(seq, f.offset, std::min<std::uint64_t>(f.size, 16));
  if (!head) return std::unexpected(head.error());
  auto moof_h = parse_box_header(as_bytes(*head), 0, f.size);
  if (moof_h.status != HeaderStatus::ok || moof_h.header.type != fourcc("moof") || moof_h.header.size > kMaxMoof ||
      moof_h.header.size + 8 > f.size)
    return fail(Errc::corrupt, where + ": no moof of a usable size");
  const std::uint64_t moof_size = moof_h.header.size;
  auto bytes = read(seq, f.offset, moof_size + 8);
  if (!bytes || bytes->size() != moof_size + 8) return fail(Errc::corrupt, where + ": cannot read its moof");
  const auto all = as_bytes(*bytes);
  auto mdat_h = parse_box_header(all.subspan(moof_size), moof_size, f.size);
  if (mdat_h.status != HeaderStatus::ok || mdat_h.header.type != fourcc("mdat") || mdat_h.header.header_size != 8 ||
      moof_size + mdat_h.header.size != f.size)
    return fail(Errc::unprocessable, where + ": mdat with a 64-bit size or not right after the moof");
  const Box moof{moof_h.header, all.subspan(moof_h.header.header_size, moof_size - moof_h.header.header_size)};
  auto kids = parse_children(moof.payload, moof.payload_offset(), "moof");
  if (!kids) return std::unexpected(kids.error());
  // The video traf is the first; an audio traf after it has its samples
  // after the video's in the mdat, so its data offset moves with them.
  std::vector<Box> trafs;
  for (const auto& k : *kids)
    if (k.type() == fourcc("traf")) trafs.push_back(k);
  if (trafs.empty() || trafs.size() > 2) return fail(Errc::corrupt, where + ": expected one or two trafs");
  const Box* traf = &trafs.front();
  auto tkids = parse_children(traf->payload, traf->payload_offset(), "traf");
  if (!tkids) return std::unexpected(tkids.error());
  const auto trun = find_child(*tkids, fourcc("trun"));
  if (!trun) return fail(Errc::corrupt, where + ": no trun");
  ByteReader tr(trun->payload);
  const std::uint32_t flags = tr.u32() & 0xffffff;
  const std::uint32_t count = tr.u32();
  const std::uint32_t data_offset = tr.u32();
  if ((flags & 0x001) == 0 || (flags & 0x200) == 0 || count == 0 || !tr.ok() ||
      data_offset != moof_size + mdat_h.header.header_size)
    return fail(Errc::unprocessable, where + ": its first sample's size or position is not in its trun");
  if (flags & 0x004) tr.u32();
  if (flags & 0x100) tr.u32();
  const std::size_t size_at = static_cast<std::size_t>(trun->payload_offset()) + tr.pos();
  const std::uint32_t first_size = tr.u32();
  if (!tr.ok()) return fail(Errc::corrupt, where + ": trun too short");
  std::uint64_t new_first = 0, new_mdat = 0;
  if (add_overflows(first_size, in_band.size(), new_first) || new_first > kU32Max ||
      add_overflows(mdat_h.header.size, in_band.size(), new_mdat) || new_mdat > kU32Max)
    return fail(Errc::unprocessable, where + ": too large to take the parameter sets");
  RewrittenHead out;
  out.bytes.assign(bytes->data(), moof_size);
  ByteWriter w;
  w.u32(std::uint32_t(new_first));
  out.bytes.replace(size_at, 4, w.str());
  if (trafs.size() == 2) {
    auto akids = parse_children(trafs[1].payload, trafs[1].payload_offset(), "traf");
    if (!akids) return std::unexpected(akids.error());
    const auto atrun = find_child(*akids, fourcc("trun"));
    if (!atrun) return fail(Errc::corrupt, where + ": no audio trun");
    ByteReader ar(atrun->payload);
    const std::uint32_t aflags = ar.u32() & 0xffffff;
    ar.u32();
    const std::size_t offset_at = static_cast<std::size_t>(atrun->payload_offset()) + ar.pos();
    const std::uint32_t aoffset = ar.u32();
    std::uint64_t moved = 0;
    if ((aflags & 0x001) == 0 || !ar.ok() || add_overflows(aoffset, in_band.size(), moved) || moved > 0x7fffffffu)
      return fail(Errc::unprocessable, where + ": its audio data offset cannot follow the parameter sets");
    ByteWriter aw;
    aw.u32(std::uint32_t(moved));
    out.bytes.replace(offset_at, 4, aw.str());
  }
  ByteWriter mdat;
  mdat.u32(std::uint32_t(new_mdat));
  mdat.u32(fourcc("mdat"));
  out.bytes += mdat.str();
  out.bytes += in_band;
  out.payload_offset = f.offset + moof_size + 8;
  return out;
}

}  // namespace

Result<DownloadPlan> build_download_plan(std::span<const std::byte> init_segment,
                                         const std::vector<PlaylistSegment>& segments, const SegmentReader& read) {
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
      info->track_id != first.track_id || info->audio_codec != first.audio_codec ||
      info->audio_config_hex != first.audio_config_hex) {
    return fail(Errc::invalid_argument, "init segment does not match the index of the first segment");
  }

  // Every fragment must follow the previous one in decode time: the file is
  // one timeline, and a step back would give a player non-monotonic DTS.
  const Fragment* prev = nullptr;
  std::int64_t prev_seq = 0;
  std::uint64_t keyframe_fragments = 0;
  // Segments whose SPS/PPS differ from the segment before (a screen resize
  // opened a new encoder): their first keyframe gets the new parameter sets
  // in-band. Track and timescale must stay.
  std::map<std::int64_t, std::string> switch_to;  // seq -> in-band parameter sets
  int length_size = 0;
  const PlaylistSegment* before = nullptr;
  for (const auto& s : segments) {
    const bool switches = before != nullptr && before->index.avcc_hex != s.index.avcc_hex;
    const bool same_track = s.index.timescale == first.timescale && s.index.track_id == first.track_id &&
                            s.index.codec.starts_with("avc") && first.codec.starts_with("avc") &&
                            same_audio(first, s.index);
    if (!same_init(first, s.index) && (!read || !same_track)) {
      const auto was = describe(first), now = describe(s.index);
      const auto change = was != now ? fmt::format("{} -> {}", was, now) : "same size and codec, other SPS/PPS";
      return fail(Errc::unprocessable,
                  fmt::format("segment {} changes the video format ({}); a recording whose format "
                              "changes cannot be downloaded as one MP4",
                              s.seq, change));
    }
    if (switches) {
      auto sets = parameter_sets(s.index.avcc_hex);
      if (!sets) return std::unexpected(with_context(sets.error(), fmt::format("segment {}", s.seq)));
      if (length_size == 0) {
        auto own = parameter_sets(first.avcc_hex);
        if (!own) return std::unexpected(with_context(own.error(), "segment " + std::to_string(segments.front().seq)));
        length_size = own->length_size;
      }
      if (sets->length_size != length_size)
        return fail(Errc::unprocessable, fmt::format("segment {} changes the NAL length size", s.seq));
      if (s.index.fragments.empty() || !s.index.fragments.front().starts_with_keyframe)
        return fail(Errc::unprocessable, fmt::format("segment {} changes the video format without a keyframe", s.seq));
      switch_to[s.seq] = std::move(sets->in_band);
    }
    before = &s;
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
      auto moov = patch_moov(b, movie_duration, media_duration, first.timescale);
      if (!moov) return std::unexpected(moov.error());
      if (!switch_to.empty()) {
        auto parsed = parse_children(as_bytes(*moov), 0, "moov");
        if (!parsed || parsed->size() != 1) return fail(Errc::internal, "rebuilt moov does not parse");
        moov = patch_sample_entry(parsed->front());
        if (!moov) return std::unexpected(moov.error());
      }
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
      std::uint64_t stored_from = f.offset;
      std::uint64_t added = 0;
      if (const auto sw = switch_to.find(s.seq); sw != switch_to.end() && &f == &s.index.fragments.front()) {
        auto head = with_parameter_sets(read, s.seq, f, sw->second);
        if (!head) return std::unexpected(head.error());
        added = head->bytes.size() - (head->payload_offset - f.offset);
        stored_from = head->payload_offset;
        const std::uint64_t n = head->bytes.size();
        plan.pieces.push_back(DownloadPiece{std::nullopt, 0, n, std::move(head->bytes)});
      }
      const std::uint64_t stored = f.size - (stored_from - f.offset);
      // Fragments that touch in the stored file travel as one piece.
      DownloadPiece* last = &plan.pieces.back();
      if (last->seq && *last->seq == s.seq && last->offset + last->size == stored_from) {
        last->size += stored;
      } else {
        plan.pieces.push_back(DownloadPiece{s.seq, stored_from, stored, {}});
      }
      std::uint64_t next = 0;
      if (add_overflows(total, f.size, next) || add_overflows(next, added, next))
        return fail(Errc::invalid_argument, "download size overflows");
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
