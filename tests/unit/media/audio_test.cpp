// The second (audio) track: Opus and AAC-LC segments made by the ffmpeg CLI
// (as an agent's libav makes them) are indexed, their esds is checked before
// use, and the master playlist names both tracks.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;

enum class AudioCodec { none, opus, aac };

// 2 s of 160x120 H.264 at 5 fps (a keyframe and a fragment every second),
// with a 1 kHz tone as 48 kHz stereo in the codec asked for.
std::string ffmpeg_segment(const std::filesystem::path& ffmpeg, AudioCodec codec) {
  test::TempDir dir;
  const auto file = dir.path() / "av.mp4";
  std::string audio;
  if (codec == AudioCodec::opus) audio = " -f lavfi -i sine=frequency=1000:sample_rate=48000 -c:a libopus -ac 2 -b:a 48k";
  if (codec == AudioCodec::aac) audio = " -f lavfi -i sine=frequency=1000:sample_rate=48000 -c:a aac -ac 2 -b:a 64k";
  const auto r = test::run_command(ffmpeg.string() +
                                   " -nostdin -loglevel error -f lavfi -i testsrc2=size=160x120:rate=5" + audio +
                                   " -t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 5"
                                   " -movflags frag_keyframe+empty_moov+default_base_moof -f mp4 '" +
                                   file.string() + "' 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg failed: " + r.output);
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Offset of the esds payload (after version/flags) in the file.
std::size_t esds_payload(const std::string& file) {
  const auto at = file.find("esds");
  if (at == std::string::npos) throw std::runtime_error("no esds");
  return at + 4;
}

TEST(AudioTrack, AacLcSecondTrackIsIndexed) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  const auto file = ffmpeg_segment(*ffmpeg, AudioCodec::aac);
  auto idx = index_segment(bytes_of(file));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_TRUE(idx->has_audio());
  EXPECT_EQ(idx->audio_codec, "mp4a.40.2");
  EXPECT_EQ(idx->audio_timescale, 48000u);
  EXPECT_NE(idx->audio_track_id, idx->track_id);
  EXPECT_EQ(idx->codecs(), idx->codec + ",mp4a.40.2");
  EXPECT_GE(idx->fragments.size(), 2u);
  // The stored index keeps the audio track.
  auto back = fragment_index_from_json(to_json(*idx));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->audio_codec, "mp4a.40.2");
  EXPECT_EQ(back->audio_config_hex, idx->audio_config_hex);
}

TEST(AudioTrack, OpusSecondTrackIsIndexed) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  const auto file = ffmpeg_segment(*ffmpeg, AudioCodec::opus);
  auto idx = index_segment(bytes_of(file));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(idx->audio_codec, "opus");
  EXPECT_EQ(idx->codecs(), idx->codec + ",opus");
}

