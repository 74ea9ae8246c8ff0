// Torn-tail recovery: valid_prefix_length on files cut anywhere.
#include <gtest/gtest.h>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;

// What the prefix must be for a file cut at `cut` bytes.
std::uint64_t expected_prefix(const test::Stream& s, std::uint64_t cut) {
  if (cut < s.init_size) return 0;
  std::uint64_t best = s.init_size;
  for (auto end : s.cuts)
    if (end <= cut) best = end;
  return best;
}

TEST(ValidPrefix, FileCutEvery97Bytes) {
  test::StreamOptions o;
  o.frames = 30;
  o.packets_per_fragment = 5;
  const auto s = test::encode_fmp4(o);
  test::TempDir dir;
  int checked = 0;
  for (std::uint64_t cut = 0; cut <= s.bytes.size(); cut += 97) {
    const auto path = dir.write("seg.mp4.part", std::string_view(s.bytes).substr(0, cut));
    auto r = valid_prefix_length(path);
    ASSERT_TRUE(r) << "cut " << cut << ": " << r.error().message;
    ASSERT_EQ(*r, expected_prefix(s, cut)) << "cut " << cut;
    if (*r > s.init_size) {
      // What the agent then does: cut the file back and index it.
      std::filesystem::resize_file(path, *r);
      auto idx = index_segment_file(path);
      ASSERT_TRUE(idx) << "cut " << cut << ": " << idx.error().message;
      EXPECT_EQ(idx->fragments.back().offset + idx->fragments.back().size, *r);
    }
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(ValidPrefix, WholeFileTrailerAndGarbage) {
  test::StreamOptions o;
  o.write_trailer = true;
  const auto s = test::encode_fmp4(o);
  test::TempDir dir;
  auto r = valid_prefix_length(dir.write("a.mp4", s.bytes));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, s.cuts.back()) << "the mfra is not a fragment";
  // Preallocated zeros or junk after a crash end the prefix.
  const std::string body = s.bytes.substr(0, s.cuts.back());
  for (const std::string& tail : {std::string(4096, '\0'), std::string(3, 'x'), std::string("\0\0\0\x10moof", 8)}) {
    r = valid_prefix_length(dir.write("b.mp4", body + tail));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, s.cuts.back());
  }
}

TEST(ValidPrefix, DamagedFragmentEndsThePrefix) {
  const auto s = test::encode_fmp4({});
  auto b = s.bytes;
  b[s.cuts[1] + 4] = 'X';  // type of the third moof
  test::TempDir dir;
  auto r = valid_prefix_length(dir.write("a.mp4", b));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, s.cuts[1]);
}

TEST(ValidPrefix, InvalidInitIsAnError) {
  const auto s = test::encode_fmp4({});
  test::TempDir dir;
  auto b = s.bytes;
  b.replace(4, 4, "ftyq");
  EXPECT_FALSE(valid_prefix_length(dir.write("a.mp4", b)));
  EXPECT_FALSE(valid_prefix_length(dir.path() / "missing.mp4"));
}

}  // namespace
}  // namespace deskaudit::media
