#include "media/init.hpp"

#include <array>
#include <optional>

#include <fmt/format.h>

namespace deskaudit::media::detail {

namespace {

constexpr std::size_t kMaxAvccBytes = 4096;

bool known_brand(std::uint32_t b) {
  static constexpr std::array kBrands = {
      fourcc("isom"), fourcc("iso2"), fourcc("iso3"), fourcc("iso4"), fourcc("iso5"), fourcc("iso6"),
      fourcc("iso7"), fourcc("iso8"), fourcc("iso9"), fourcc("mp41"), fourcc("mp42"), fourcc("avc1"),
      fourcc("dash"), fourcc("msdh"), fourcc("msix"), fourcc("cmfc"), fourcc("cmf2")};
  for (auto k : kBrands)
    if (k == b) return true;
  return false;
}

// Reads version/flags and returns the version (0 or 1), or an error.
Result<std::uint8_t> full_box_version(ByteReader& in, const Box& box) {
  const std::uint8_t version = in.u8();
  in.u24();
  if (!in.ok() || version > 1) return box_error(Errc::corrupt, box.header, "unsupported version or too short");
  return version;
}

// mvhd and mdhd: the timescale follows the creation and modification times,
// then the duration, which the download rewrites (so it must be there).
Result<std::uint32_t> header_timescale(const Box& box) {
  ByteReader in(box.payload);
  auto v = full_box_version(in, box);
  if (!v) return std::unexpected(v.error());
  in.skip(*v == 1 ? 16 : 8);
  const std::uint32_t timescale = in.u32();
  in.skip(*v == 1 ? 8 : 4);
  if (!in.ok() || timescale == 0) return box_error(Errc::corrupt, box.header, "bad timescale or too short");
  return timescale;
}

Result<std::vector<Box>> children_of(const Box& box) {
  return parse_children(box.payload, box.payload_offset(), fourcc_text(box.type()));
}

Result<Box> child_path(const Box& from, std::initializer_list<std::uint32_t> path) {
  Box cur = from;
  for (auto type : path) {
    auto kids = children_of(cur);
    if (!kids) return std::unexpected(kids.error());
    auto next = only_child(*kids, type, cur);
    if (!next) return std::unexpected(next.error());
    cur = *next;
  }
  return cur;
}

std::string hex(std::span<const std::byte> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) out += fmt::format("{:02x}", std::to_integer<unsigned>(b));
  return out;
}

// Entry count of a table box that must be empty in a fragmented file's moov.
Status expect_empty_table(const std::vector<Box>& stbl_kids, std::uint32_t type, std::size_t count_at) {
  auto box = find_child(stbl_kids, type);
  if (!box) return {};
  ByteReader in(box->payload);
  in.skip(count_at);
  const std::uint32_t count = in.u32();
  if (!in.ok()) return box_error(Errc::corrupt, box->header, "too short");
  if (count != 0) {
    return box_error(Errc::unprocessable, box->header,
                     "the init segment holds samples; expected a fragmented MP4 with an empty moov");
  }
  return {};
}


// The handler type of a trak (mdia/hdlr): 'vide', 'soun', ...
Result<std::uint32_t> track_handler(const Box& trak) {
  auto hdlr = child_path(trak, {fourcc("mdia"), fourcc("hdlr")});
  if (!hdlr) return std::unexpected(hdlr.error());
  ByteReader in(hdlr->payload);
  in.skip(8);
  const std::uint32_t handler = in.u32();
  if (!in.ok()) return box_error(Errc::corrupt, hdlr->header, "too short");
  return handler;
}

// The one sample entry of a trak with empty sample tables.
Result<Box> only_sample_entry(const Box& trak) {
  auto stbl = child_path(trak, {fourcc("mdia"), fourcc("minf"), fourcc("stbl")});
  if (!stbl) return std::unexpected(stbl.error());
  auto stbl_kids = children_of(*stbl);
  if (!stbl_kids) return std::unexpected(stbl_kids.error());
  if (auto st = expect_empty_table(*stbl_kids, fourcc("stts"), 4); !st) return std::unexpected(st.error());
  if (auto st = expect_empty_table(*stbl_kids, fourcc("stsz"), 8); !st) return std::unexpected(st.error());
  if (auto st = expect_empty_table(*stbl_kids, fourcc("stz2"), 8); !st) return std::unexpected(st.error());
  auto stsd = only_child(*stbl_kids, fourcc("stsd"), *stbl);
  if (!stsd) return std::unexpected(stsd.error());
  ByteReader in(stsd->payload);
  in.skip(4);
  const std::uint32_t count = in.u32();
  if (!in.ok()) return box_error(Errc::corrupt, stsd->header, "too short");
  if (count != 1) {
    return box_error(Errc::unprocessable, stsd->header, fmt::format("{} sample descriptions, expected exactly one", count));
  }
  auto entries = parse_children(stsd->payload.subspan(8), stsd->payload_offset() + 8, "stsd");
  if (!entries) return std::unexpected(entries.error());
  if (entries->size() != 1) return box_error(Errc::corrupt, stsd->header, "entry_count does not match its boxes");
  return entries->front();
}

constexpr std::size_t kMaxAudioConfigBytes = 1024;

// An MPEG-4 descriptor (ISO/IEC 14496-1 7.2.2): tag, then a size of 1 to 4
// bytes of 7 bits each, then that many bytes, all inside `in`. Returns the
// descriptor's bytes; empty with ok() false when the tag differs or the size
// runs past the end.
std::span<const std::byte> read_descriptor(ByteReader& in, std::uint8_t tag) {
  if (in.u8() != tag) {
    in.skip(in.remaining() + 1);  // sticky failure
    return {};
  }
  std::size_t size = 0;
  for (int i = 0; i < 4; ++i) {
    const std::uint8_t b = in.u8();
    size = (size << 7) | (b & 0x7fu);
    if ((b & 0x80u) == 0) return in.bytes(size);
  }
  in.skip(in.remaining() + 1);  // a fifth size byte: not a descriptor
  return {};
}

// AAC-LC in an 'mp4a' AudioSampleEntry (ISO/IEC 14496-14): esds holds an
// ES_Descriptor whose DecoderConfigDescriptor names MPEG-4 Audio and whose
// DecoderSpecificInfo is the AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).
// Returns the RFC 6381 codec, "mp4a.40.2".
Result<std::string> parse_esds(const Box& esds) {
  const auto bad = [&](std::string_view what) {
    return box_error(Errc::unprocessable, esds.header, fmt::format("bad AAC decoder configuration: {}", what));
  };
  ByteReader box(esds.payload);
  if (box.u32() != 0 || !box.ok()) return bad("expected version 0 and no flags");
  auto es_bytes = read_descriptor(box, 0x03);
  if (!box.ok()) return bad("no ES_Descriptor (tag 3) that fits the box");
  ByteReader es(es_bytes);
  es.u16();  // ES_ID
  const std::uint8_t es_flags = es.u8();
  if ((es_flags & 0x80u) != 0) es.skip(2);  // dependsOn_ES_ID
  if ((es_flags & 0x40u) != 0) es.skip(es.u8());  // URL
  if ((es_flags & 0x20u) != 0) es.skip(2);  // OCR_ES_Id
  auto dc_bytes = read_descriptor(es, 0x04);
  if (!es.ok()) return bad("no DecoderConfigDescriptor (tag 4) that fits the ES_Descriptor");
  ByteReader dc(dc_bytes);
  const std::uint8_t object_type = dc.u8();
  const std::uint8_t stream_type = dc.u8() >> 2;
  dc.skip(3 + 4 + 4);  // bufferSizeDB, maxBitrate, avgBitrate
  if (!dc.ok()) return bad("DecoderConfigDescriptor too short");
  if (object_type != 0x40 || stream_type != 0x05) {
    return bad(fmt::format("object type 0x{:02x}, stream type {}: expected MPEG-4 Audio (0x40, 5)", object_type,
                           stream_type));
  }
  auto asc = read_descriptor(dc, 0x05);
  if (!dc.ok() || asc.size() < 2) return bad("no AudioSpecificConfig (DecoderSpecificInfo, tag 5) of at least 2 bytes");
  // audioObjectType:5 samplingFrequencyIndex:4 [samplingFrequency:24] channelConfiguration:4
  const unsigned b0 = std::to_integer<unsigned>(asc[0]), b1 = std::to_integer<unsigned>(asc[1]);
  const unsigned aot = b0 >> 3;
  const unsigned freq_index = ((b0 & 0x07u) << 1) | (b1 >> 7);
  if (aot != 2) return bad(fmt::format("audio object type {}, expected 2 (AAC-LC)", aot));
  unsigned channels = 0;
  if (freq_index == 15) {
    if (asc.size() < 5) return bad("AudioSpecificConfig too short for its explicit sampling frequency");
    // 24 bits of frequency follow the index: the channels start at bit 33.
    const unsigned b4 = std::to_integer<unsigned>(asc[4]);
    const unsigned freq = ((b1 & 0x7fu) << 17) | (std::to_integer<unsigned>(asc[2]) << 9) |
                          (std::to_integer<unsigned>(asc[3]) << 1) | (b4 >> 7);
    if (freq == 0) return bad("sampling frequency 0");
    channels = (b4 >> 3) & 0x0fu;
  } else if (freq_index > 12) {
    return bad(fmt::format("reserved sampling frequency index {}", freq_index));
  } else {
    channels = (b1 >> 3) & 0x0fu;
  }
  if (channels < 1 || channels > 7) return bad(fmt::format("channel configuration {}, expected 1 to 7", channels));
  return std::string("mp4a.40.2");
}

// The audio track: Opus (AudioSampleEntry 'Opus' + dOps, "Encapsulation of
// Opus in ISOBMFF") or AAC-LC ('mp4a' + esds).
Status parse_audio_trak(const Box& trak, InitInfo& info) {
  auto tkhd = child_path(trak, {fourcc("tkhd")});
  if (!tkhd) return std::unexpected(tkhd.error());
  {
    ByteReader in(tkhd->payload);
    auto v = full_box_version(in, *tkhd);
    if (!v) return std::unexpected(v.error());
    in.skip(*v == 1 ? 16 : 8);
    info.audio_track_id = in.u32();
    if (!in.ok() || info.audio_track_id == 0) return box_error(Errc::corrupt, tkhd->header, "malformed or track_ID 0");
    if (info.audio_track_id == info.track_id)
      return box_error(Errc::corrupt, tkhd->header, "audio and video tracks share a track_ID");
  }
  auto mdhd = child_path(trak, {fourcc("mdia"), fourcc("mdhd")});
  if (!mdhd) return std::unexpected(mdhd.error());
  auto timescale = header_timescale(*mdhd);
  if (!timescale) return std::unexpected(timescale.error());
  info.audio_timescale = *timescale;
  auto entry = only_sample_entry(trak);
  if (!entry) return std::unexpected(entry.error());
  const bool opus = entry->type() == fourcc("Opus");
  if (!opus && entry->type() != fourcc("mp4a")) {
    return box_error(Errc::unprocessable, entry->header,
                     fmt::format("audio sample entry is '{}', expected Opus or mp4a (AAC-LC)", fourcc_text(entry->type())));
  }
  // AudioSampleEntry: 8 bytes SampleEntry + 20 bytes of audio fields, then boxes.
  constexpr std::size_t kAudioEntryFields = 28;
  if (entry->payload.size() < kAudioEntryFields) return box_error(Errc::corrupt, entry->header, "too short");
  auto boxes = parse_children(entry->payload.subspan(kAudioEntryFields), entry->payload_offset() + kAudioEntryFields,
                              fourcc_text(entry->type()));
  if (!boxes) return std::unexpected(boxes.error());
  auto config = only_child(*boxes, fourcc(opus ? "dOps" : "esds"), *entry);
  if (!config) return std::unexpected(config.error());
  if (config->payload.size() > kMaxAudioConfigBytes)
    return box_error(Errc::unprocessable, config->header, "audio decoder configuration too large");
  if (opus) {
    ByteReader in(config->payload);
    const std::uint8_t version = in.u8();
    const std::uint8_t channels = in.u8();
    in.u16();  // pre-skip
    const std::uint32_t rate = in.u32();
    if (!in.ok() || version != 0 || channels == 0 || rate == 0)
      return box_error(Errc::corrupt, config->header, "bad Opus decoder configuration");
    info.audio_codec = "opus";
  } else {
    auto codec = parse_esds(*config);
    if (!codec) return std::unexpected(codec.error());
    info.audio_codec = std::move(*codec);
  }
  info.audio_config_hex = hex(config->payload);
  return {};
}

}  // namespace