// Every field of the esds that is read is checked first: each damage is a
// clear refusal (422 at the API) naming the esds and what is wrong.
TEST(AudioTrack, MalformedEsdsIsRefusedWithItsReason) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  const auto good = ffmpeg_segment(*ffmpeg, AudioCodec::aac);
  const std::size_t p = esds_payload(good);
  // ffmpeg writes descriptor sizes in 4 bytes: ES_Descriptor tag at +4, its
  // DecoderConfigDescriptor tag at +12 (object type +17), the
  // DecoderSpecificInfo tag at +30, its size's last byte at +34, the
  // AudioSpecificConfig at +35.
  ASSERT_EQ(static_cast<unsigned char>(good[p + 4]), 0x03);
  ASSERT_EQ(static_cast<unsigned char>(good[p + 12]), 0x04);
  ASSERT_EQ(static_cast<unsigned char>(good[p + 17]), 0x40);
  ASSERT_EQ(static_cast<unsigned char>(good[p + 30]), 0x05);
  const auto asc0 = static_cast<unsigned char>(good[p + 35]);
  const auto asc1 = static_cast<unsigned char>(good[p + 36]);
  ASSERT_EQ(asc0 >> 3, 2) << "ffmpeg's aac is AAC-LC";
  struct Damage {
    std::string name;
    std::map<std::size_t, unsigned char> bytes;  // offset from the esds payload -> new value
    std::string expect;
  };
  const std::vector<Damage> damages = {
      {"not an ES_Descriptor", {{4, 0x05}}, "no ES_Descriptor"},
      {"ES_Descriptor longer than the box", {{8, 0x7f}}, "no ES_Descriptor"},
      {"descriptor size of 5 bytes", {{8, 0x80}}, "no ES_Descriptor"},
      {"DecoderConfigDescriptor longer than its parent", {{16, 0x7f}}, "DecoderConfigDescriptor"},
      {"MP3 instead of MPEG-4 Audio", {{17, 0x6b}}, "object type 0x6b"},
      {"video stream type", {{18, 0x11}}, "stream type 4"},
      {"AudioSpecificConfig longer than its parent", {{34, 0x7f}}, "AudioSpecificConfig"},
      {"AudioSpecificConfig of 1 byte", {{34, 0x01}}, "AudioSpecificConfig"},
      {"HE-AAC", {{35, static_cast<unsigned char>((5 << 3) | (asc0 & 7))}}, "audio object type 5"},
      {"escaped object type", {{35, static_cast<unsigned char>((31 << 3) | (asc0 & 7))}}, "audio object type 31"},
      {"reserved frequency index",
       {{35, static_cast<unsigned char>((2 << 3) | (13 >> 1))}, {36, static_cast<unsigned char>(0x80 | (asc1 & 0x7f))}},
       "sampling frequency index 13"},
      {"no channel configuration", {{36, static_cast<unsigned char>(asc1 & ~0x78)}}, "channel configuration 0"},
      {"version 1", {{0, 0x01}}, "version 0"},
  };
  for (const auto& d : damages) {
    auto bad = good;
    for (const auto& [off, v] : d.bytes) bad[p + off] = static_cast<char>(v);
    auto idx = index_segment(bytes_of(bad));
    ASSERT_FALSE(idx) << d.name;
    EXPECT_EQ(idx.error().code, Errc::unprocessable) << d.name;
    EXPECT_NE(idx.error().message.find("esds"), std::string::npos) << d.name << ": " << idx.error().message;
    EXPECT_NE(idx.error().message.find(d.expect), std::string::npos) << d.name << ": " << idx.error().message;
  }
}

TEST(AudioTrack, OtherAudioSampleEntriesAreRefused) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  auto file = ffmpeg_segment(*ffmpeg, AudioCodec::aac);
  file.replace(file.find("mp4a"), 4, "ac-3");
  auto idx = index_segment(bytes_of(file));
  ASSERT_FALSE(idx);
  EXPECT_EQ(idx.error().code, Errc::unprocessable);
  EXPECT_NE(idx.error().message.find("expected Opus or mp4a (AAC-LC)"), std::string::npos) << idx.error().message;
}

// A whole AAC recording downloads as one MP4 with both tracks.
TEST(AudioTrack, AacRecordingDownloadsWithBothTracks) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  DESKAUDIT_REQUIRE_PROGRAM(ffprobe, "ffprobe");
  const auto file = ffmpeg_segment(*ffmpeg, AudioCodec::aac);
  auto idx = index_segment(bytes_of(file));
  ASSERT_TRUE(idx) << idx.error().message;
  const std::vector<PlaylistSegment> segs = {{0, *idx}};
  auto plan = build_download_plan(bytes_of(file).first(idx->init_size), segs);
  ASSERT_TRUE(plan) << plan.error().message;
  std::string out;
  for (const auto& piece : plan->pieces) out += piece.seq ? file.substr(piece.offset, piece.size) : piece.inline_bytes;
  test::TempDir dir;
  const auto path = dir.write("all.mp4", out);
  const auto r = test::run_command(ffprobe->string() + " -v error -show_entries stream=codec_type,codec_name -of csv=p=0 '" +
                                   path.string() + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("h264,video"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("aac,audio"), std::string::npos) << r.output;
}

