// HLS media playlist (RFC 8216, version 7) over stored fMP4 segment files.
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "common/time.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {

namespace {

bool same_init(const FragmentIndex& a, const FragmentIndex& b) {
  return a.codec == b.codec && a.avcc_hex == b.avcc_hex && a.width == b.width && a.height == b.height &&
         a.timescale == b.timescale && a.track_id == b.track_id && a.audio_codec == b.audio_codec &&
         a.audio_config_hex == b.audio_config_hex && a.audio_track_id == b.audio_track_id &&
         a.audio_timescale == b.audio_timescale;
}

// ticks * to / from, rounded to nearest, in 128 bits: indexes restored from
// JSON may hold any int64, and a recording's sum of them must not overflow.
__int128 rescale(__int128 ticks, std::uint32_t from, std::uint32_t to) {
  if (from == 0) return 0;
  if (from == to) return ticks;
  return (ticks * to + from / 2) / from;
}

std::string seconds_text(__int128 ms) {
  const auto whole = static_cast<long long>(ms / 1000);
  return fmt::format("{}.{:03}", whole, static_cast<int>(ms % 1000));
}

struct Entry {
  const PlaylistSegment* segment = nullptr;
  const Fragment* fragment = nullptr;
  bool map = false;            // first fragment of its segment file
  bool discontinuity = false;  // timestamps or encoding parameters change here
  __int128 duration_ms = 0;
};

}  // namespace

std::string build_hls_playlist(const std::vector<PlaylistSegment>& segments, const PlaylistOptions& opts) {
  // Positions accumulate in ticks of the first timescale and are rounded to ms
  // only when printed: each EXTINF is the difference of two rounded positions,
  // so the EXTINFs add up to the total media time without drift.
  std::uint32_t base_timescale = 0;
  for (const auto& s : segments) {
    if (!s.index.fragments.empty() && s.index.timescale != 0) {
      base_timescale = s.index.timescale;
      break;
    }
  }
  std::vector<Entry> entries;
  __int128 position = 0;  // ticks of base_timescale
  const PlaylistSegment* prev_segment = nullptr;
  const Fragment* prev = nullptr;
  bool all_keyframes = true;
  __int128 max_ms = 0;
  for (const auto& s : segments) {
    if (s.index.timescale == 0) continue;
    bool first_in_file = true;
    for (const auto& f : s.index.fragments) {
      Entry e{&s, &f, first_in_file, false, 0};
      first_in_file = false;
      if (prev != nullptr) {
        if (!same_init(prev_segment->index, s.index)) {
          e.discontinuity = true;
        } else {
          // A gap or overlap of more than one (average) frame is a jump.
          const std::int64_t frame = std::max<std::int64_t>(1, prev->duration / std::max<std::uint32_t>(1, prev->sample_count));
          const std::int64_t expected = prev->decode_time + prev->duration;
          const std::int64_t delta = f.decode_time - expected;
          e.discontinuity = delta > frame || delta < -frame;
        }
      }
      const __int128 start_ms = rescale(position, base_timescale, 1000);
      position += rescale(f.duration, s.index.timescale, base_timescale);
      e.duration_ms = rescale(position, base_timescale, 1000) - start_ms;
      max_ms = std::max(max_ms, e.duration_ms);
      all_keyframes = all_keyframes && f.starts_with_keyframe;
      entries.push_back(e);
      prev = &f;
      prev_segment = &s;
    }
  }

  auto uri = [&](std::int64_t seq) {
    return opts.segment_uri ? opts.segment_uri(seq) : fmt::format("segments/{}", seq);
  };
  // EXTINF rounded to the nearest integer must not exceed the target duration.
  const auto target = static_cast<long long>(std::max<__int128>(1, (max_ms + 999) / 1000));
  std::string out;
  out += "#EXTM3U\n#EXT-X-VERSION:7\n";
  out += fmt::format("#EXT-X-TARGETDURATION:{}\n", target);
  out += "#EXT-X-MEDIA-SEQUENCE:0\n";
  out += opts.ended ? "#EXT-X-PLAYLIST-TYPE:VOD\n" : "#EXT-X-PLAYLIST-TYPE:EVENT\n";
  if (all_keyframes && !entries.empty()) out += "#EXT-X-INDEPENDENT-SEGMENTS\n";
  const __int128 first_ms =
      entries.empty() ? 0 : rescale(entries.front().fragment->decode_time, entries.front().segment->index.timescale, 1000);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.discontinuity) out += "#EXT-X-DISCONTINUITY\n";
    if (e.map) {
      out += fmt::format("#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{}@0\"\n", uri(e.segment->seq), e.segment->index.init_size);
    }
    if (opts.program_date_time_ms && (i == 0 || e.discontinuity)) {
      // Media time tracks wall time within a recording; after a jump the
      // decode time says where the next picture belongs.
      const __int128 media_ms = rescale(e.fragment->decode_time, e.segment->index.timescale, 1000);
      const __int128 wall_ms = *opts.program_date_time_ms + (media_ms - first_ms);
      if (wall_ms >= 0 && wall_ms <= std::numeric_limits<std::int64_t>::max()) {
        out += fmt::format("#EXT-X-PROGRAM-DATE-TIME:{}\n", format_rfc3339(static_cast<std::int64_t>(wall_ms)));
      }
    }
    out += fmt::format("#EXTINF:{},\n", seconds_text(e.duration_ms));
    out += fmt::format("#EXT-X-BYTERANGE:{}@{}\n", e.fragment->size, e.fragment->offset);
    out += uri(e.segment->seq);
    out += '\n';
  }
  if (opts.ended) out += "#EXT-X-ENDLIST\n";
  return out;
}

