// Work and size limits of the segment indexer: sample counts and fragment
// counts are bounded by the bytes that carry them, and defaulted sample sizes
// are multiplied, never walked (issue 9: a 4 MiB segment of zero-byte samples
// cost 77 s of CPU and was accepted).
#include <gtest/gtest.h>

#include "fixture.hpp"
#include "forged_media.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;
using testing::ForgedFragment;
using testing::forged_fragment;

const test::Stream& stream() {
  static const test::Stream s = test::encode_fmp4({});
  return s;
}
std::string init() { return stream().bytes.substr(0, stream().init_size); }

void expect_rejected(const std::string& bytes, std::string_view needle) {
  auto r = index_segment(bytes_of(bytes));
  ASSERT_FALSE(r) << "accepted";
  EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

void put_be(std::string& b, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(at + i) = static_cast<char>((v >> (8 * (n - 1 - i))) & 0xff);
}

TEST(SegmentLimits, ZeroByteSampleBombIsRefused) {
  const auto bomb = testing::zero_sample_bomb(init(), 1, 4u << 20);
  ASSERT_GT(bomb.size() / 90, 40000u) << "about 45k fragments";
  expect_rejected(bomb, "its 1048576 samples would be 0 bytes each");
  test::TempDir dir;
  auto r = index_segment_file(dir.write("bomb.mp4", bomb));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("would be 0 bytes each"), std::string::npos) << r.error().message;
}

TEST(SegmentLimits, ZeroByteSampleInTheTrunIsRefused) {
  ForgedFragment f;
  f.sizes = {0};
  f.mdat = std::string(5, 'x');
  expect_rejected(init() + forged_fragment(f), "sample 0 is 0 bytes");
  f.sizes = {12, 0, 5};
  f.mdat = std::string(17, 'x');
  expect_rejected(init() + forged_fragment(f), "sample 1 is 0 bytes");
}

TEST(SegmentLimits, SampleCountIsBoundedByTheMdatBytes) {
  ForgedFragment f;
  f.sample_count = 1000;
  f.default_size = 5;
  f.mdat = std::string(10, 'x');
  expect_rejected(init() + forged_fragment(f), "sample_count 1000 does not fit the 10 bytes left in its mdat");
  // A default size of 4 GiB - 1 times many samples: multiplied without overflow.
  f.sample_count = 2;
  f.default_size = 0xffffffffu;
  expect_rejected(init() + forged_fragment(f), "sample data runs past the end of its mdat");
}

TEST(SegmentLimits, DefaultedSizesAndDurationsAreMultiplied) {
  std::string seg = init();
  ForgedFragment f;
  f.sample_count = 3;
  f.default_size = 7;
  f.default_duration = 100;
  f.mdat = std::string(21, 'x');
  seg += forged_fragment(f);
  f.decode_time = 300;
  f.sample_count = 0;
  f.sizes = {6, 9};
  f.mdat = std::string(15, 'y');
  seg += forged_fragment(f);
  auto idx = index_segment(bytes_of(seg));
  ASSERT_TRUE(idx) << idx.error().message;
  ASSERT_EQ(idx->fragments.size(), 2u);
  EXPECT_EQ(idx->fragments[0].sample_count, 3u);
  EXPECT_EQ(idx->fragments[0].duration, 300);
  EXPECT_EQ(idx->fragments[1].sample_count, 2u);
  EXPECT_EQ(idx->fragments[1].duration, 200);  // the tfhd default for both
  f.mdat.pop_back();  // 14 bytes for 15 of samples
  expect_rejected(init() + forged_fragment(f), "runs past the end of its mdat");
}

