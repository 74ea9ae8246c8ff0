#include "record/pre_event_ring.hpp"

#include <gtest/gtest.h>

#include "record/segment_files.hpp"

using namespace deskaudit;
using record::PreEventRing;
using record::RingSegment;

namespace {

RingSegment seg(std::int64_t start, std::int64_t end, std::size_t bytes = 100) {
  return RingSegment{std::string(bytes, 'x'), start, end, 1};
}

std::vector<std::int64_t> starts(const std::vector<RingSegment>& v) {
  std::vector<std::int64_t> out;
  for (const auto& s : v) out.push_back(s.start_ms);
  return out;
}

void put32(std::string& s, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// moof[mfhd, traf[tfhd, tfdt v0|v1]] + mdat, as the muxer lays them out.
std::string fragment(std::uint64_t decode_time, bool v1) {
  std::string tfdt;
  put32(tfdt, v1 ? 0x01000000 : 0);
  if (v1) put32(tfdt, static_cast<std::uint32_t>(decode_time >> 32));
  put32(tfdt, static_cast<std::uint32_t>(decode_time));
  std::string traf_body;
  put32(traf_body, 16);
  traf_body += "tfhd";
  put32(traf_body, 0x020000);
  put32(traf_body, 1);
  put32(traf_body, static_cast<std::uint32_t>(8 + tfdt.size()));
  traf_body += "tfdt" + tfdt;
  std::string moof_body;
  put32(moof_body, 16);
  moof_body += "mfhd";
  put32(moof_body, 0);
  put32(moof_body, 1);
  put32(moof_body, static_cast<std::uint32_t>(8 + traf_body.size()));
  moof_body += "traf" + traf_body;
  std::string out;
  put32(out, static_cast<std::uint32_t>(8 + moof_body.size()));
  out += "moof" + moof_body;
  put32(out, 12);
  out += "mdatabcd";
  return out;
}

}  // namespace

TEST(PreEventRing, DropsTheOldestOnceTheOthersSpanTheKeepTime) {
  PreEventRing ring(10'000, 1 << 20);
  for (std::int64_t t = 0; t < 30'000; t += 4000) ring.push(seg(t, t + 4000));
  // 0..32000 pushed; kept: the fewest newest entries that reach 10 s back
  // from the end (32000 - 10000 = 22000): 20000, 24000, 28000.
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.span_ms(), 12'000);
  EXPECT_EQ(ring.bytes(), 300);
  EXPECT_EQ(starts(ring.take_from(0)), (std::vector<std::int64_t>{20'000, 24'000, 28'000}));
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0);
}

TEST(PreEventRing, IsBoundedInBytesDroppingTheOldest) {
  PreEventRing ring(120'000, 1000);
  for (int i = 0; i < 10; ++i) ring.push(seg(i * 1000, (i + 1) * 1000, 300));
  EXPECT_LE(ring.bytes(), 1000);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.dropped_for_bytes(), 7);
  EXPECT_EQ(starts(ring.take_from(0)), (std::vector<std::int64_t>{7000, 8000, 9000}));
  // One entry above the bound is not kept either.
  ring.push(seg(0, 1000, 1001));
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0);
}

TEST(PreEventRing, TakesOnlyWhatStartsWithinKeepTimeOfTheTrigger) {
  PreEventRing ring(6000, 1 << 20);
  for (std::int64_t t = 0; t < 12'000; t += 2000) ring.push(seg(t, t + 2000));
  // Trigger at 11000: cutoff 5000, so the recording starts at 6000 (at most
  // 6 s before the trigger), not at the 4000 entry that reaches further.
  EXPECT_EQ(starts(ring.take_from(11'000 - 6000)), (std::vector<std::int64_t>{6000, 8000, 10'000}));
}

TEST(PreEventRing, ZeroKeepTimeKeepsOnlyTheNewest) {
  PreEventRing ring(0, 1 << 20);
  ring.push(seg(0, 2000));
  ring.push(seg(2000, 4000));
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_TRUE(ring.take_from(5000).empty());
}

TEST(RebaseFragments, MovesEveryFragmentsDecodeTimeBack) {
  std::string bytes = fragment(50'000, false) + fragment(52'000, true);
  const std::string before = bytes;
  ASSERT_TRUE(record::rebase_fragments(bytes, 50'000));
  EXPECT_EQ(bytes.size(), before.size());
  EXPECT_EQ(bytes, fragment(0, false) + fragment(2000, true));
  // A time that would go negative is refused, and so is a broken box.
  std::string early = fragment(10, false);
  EXPECT_FALSE(record::rebase_fragments(early, 11));
  std::string broken = fragment(100, false).substr(0, 30);
  EXPECT_FALSE(record::rebase_fragments(broken, 1));
}