Status check_ftyp(const Box& ftyp) {
  ByteReader in(ftyp.payload);
  const std::uint32_t major = in.u32();
  in.u32();  // minor version
  if (!in.ok() || in.remaining() % 4 != 0) return box_error(Errc::corrupt, ftyp.header, "malformed brand list");
  bool known = known_brand(major);
  while (in.remaining() >= 4) known = known_brand(in.u32()) || known;
  if (!known) {
    return box_error(Errc::unprocessable, ftyp.header,
                     fmt::format("major brand '{}' and its compatible brands are not ISO/MP4 brands",
                                 fourcc_text(major)));
  }
  return {};
}

Result<InitInfo> parse_moov(const Box& moov) {
  if (auto st = validate_tree(moov, 1); !st) return std::unexpected(st.error());
  auto kids = children_of(moov);
  if (!kids) return std::unexpected(kids.error());
  InitInfo info;

  auto mvhd = only_child(*kids, fourcc("mvhd"), moov);
  if (!mvhd) return std::unexpected(mvhd.error());
  auto movie_timescale = header_timescale(*mvhd);
  if (!movie_timescale) return std::unexpected(movie_timescale.error());
  info.movie_timescale = *movie_timescale;

  std::optional<Box> video_trak, audio_trak;
  for (const auto& k : *kids) {
    if (k.type() != fourcc("trak")) continue;
    auto handler = track_handler(k);
    if (!handler) return std::unexpected(handler.error());
    auto& slot = *handler == fourcc("vide") ? video_trak : audio_trak;
    if (*handler != fourcc("vide") && *handler != fourcc("soun")) {
      return box_error(Errc::unprocessable, k.header,
                       fmt::format("track handler is '{}', expected a video or an audio track", fourcc_text(*handler)));
    }
    if (slot) {
      return box_error(Errc::unprocessable, moov.header,
                       fmt::format("expected exactly one {} track, found more", *handler == fourcc("vide") ? "video" : "audio"));
    }
    slot = k;
  }
  if (!video_trak) return box_error(Errc::unprocessable, moov.header, "expected a video track, found none");
  const Box& trak = *video_trak;

  auto tkhd = child_path(trak, {fourcc("tkhd")});
  if (!tkhd) return std::unexpected(tkhd.error());
  int tkhd_width = 0, tkhd_height = 0;
  {
    ByteReader in(tkhd->payload);
    auto v = full_box_version(in, *tkhd);
    if (!v) return std::unexpected(v.error());
    in.skip(*v == 1 ? 16 : 8);
    info.track_id = in.u32();
    in.skip(4 + (*v == 1 ? 8 : 4) + 8 + 8 + 36);  // reserved, duration, reserved, layer.., matrix
    tkhd_width = static_cast<int>(in.u32() >> 16);
    tkhd_height = static_cast<int>(in.u32() >> 16);
    if (!in.ok() || info.track_id == 0) return box_error(Errc::corrupt, tkhd->header, "malformed or track_ID 0");
  }

  auto mdhd = child_path(trak, {fourcc("mdia"), fourcc("mdhd")});
  if (!mdhd) return std::unexpected(mdhd.error());
  auto timescale = header_timescale(*mdhd);
  if (!timescale) return std::unexpected(timescale.error());
  info.timescale = *timescale;
  auto entry_box = only_sample_entry(trak);
  if (!entry_box) return std::unexpected(entry_box.error());
  const Box& entry = *entry_box;
  if (entry.type() != fourcc("avc1") && entry.type() != fourcc("avc3")) {
    return box_error(Errc::unprocessable, entry.header, "sample entry is not H.264 (avc1/avc3)");
  }
  {
    ByteReader in(entry.payload);
    in.skip(24);
    info.width = in.u16();
    info.height = in.u16();
    if (!in.ok() || entry.payload.size() < 78) return box_error(Errc::corrupt, entry.header, "too short");
  }
  if (info.width == 0 || info.height == 0) {
    info.width = tkhd_width;
    info.height = tkhd_height;
  }
  if (info.width == 0 || info.height == 0) return box_error(Errc::corrupt, entry.header, "no picture size");
  auto avc_kids = parse_children(entry.payload.subspan(78), entry.payload_offset() + 78, fourcc_text(entry.type()));
  if (!avc_kids) return std::unexpected(avc_kids.error());
  auto avcc = only_child(*avc_kids, fourcc("avcC"), entry);
  if (!avcc) return std::unexpected(avcc.error());
  {
    ByteReader in(avcc->payload);
    const std::uint8_t version = in.u8();
    const std::uint8_t profile = in.u8();
    const std::uint8_t compat = in.u8();
    const std::uint8_t level = in.u8();
    const std::uint8_t length_size_minus_one = in.u8() & 0x03;
    if (!in.ok() || version != 1) return box_error(Errc::corrupt, avcc->header, "bad AVC decoder configuration");
    // SPS/PPS: tens of bytes from any encoder; the hex copy goes into every
    // segment's catalog row, so a padded avcC must not inflate it.
    if (avcc->payload.size() > kMaxAvccBytes) {
      return box_error(Errc::unprocessable, avcc->header,
                       fmt::format("{} bytes of AVC decoder configuration (at most {})", avcc->payload.size(),
                                   kMaxAvccBytes));
    }
    info.nal_length_size = length_size_minus_one + 1u;
    info.codec = fmt::format("{}.{:02x}{:02x}{:02x}", fourcc_text(entry.type()), profile, compat, level);
    info.avcc_hex = hex(avcc->payload);
  }

  auto mvex = only_child(*kids, fourcc("mvex"), moov);
  if (!mvex) {
    return fail(Errc::unprocessable, "not a fragmented MP4: " + mvex.error().message);
  }
  auto mvex_kids = children_of(*mvex);
  if (!mvex_kids) return std::unexpected(mvex_kids.error());
  bool have_trex = false;
  bool have_audio_trex = false;
  if (audio_trak) {
    if (auto st = parse_audio_trak(*audio_trak, info); !st) return std::unexpected(st.error());
  }
  for (const auto& k : *mvex_kids) {
    if (k.type() != fourcc("trex")) continue;
    ByteReader in(k.payload);
    in.skip(4);
    const std::uint32_t id = in.u32();
    in.u32();  // default_sample_description_index
    const std::uint32_t duration = in.u32(), size = in.u32(), flags = in.u32();
    if (!in.ok()) return box_error(Errc::corrupt, k.header, "too short");
    if (id == info.audio_track_id && id != 0) {
      if (have_audio_trex) return box_error(Errc::corrupt, k.header, "repeated for the same track");
      have_audio_trex = true;
      info.audio_trex_duration = duration;
      info.audio_trex_size = size;
      info.audio_trex_flags = flags;
      continue;
    }
    if (id != info.track_id) continue;
    if (have_trex) return box_error(Errc::corrupt, k.header, "repeated for the same track");
    have_trex = true;
    info.trex_duration = duration;
    info.trex_size = size;
    info.trex_flags = flags;
  }
  if (!have_trex) return box_error(Errc::corrupt, mvex->header, "has no 'trex' for the video track");
  if (info.audio_track_id != 0 && !have_audio_trex)
    return box_error(Errc::corrupt, mvex->header, "has no 'trex' for the audio track");
  return info;
}

}  // namespace deskaudit::media::detail