namespace {

// avc1.PPCCLL: profile_idc, then level_idc decide which stream is the most
// demanding; a player set up for it decodes the others.
std::uint32_t avc_rank(const std::string& codec) {
  const auto dot = codec.find('.');
  if (dot == std::string::npos || codec.size() != dot + 7) return 0;
  std::uint32_t v = 0;
  for (std::size_t i = dot + 1; i < codec.size(); ++i) {
    const char c = codec[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v * 16 + static_cast<std::uint32_t>(d);
  }
  return ((v >> 16) << 8) | (v & 0xff);  // profile, level (the constraint flags do not rank)
}

}  // namespace

std::string build_hls_master_playlist(const std::vector<PlaylistSegment>& segments, std::string_view media_uri) {
  std::string video;
  std::vector<std::string> audio;
  int width = 0, height = 0;
  __int128 peak_bps = 0, total_bits = 0, total_ms = 0;
  for (const auto& s : segments) {
    const auto& idx = s.index;
    if (idx.fragments.empty() || idx.timescale == 0) continue;
    if (video.empty() || avc_rank(idx.codec) > avc_rank(video)) video = idx.codec;
    if (idx.has_audio() && std::find(audio.begin(), audio.end(), idx.audio_codec) == audio.end())
      audio.push_back(idx.audio_codec);
    if (static_cast<std::int64_t>(idx.width) * idx.height > static_cast<std::int64_t>(width) * height) {
      width = idx.width;
      height = idx.height;
    }
    for (const auto& f : idx.fragments) {
      const __int128 ms = rescale(f.duration, idx.timescale, 1000);
      total_bits += static_cast<__int128>(f.size) * 8;
      total_ms += ms;
      if (ms > 0) peak_bps = std::max(peak_bps, (static_cast<__int128>(f.size) * 8 * 1000 + ms - 1) / ms);
    }
  }
  const auto clamp = [](__int128 v) {
    return static_cast<long long>(std::min<__int128>(v, std::numeric_limits<std::int64_t>::max()));
  };
  const __int128 average_bps = total_ms > 0 ? (total_bits * 1000 + total_ms - 1) / total_ms : 0;
  std::string out = "#EXTM3U\n#EXT-X-VERSION:7\n";
  out += fmt::format("#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={}", clamp(peak_bps), clamp(average_bps));
  if (!video.empty()) {
    std::string codecs = video;
    for (const auto& a : audio) codecs += "," + a;
    out += fmt::format(",CODECS=\"{}\",RESOLUTION={}x{}", codecs, width, height);
  }
  out += fmt::format("\n{}\n", media_uri);
  return out;
}

}  // namespace deskaudit::media