// The smallest fragment the indexer accepts is 86 bytes (the bound on
// fragments per segment): a 1-byte NAL length field (avcC lengthSizeMinusOne
// 0) and a 2-byte default sample size from trex.
TEST(SegmentLimits, SmallestFragmentIs86Bytes) {
  std::string in = init();
  const auto avcc = in.find("avcC");
  ASSERT_NE(avcc, std::string::npos);
  in.at(avcc + 4 + 4) = static_cast<char>(0xfc);  // lengthSizeMinusOne = 0
  const auto trex = test::find_box(in, {"moov", "mvex", "trex"});
  put_be(in, trex.offset + trex.header + 16, 2, 4);  // default_sample_size
  std::string seg = in;
  ForgedFragment f;
  f.minimal_boxes = true;
  f.mdat = "\x01\x65";
  for (int i = 0; i < 100; ++i, ++f.decode_time) seg += forged_fragment(f);
  ASSERT_EQ(seg.size() - in.size(), 100u * 86u);
  auto idx = index_segment(bytes_of(seg));
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(idx->fragments.size(), 100u);
  f.mdat = "\x01";  // one byte: shorter than a length field and a NAL header
  expect_rejected(in + forged_fragment(f), "sample_count 1 does not fit the 1 bytes left");
}

std::uint32_t get_be32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(b.at(at + i));
  return v;
}

// Grows (zero bytes at its end) or shrinks (bytes cut from its end) the box at
// `at` and every box in `parents` to match. Fragments keep their moof-relative
// data offsets, so the segment stays consistent.
void resize_box(std::string& seg, std::size_t at, const std::vector<std::size_t>& parents, long delta) {
  const std::size_t end = at + get_be32(seg, at);
  for (auto off : parents) put_be(seg, off, get_be32(seg, off) + delta, 4);
  put_be(seg, at, get_be32(seg, at) + delta, 4);
  if (delta > 0) seg.insert(end, static_cast<std::size_t>(delta), '\0');
  else seg.erase(end + delta, static_cast<std::size_t>(-delta));
}

std::vector<std::size_t> moov_path(const std::string& seg, std::size_t depth) {
  std::vector<std::size_t> out = {test::find_box(seg, {"moov"}).offset};
  if (depth > 1) out.push_back(test::find_box(seg, {"moov", "trak"}).offset);
  if (depth > 2) out.push_back(test::find_box(seg, {"moov", "trak", "mdia"}).offset);
  if (depth > 3) out.push_back(test::find_box(seg, {"moov", "trak", "mdia", "minf"}).offset);
  if (depth > 4) out.push_back(test::find_box(seg, {"moov", "trak", "mdia", "minf", "stbl"}).offset);
  if (depth > 5) out.push_back(test::find_box(seg, {"moov", "trak", "mdia", "minf", "stbl", "stsd"}).offset);
  return out;
}

TEST(SegmentLimits, OversizedAvcDecoderConfigurationIsRefused) {
  std::string seg = stream().bytes;
  const auto stsd = test::find_box(seg, {"moov", "trak", "mdia", "minf", "stbl", "stsd"});
  const auto avc1 = seg.find("avc1", stsd.offset + stsd.header + 8) - 4;
  const auto avcc = seg.find("avcC", avc1) - 4;
  auto parents = moov_path(seg, 6);
  parents.push_back(avc1);
  resize_box(seg, avcc, parents, 8192);
  auto r = index_segment(bytes_of(seg));
  ASSERT_FALSE(r) << "accepted";
  EXPECT_EQ(r.error().code, Errc::unprocessable);
  EXPECT_NE(r.error().message.find("bytes of AVC decoder configuration (at most 4096)"), std::string::npos)
      << r.error().message;
}

// Found with the init fuzz target's invariant: an mdhd that ends after its timescale was
// accepted at upload, and the recording's download then failed on it.
TEST(SegmentLimits, MediaHeaderWithoutItsDurationIsRefused) {
  std::string seg = stream().bytes;
  const auto mdhd = test::find_box(seg, {"moov", "trak", "mdia", "mdhd"});
  ASSERT_EQ(mdhd.size, 32u) << "version 0";
  resize_box(seg, mdhd.offset, moov_path(seg, 3), -8);  // duration, language, pre_defined
  auto r = index_segment(bytes_of(seg));
  ASSERT_FALSE(r) << "accepted";
  EXPECT_NE(r.error().message.find("box 'mdhd'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("too short"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace deskaudit::media
