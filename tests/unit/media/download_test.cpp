#include <gtest/gtest.h>

#include <map>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;

struct Recording {
  test::Stream stream;
  std::map<std::int64_t, std::string> files;  // seq -> segment file
  std::vector<PlaylistSegment> segments;
};

// `frames` frames cut into segments of `fragments_per_segment` fragments.
Recording make_recording(int frames, int packets_per_fragment, std::size_t fragments_per_segment) {
  Recording r;
  test::StreamOptions o;
  o.frames = frames;
  o.packets_per_fragment = packets_per_fragment;
  r.stream = test::encode_fmp4(o);
  std::int64_t seq = 0;
  for (std::size_t first = 0; first < r.stream.cuts.size(); first += fragments_per_segment, ++seq) {
    const auto end = std::min(first + fragments_per_segment, r.stream.cuts.size());
    r.files[seq] = test::make_segment(r.stream, first, end);
    auto idx = index_segment(bytes_of(r.files[seq]));
    if (!idx) throw std::runtime_error(idx.error().message);
    r.segments.push_back({seq, std::move(*idx)});
  }
  return r;
}

std::string assemble(const DownloadPlan& plan, const std::map<std::int64_t, std::string>& files) {
  std::string out;
  for (const auto& p : plan.pieces) {
    if (p.seq) {
      out += files.at(*p.seq).substr(p.offset, p.size);
    } else {
      EXPECT_EQ(p.size, p.inline_bytes.size());
      out += p.inline_bytes;
    }
  }
  EXPECT_EQ(out.size(), plan.total_size);
  return out;
}

std::span<const std::byte> init_of(const Recording& r) {
  return bytes_of(r.files.at(0)).first(r.segments[0].index.init_size);
}

class DownloadPlays : public testing::TestWithParam<int> {};

// The assembled file is one MP4 that ffprobe and ffmpeg read end to end.
TEST_P(DownloadPlays, FfprobeSeesTheWholeRecording) {
  DESKAUDIT_REQUIRE_PROGRAM(ffprobe, "ffprobe");
  DESKAUDIT_REQUIRE_PROGRAM(ffmpeg, "ffmpeg");
  const auto rec = make_recording(60, GetParam(), 2);
  ASSERT_GE(rec.segments.size(), 3u);
  auto plan = build_download_plan(init_of(rec), rec.segments);
  ASSERT_TRUE(plan) << plan.error().message;
  // init, one piece per segment (its fragments are adjacent), mfra.
  EXPECT_EQ(plan->pieces.size(), rec.segments.size() + 2);

  std::uint32_t samples = 0;
  std::int64_t ticks = 0;
  std::size_t fragments = 0;
  for (const auto& s : rec.segments) {
    for (const auto& f : s.index.fragments) {
      samples += f.sample_count;
      ticks += f.duration;
      ++fragments;
    }
  }
  const double seconds = double(ticks) / rec.segments[0].index.timescale;
  EXPECT_EQ(samples, 60u);

  const std::string bytes = assemble(*plan, rec.files);
  auto again = index_segment(bytes_of(bytes));  // our own validator accepts it too
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->fragments.size(), fragments);

  test::TempDir dir;
  const auto file = dir.write("recording.mp4", bytes);
  auto r = test::run_command(ffprobe->string() + " -v error -show_entries format=duration -of csv=p=0 '" +
                             file.string() + "' 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NEAR(std::stod(r.output), seconds, 0.1) << r.output;

  r = test::run_command(ffmpeg->string() + " -nostdin -v error -i '" + file.string() + "' -f null - 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "decoder complained";

  r = test::run_command(ffprobe->string() +
                        " -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,duration"
                        " -of csv=p=0 '" + file.string() + "' 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.substr(r.output.find(',') + 1), std::to_string(samples) + "\n") << r.output;
  EXPECT_NEAR(std::stod(r.output), seconds, 0.1) << "stream duration: " << r.output;
}

INSTANTIATE_TEST_SUITE_P(FragmentSizes, DownloadPlays, testing::Values(10, 5),
                         [](const auto& info) { return "packets_per_fragment_" + std::to_string(info.param); });

TEST(DownloadPlan, RefusesAFormatChange) {
  auto rec = make_recording(40, 10, 2);
  auto other = rec.segments;
  other[1].index.width = 640;
  auto plan = build_download_plan(init_of(rec), other);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, Errc::unprocessable);
  EXPECT_NE(plan.error().message.find("segment 1 changes the video format"), std::string::npos)
      << plan.error().message;
  other = rec.segments;
  other[1].index.avcc_hex[10] ^= 1;
  EXPECT_FALSE(build_download_plan(init_of(rec), other));
}

TEST(DownloadPlan, RefusesTimeGoingBackAndBadInit) {
  auto rec = make_recording(40, 10, 2);
  auto swapped = rec.segments;
  std::swap(swapped[0].index.fragments, swapped[1].index.fragments);
  auto plan = build_download_plan(init_of(rec), swapped);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, Errc::unprocessable);

  plan = build_download_plan(bytes_of(rec.files.at(0)).first(100), rec.segments);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, Errc::invalid_argument);
  EXPECT_FALSE(build_download_plan(init_of(rec), {}));

  auto damaged = rec.files.at(0).substr(0, rec.segments[0].index.init_size);
  damaged[30] = 'X';  // moov size
  EXPECT_FALSE(build_download_plan(bytes_of(damaged), rec.segments));
}

// A recording longer than 2^32 ticks needs version-1 duration fields.
TEST(DownloadPlan, LongRecordingGets64BitDurations) {
  auto rec = make_recording(20, 10, 2);
  auto segs = rec.segments;
  segs[0].index.fragments.back().duration = std::int64_t(1) << 44;  // > 2^32 in the movie timescale too
  auto plan = build_download_plan(init_of(rec), segs);
  ASSERT_TRUE(plan) << plan.error().message;
  const std::string& init = plan->pieces.front().inline_bytes;
  for (const char* type : {"mvhd", "tkhd", "mdhd", "mehd"}) {
    const auto at = init.find(type);
    ASSERT_NE(at, std::string::npos) << type;
    EXPECT_EQ(init[at + 4], 1) << type << " version";
  }
  // Still a valid init segment: it indexes with the original fragments after it.
  const auto& seg0 = rec.files.at(0);
  auto idx = index_segment(bytes_of(init + seg0.substr(rec.segments[0].index.init_size)));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(idx->codec, rec.segments[0].index.codec);
}

}  // namespace
}  // namespace deskaudit::media
