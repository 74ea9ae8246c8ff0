#include <gtest/gtest.h>

#include <sstream>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

FragmentIndex make_index(std::uint32_t timescale, std::vector<Fragment> fragments, int width = 1280) {
  FragmentIndex i;
  i.init_size = 800;
  i.timescale = timescale;
  i.track_id = 1;
  i.width = width;
  i.height = 720;
  i.codec = "avc1.64001f";
  i.avcc_hex = "0164001fffe1";
  i.fragments = std::move(fragments);
  return i;
}

std::vector<PlaylistSegment> two_segments() {
  return {{0, make_index(10240, {{800, 1000, 0, 15360, 15, true}, {1800, 900, 15360, 10240, 10, true}})},
          {1, make_index(10240, {{800, 1200, 25600, 5120, 5, true}})}};
}

TEST(HlsPlaylist, ExactTextForTwoSegments) {
  PlaylistOptions opts;
  opts.program_date_time_ms = 1795784700000;  // 2026-11-27T13:05:00Z
  const std::string expected =
      "#EXTM3U\n"
      "#EXT-X-VERSION:7\n"
      "#EXT-X-TARGETDURATION:2\n"
      "#EXT-X-MEDIA-SEQUENCE:0\n"
      "#EXT-X-PLAYLIST-TYPE:VOD\n"
      "#EXT-X-INDEPENDENT-SEGMENTS\n"
      "#EXT-X-MAP:URI=\"segments/0\",BYTERANGE=\"800@0\"\n"
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T13:05:00Z\n"
      "#EXTINF:1.500,\n"
      "#EXT-X-BYTERANGE:1000@800\n"
      "segments/0\n"
      "#EXTINF:1.000,\n"
      "#EXT-X-BYTERANGE:900@1800\n"
      "segments/0\n"
      "#EXT-X-MAP:URI=\"segments/1\",BYTERANGE=\"800@0\"\n"
      "#EXTINF:0.500,\n"
      "#EXT-X-BYTERANGE:1200@800\n"
      "segments/1\n"
      "#EXT-X-ENDLIST\n";
  EXPECT_EQ(build_hls_playlist(two_segments(), opts), expected);
}

TEST(HlsPlaylist, EventModeAndCustomUris) {
  auto segs = two_segments();
  segs[1].index.fragments[0].starts_with_keyframe = false;
  PlaylistOptions opts;
  opts.ended = false;
  opts.segment_uri = [](std::int64_t seq) { return "/api/v1/recordings/rec-1/segments/" + std::to_string(seq); };
  const auto text = build_hls_playlist(segs, opts);
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:EVENT\n"), std::string::npos);
  EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_EQ(text.find("#EXT-X-INDEPENDENT-SEGMENTS"), std::string::npos) << "a fragment starts mid-GOP";
  EXPECT_EQ(text.find("PROGRAM-DATE-TIME"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-MAP:URI=\"/api/v1/recordings/rec-1/segments/1\",BYTERANGE=\"800@0\"\n"),
            std::string::npos);
  EXPECT_TRUE(text.ends_with("#EXT-X-BYTERANGE:1200@800\n/api/v1/recordings/rec-1/segments/1\n")) << text;
}

TEST(HlsPlaylist, DiscontinuityOnlyWhereTimeJumpsOrFormatChanges) {
  auto segs = two_segments();
  EXPECT_EQ(build_hls_playlist(segs, {}).find("DISCONTINUITY"), std::string::npos);
  segs[1].index.fragments[0].decode_time += 10240 * 60;  // a minute later (agent restarted)
  PlaylistOptions opts;
  opts.program_date_time_ms = 0;
  auto text = build_hls_playlist(segs, opts);
  EXPECT_NE(text.find("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"segments/1\",BYTERANGE=\"800@0\"\n"
                      "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:01:02.500Z\n#EXTINF:0.500,\n"),
            std::string::npos)
      << text;
  segs = two_segments();
  segs[1].index.width = 1920;
  text = build_hls_playlist(segs, {});
  EXPECT_NE(text.find("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"segments/1\""), std::string::npos) << text;
  segs = two_segments();
  segs[1].index.fragments[0].decode_time += 1000;  // less than a frame (1024): jitter, not a jump
  EXPECT_EQ(build_hls_playlist(segs, {}).find("DISCONTINUITY"), std::string::npos);
}