FragmentIndex video_index(std::string codec, int width, int height) {
  FragmentIndex i;
  i.init_size = 800;
  i.timescale = 1000;
  i.track_id = 1;
  i.width = width;
  i.height = height;
  i.codec = std::move(codec);
  i.avcc_hex = "01";
  // 2 s: 250 000 bytes in the first second, 125 000 in the second.
  i.fragments = {{800, 250'000, 0, 1000, 5, true}, {250'800, 125'000, 1000, 1000, 5, true}};
  return i;
}

TEST(MasterPlaylist, VideoOnlyNamesTheVideoCodec) {
  const std::vector<PlaylistSegment> segs = {{0, video_index("avc1.64001f", 1280, 720)}};
  EXPECT_EQ(build_hls_master_playlist(segs, "playlist.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:7\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1500000,CODECS=\"avc1.64001f\",RESOLUTION=1280x720\n"
            "playlist.m3u8\n");
}

TEST(MasterPlaylist, BothTracksTheHighestLevelAndTheLargestPicture) {
  auto a = video_index("avc1.64001f", 1280, 720);
  a.audio_track_id = 2;
  a.audio_timescale = 48000;
  a.audio_codec = "opus";
  auto b = video_index("avc1.640028", 1920, 1080);
  b.audio_track_id = 2;
  b.audio_timescale = 48000;
  b.audio_codec = "opus";
  auto c = video_index("avc1.42c01e", 800, 600);  // baseline: ranks below high
  const std::vector<PlaylistSegment> segs = {{0, a}, {1, b}, {2, c}};
  const auto text = build_hls_master_playlist(segs, "playlist.m3u8");
  EXPECT_NE(text.find("CODECS=\"avc1.640028,opus\",RESOLUTION=1920x1080\n"), std::string::npos) << text;
}

TEST(MasterPlaylist, AacTrack) {
  auto a = video_index("avc1.64001f", 1280, 720);
  a.audio_track_id = 2;
  a.audio_timescale = 48000;
  a.audio_codec = "mp4a.40.2";
  const auto text = build_hls_master_playlist({{0, a}}, "playlist.m3u8");
  EXPECT_NE(text.find("CODECS=\"avc1.64001f,mp4a.40.2\""), std::string::npos) << text;
}

TEST(MasterPlaylist, BeforeTheFirstSegment) {
  EXPECT_EQ(build_hls_master_playlist({}, "playlist.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=0,AVERAGE-BANDWIDTH=0\nplaylist.m3u8\n");
}

// The master playlist of a real recording with sound plays both tracks in
// ffmpeg's HLS demuxer.
TEST(MasterPlaylist, RealRecordingWithSoundPlaysInFfmpeg) {
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  DESKAUDIT_REQUIRE_PROGRAM(ffprobe, "ffprobe");
  const auto file = ffmpeg_segment(*ffmpeg, AudioCodec::opus);
  test::TempDir dir;
  const auto seg = dir.write("seg0.mp4", file);
  auto idx = index_segment_file(seg);
  ASSERT_TRUE(idx) << idx.error().message;
  PlaylistOptions opts;
  opts.segment_uri = [](std::int64_t seq) { return "seg" + std::to_string(seq) + ".mp4"; };
  dir.write("playlist.m3u8", build_hls_playlist({{0, *idx}}, opts));
  const auto master = dir.write("master.m3u8", build_hls_master_playlist({{0, *idx}}, "playlist.m3u8"));
  const auto r = test::run_command(ffprobe->string() + " -v error -show_entries stream=codec_type,codec_name -of csv=p=0 '" +
                                   master.string() + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("h264,video"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("opus,audio"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace deskaudit::media
