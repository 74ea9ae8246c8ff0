#include <gtest/gtest.h>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;

const test::Stream& four_fragments() {
  static const test::Stream s = test::encode_fmp4({});
  return s;
}

TEST(IndexSegment, IndexesARealFragmentedMp4) {
  const auto& s = four_fragments();
  ASSERT_EQ(s.cuts.size(), 4u);
  auto idx = index_segment(bytes_of(s.bytes));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(idx->init_size, s.init_size);
  EXPECT_EQ(idx->width, 320);
  EXPECT_EQ(idx->height, 240);
  EXPECT_EQ(idx->codec.substr(0, 5), "avc1.");
  EXPECT_EQ(idx->codec.size(), 11u);
  EXPECT_FALSE(idx->avcc_hex.empty());
  EXPECT_GT(idx->timescale, 0u);
  EXPECT_EQ(idx->track_id, 1u);
  ASSERT_EQ(idx->fragments.size(), 4u);
  std::uint64_t bytes = idx->init_size;
  std::int64_t expected_time = 0;
  std::uint32_t samples = 0;
  for (std::size_t i = 0; i < idx->fragments.size(); ++i) {
    const auto& f = idx->fragments[i];
    EXPECT_EQ(f.offset, s.fragment_begin(i));
    EXPECT_EQ(f.offset + f.size, s.cuts[i]);
    EXPECT_EQ(f.decode_time, expected_time) << "fragment " << i;
    EXPECT_EQ(f.duration, std::int64_t(idx->timescale) / 10 * 10) << "10 frames at 10 fps";
    EXPECT_EQ(f.sample_count, 10u);
    EXPECT_TRUE(f.starts_with_keyframe);
    bytes += f.size;
    expected_time += f.duration;
    samples += f.sample_count;
  }
  EXPECT_EQ(bytes, s.bytes.size());
  EXPECT_EQ(samples, std::uint32_t(s.frames));
  EXPECT_EQ(idx->start_ms(), 0);
  EXPECT_EQ(idx->duration_ms(), 4000);
}

TEST(IndexSegment, FileAndMemoryAgree) {
  const auto& s = four_fragments();
  test::TempDir dir;
  auto mem = index_segment(bytes_of(s.bytes));
  auto file = index_segment_file(dir.write("seg.mp4", s.bytes));
  ASSERT_TRUE(mem && file);
  EXPECT_EQ(to_json(*mem), to_json(*file));
}

// The upload path indexes the body as it arrives (the temp file may be
// O_DIRECT or sealed): the same index in pieces of any size, padding and a
// trailing mfra included.
TEST(SegmentIndexer, PiecesOfAnySizeGiveTheWholeFilesIndex) {
  const auto& s = four_fragments();
  // free boxes between fragments (as bench/ingest pads segments), one with a 64-bit size
  std::string padded = s.bytes.substr(0, s.fragment_begin(1));
  padded += std::string("\0\0\0\x10" "free", 8) + std::string(8, 'x');
  padded += std::string("\0\0\0\x01" "skip" "\0\0\0\0\0\0\0\x18", 16) + std::string(8, 'y');
  padded += s.bytes.substr(s.fragment_begin(1));
  for (const std::string* bytes : {&s.bytes, static_cast<const std::string*>(&padded)}) {
    auto whole = index_segment(bytes_of(*bytes));
    ASSERT_TRUE(whole) << whole.error().message;
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{31}, std::size_t{4096}, bytes->size()}) {
      SegmentIndexer indexer;
      for (std::size_t at = 0; at < bytes->size(); at += piece) {
        indexer.update(bytes_of(bytes->substr(at, std::min(piece, bytes->size() - at))));
      }
      auto streamed = indexer.finish();
      ASSERT_TRUE(streamed) << "pieces of " << piece << ": " << streamed.error().message;
      EXPECT_EQ(to_json(*streamed), to_json(*whole)) << "pieces of " << piece;
    }
  }
}

TEST(IndexSegment, MissingFileIsAnIoError) {
  auto r = index_segment_file("/nonexistent/deskaudit/seg.mp4");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io);
}

TEST(IndexSegment, AcceptsTheMuxersTrailingMfra) {
  test::StreamOptions o;
  o.write_trailer = true;
  const auto s = test::encode_fmp4(o);
  ASSERT_GT(s.bytes.size(), s.cuts.back());
  auto idx = index_segment(bytes_of(s.bytes));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(idx->fragments.size(), s.cuts.size());
}

TEST(IndexSegment, FragmentsWithoutKeyframes) {
  test::StreamOptions o;
  o.packets_per_fragment = 5;  // every second fragment starts mid-GOP
  const auto s = test::encode_fmp4(o);
  auto idx = index_segment(bytes_of(s.bytes));
  ASSERT_TRUE(idx) << idx.error().message;
  ASSERT_EQ(idx->fragments.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(idx->fragments[i].starts_with_keyframe, i % 2 == 0) << i;
}

TEST(IndexSegment, SecondSegmentContinuesDecodeTime) {
  const auto& s = four_fragments();
  const auto seg1 = test::make_segment(s, 2, 4);
  auto idx = index_segment(bytes_of(seg1));
  ASSERT_TRUE(idx) << idx.error().message;
  ASSERT_EQ(idx->fragments.size(), 2u);
  EXPECT_EQ(idx->fragments[0].offset, s.init_size);
  EXPECT_EQ(idx->start_ms(), 2000);
  EXPECT_EQ(idx->duration_ms(), 2000);
}

TEST(IndexSegment, SegmentWithoutFragmentIsUnprocessable) {
  const auto& s = four_fragments();
  auto r = index_segment(bytes_of(std::string_view(s.bytes).substr(0, s.init_size)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unprocessable);
}

TEST(FragmentIndexJson, RoundTrips) {
  auto idx = index_segment(bytes_of(four_fragments().bytes));
  ASSERT_TRUE(idx);
  const auto j = to_json(*idx);
  auto back = fragment_index_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json(*back), j);
  EXPECT_EQ(back->fragments.size(), 4u);
  EXPECT_EQ(back->codec, idx->codec);
}

TEST(FragmentIndexJson, RejectsBadInput) {
  auto idx = index_segment(bytes_of(four_fragments().bytes));
  ASSERT_TRUE(idx);
  const auto good = to_json(*idx);
  auto expect_corrupt = [](const nlohmann::json& j, const char* what) {
    auto r = fragment_index_from_json(j);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::corrupt) << what;
  };
  expect_corrupt(nlohmann::json::array(), "not an object");
  auto j = good;
  j.erase("codec");
  expect_corrupt(j, "missing key");
  j = good;
  j["timescale"] = -1;
  expect_corrupt(j, "negative");
  j = good;
  j["timescale"] = "10240";
  expect_corrupt(j, "string number");
  j = good;
  j["width"] = 1 << 20;
  expect_corrupt(j, "out of range");
  j = good;
  std::swap(j["fragments"][0], j["fragments"][1]);
  expect_corrupt(j, "out of order");
  j = good;
  j["fragments"][0][1] = 0;
  expect_corrupt(j, "zero size");
  j = good;
  j["fragments"][0] = {1, 2, 3};
  expect_corrupt(j, "short fragment");
  j = good;
  j["fragments"][3][3] = std::numeric_limits<std::int64_t>::max();
  expect_corrupt(j, "duration overflows");
}

}  // namespace
}  // namespace deskaudit::media