TEST(HlsPlaylist, DurationsAddUpWithoutDrift) {
  // 999 fragments of 1/3 s at 90 kHz: rounding each to ms would lose 333 ms.
  std::vector<Fragment> frags;
  for (int i = 0; i < 999; ++i) frags.push_back({800u + 100u * i, 100, 30000ll * i, 30000, 10, true});
  const auto text = build_hls_playlist({{0, make_index(90000, frags)}}, {});
  std::istringstream in(text);
  std::string line;
  std::int64_t total_ms = 0;
  int entries = 0;
  while (std::getline(in, line)) {
    if (!line.starts_with("#EXTINF:")) continue;
    const auto dot = line.find('.');
    total_ms += std::stoll(line.substr(8, dot - 8)) * 1000 + std::stoll(line.substr(dot + 1, 3));
    ++entries;
  }
  EXPECT_EQ(entries, 999);
  EXPECT_EQ(total_ms, 333000);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:1\n"), std::string::npos);
}

// Indexes restored from JSON may hold any int64: no overflow (UBSan-clean).
TEST(HlsPlaylist, ExtremeValuesDoNotOverflow) {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max() / 2;
  std::vector<PlaylistSegment> segs = {{0, make_index(1, {{800, 10, 0, big, 1, true}})},
                                       {1, make_index(1, {{800, 10, big, big, 1, true}})}};
  PlaylistOptions opts;
  opts.program_date_time_ms = std::numeric_limits<std::int64_t>::max() - 5;
  const auto text = build_hls_playlist(segs, opts);
  EXPECT_NE(text.find("#EXTINF:" + std::to_string(big) + ".000,\n"), std::string::npos) << text;
  EXPECT_EQ(segs[0].index.duration_ms(), std::numeric_limits<std::int64_t>::max()) << "saturates";
}

TEST(HlsPlaylist, EmptyRecording) {
  PlaylistOptions opts;
  opts.ended = false;
  EXPECT_EQ(build_hls_playlist({}, opts),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n");
}

// The playlist of a real two-segment recording plays in ffmpeg's HLS demuxer.
TEST(HlsPlaylist, RealRecordingPlaysInFfmpeg) {
  DESKAUDIT_REQUIRE_PROGRAM(ffprobe, "ffprobe");
  test::StreamOptions o;
  o.frames = 60;
  o.packets_per_fragment = 10;
  const auto s = test::encode_fmp4(o);
  test::TempDir dir;
  std::vector<PlaylistSegment> segs;
  for (int seq = 0; seq < 2; ++seq) {
    const auto path = dir.write("seg" + std::to_string(seq) + ".mp4", test::make_segment(s, seq * 3, seq * 3 + 3));
    auto idx = index_segment_file(path);
    ASSERT_TRUE(idx) << idx.error().message;
    segs.push_back({seq, *idx});
  }
  PlaylistOptions opts;
  opts.segment_uri = [](std::int64_t seq) { return "seg" + std::to_string(seq) + ".mp4"; };
  const auto text = build_hls_playlist(segs, opts);
  EXPECT_EQ(text.find("DISCONTINUITY"), std::string::npos);
  const auto playlist = dir.write("index.m3u8", text);
  const auto r = test::run_command(ffprobe->string() +
                                   " -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames"
                                   " -of csv=p=0 '" + playlist.string() + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // ffprobe lists the stream under its HLS program and on its own.
  std::istringstream lines(r.output);
  std::string line;
  int counts = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_EQ(line, "60");
    ++counts;
  }
  EXPECT_GE(counts, 1);
}

}  // namespace
}  // namespace deskaudit::media
