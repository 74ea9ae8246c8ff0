// Hostile and damaged segment files: every one must give an error (never a
// crash, never an out-of-bounds read: run once under -fsanitize=address).
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <set>

#include "fixture.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::media {
namespace {

using test::bytes_of;
using test::find_box;

const test::Stream& stream() {
  static const test::Stream s = test::encode_fmp4({});
  return s;
}

void put_u32(std::string& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}
std::uint32_t get_u32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(b.at(at + i));
  return v;
}
std::string u32_bytes(std::uint32_t v) {
  std::string s(4, '\0');
  put_u32(s, 0, v);
  return s;
}
std::string box(std::string_view type, std::string_view payload) {
  return u32_bytes(static_cast<std::uint32_t>(8 + payload.size())) + std::string(type) + std::string(payload);
}

// Rejected with `code` and a message containing `needle`.
// Indexed as it arrives (SegmentIndexer, in 5-byte pieces): the same verdict as index_segment().
Result<FragmentIndex> index_streamed(const std::string& bytes) {
  SegmentIndexer indexer;
  for (std::size_t at = 0; at < bytes.size(); at += 5) indexer.update(bytes_of(bytes.substr(at, 5)));
  return indexer.finish();
}

// Rejected with `code` and a message containing `needle`, whole or streamed.
void expect_rejected(const std::string& bytes, Errc code, std::string_view needle = {}) {
  auto r = index_segment(bytes_of(bytes));
  ASSERT_FALSE(r) << "accepted a damaged file";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  auto streamed = index_streamed(bytes);
  ASSERT_FALSE(streamed) << "accepted a damaged file in pieces";
  EXPECT_EQ(streamed.error().code, r.error().code);
  EXPECT_EQ(streamed.error().message, r.error().message);
}

TEST(CorruptSegment, EmptyFile) { expect_rejected("", Errc::corrupt, "no 'moov'"); }

TEST(CorruptSegment, RandomBytes) {
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string b(rng() % 4096, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    if (i % 2 == 1) b = stream().bytes.substr(0, 28) + b;  // a real ftyp, then noise
    EXPECT_FALSE(index_segment(bytes_of(b))) << "case " << i;
    EXPECT_FALSE(index_streamed(b)) << "case " << i;
  }
}

TEST(CorruptSegment, TruncatedBoxes) {
  const auto& s = stream();
  expect_rejected(s.bytes.substr(0, 5), Errc::corrupt, "truncated box header");
  expect_rejected(s.bytes.substr(0, s.init_size - 10), Errc::corrupt, "'moov'");
  expect_rejected(s.bytes.substr(0, s.bytes.size() - 1), Errc::corrupt, "'mdat'");
  const auto moof = find_box(s.bytes, {"moof"}, 1);
  expect_rejected(s.bytes.substr(0, moof.offset + 20), Errc::corrupt, "'moof'");
}

TEST(CorruptSegment, SizeZeroMeansToTheEnd) {
  const auto& s = stream();
  auto b = s.bytes;
  put_u32(b, find_box(b, {"mdat"}, 3).offset, 0);  // the last box: legal
  auto r = index_segment(bytes_of(b));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fragments.size(), 4u);
  b = s.bytes;
  put_u32(b, find_box(b, {"moof"}, 0).offset, 0);  // swallows the rest of the file
  expect_rejected(b, Errc::corrupt, "'moof'");
  b = s.bytes;
  put_u32(b, find_box(b, {"moov", "trak"}).offset, 0);  // inside a parent: to the parent's end
  EXPECT_FALSE(index_segment(bytes_of(b)));
}

TEST(CorruptSegment, SizeOneAndTinySizes) {
  const auto& s = stream();
  auto b = s.bytes;
  put_u32(b, find_box(b, {"moof"}, 0).offset, 1);  // 64-bit size read from the payload: huge
  expect_rejected(b, Errc::corrupt, "runs past the end");
  for (std::uint32_t tiny : {2u, 4u, 7u}) {
    b = s.bytes;
    put_u32(b, find_box(b, {"moov"}).offset, tiny);
    expect_rejected(b, Errc::corrupt, "smaller than its");
  }
  // 64-bit size smaller than the 16-byte header.
  b = s.bytes.substr(0, 28) + u32_bytes(1) + "moov" + std::string(7, '\0') + "\x08" + std::string(64, '\0');
  expect_rejected(b, Errc::corrupt, "smaller than its 16-byte header");
}

TEST(CorruptSegment, HugeAndOverflowingSizes) {
  const auto& s = stream();
  auto b = s.bytes;
  put_u32(b, find_box(b, {"mdat"}, 1).offset, 0xffffffffu);
  expect_rejected(b, Errc::corrupt, "'mdat'");
  b = s.bytes;
  put_u32(b, find_box(b, {"moov", "mvhd"}).offset, 0xfffffff0u);
  expect_rejected(b, Errc::corrupt, "'mvhd'");
  // A 64-bit size of 2^64-1 at top level and inside a moov: offset + size overflows.
  const std::string huge = u32_bytes(1) + "moof" + std::string(8, '\xff');
  expect_rejected(s.bytes.substr(0, s.init_size) + huge + std::string(64, '\0'), Errc::corrupt, "runs past the end");
  const auto mvhd = find_box(s.bytes, {"moov", "mvhd"});
  b = s.bytes;
  b.replace(mvhd.offset, 8, u32_bytes(1) + "mvhd");
  b.insert(mvhd.offset + 8, std::string(8, '\xff'));
  expect_rejected(b, Errc::corrupt, "'mvhd'");
}

TEST(CorruptSegment, MoofWithoutMdat) {
  const auto& s = stream();
  const auto moof0 = find_box(s.bytes, {"moof"}, 0);
  const auto moof1 = find_box(s.bytes, {"moof"}, 1);
  const std::string init = s.bytes.substr(0, s.init_size);
  const std::string lone_moof = s.bytes.substr(moof0.offset, moof0.size);
  expect_rejected(init + lone_moof, Errc::corrupt, "not followed by an 'mdat'");
  expect_rejected(init + lone_moof + s.bytes.substr(moof1.offset), Errc::corrupt, "not followed by an 'mdat'");
  // And an mdat with no moof before it.
  const auto mdat0 = find_box(s.bytes, {"mdat"}, 0);
  expect_rejected(init + s.bytes.substr(mdat0.offset), Errc::corrupt, "without a preceding 'moof'");
}

// Offset of the first per-sample record of a trun and its record size.
struct TrunLayout {
  std::size_t data_offset_at = 0;
  std::size_t first_record_at = 0;
  std::uint32_t flags = 0;
};
TrunLayout trun_layout(const std::string& b, std::size_t moof_index) {
  const auto moof = find_box(b, {"moof"}, moof_index);
  const auto sub = std::string_view(b).substr(0, moof.offset + moof.size);
  auto trun = test::list_boxes(sub, moof.offset + 8, moof.offset + moof.size);
  std::size_t traf_at = 0;
  for (const auto& x : trun)
    if (x.type == "traf") traf_at = x.offset;
  for (const auto& x : test::list_boxes(sub, traf_at + 8, traf_at + get_u32(b, traf_at))) {
    if (x.type != "trun") continue;
    TrunLayout t;
    t.flags = get_u32(b, x.offset + 8) & 0xffffff;
    t.data_offset_at = x.offset + 16;
    t.first_record_at = x.offset + 16 + ((t.flags & 1) ? 4 : 0) + ((t.flags & 4) ? 4 : 0);
    return t;
  }
  throw std::runtime_error("no trun");
}

TEST(CorruptSegment, TrunDataOutsideItsMdat) {
  auto b = stream().bytes;
  const auto t = trun_layout(b, 0);
  ASSERT_TRUE(t.flags & 1) << "muxer writes data offsets";
  put_u32(b, t.data_offset_at, 0x7fff0000u);
  expect_rejected(b, Errc::corrupt, "outside its mdat");
  b = stream().bytes;
  put_u32(b, t.data_offset_at, 0x80000000u);  // negative: before the file
  expect_rejected(b, Errc::corrupt, "'trun'");
  b = stream().bytes;
  put_u32(b, t.data_offset_at, get_u32(b, t.data_offset_at) + 1);  // inside, but not where the data is
  expect_rejected(b, Errc::corrupt, "'trun'");
}

TEST(CorruptSegment, SampleSizesMustFillTheMdat) {
  auto b = stream().bytes;
  const auto t = trun_layout(b, 2);
  ASSERT_TRUE(t.flags & 0x200) << "muxer writes sample sizes";
  const std::size_t size_at = t.first_record_at + ((t.flags & 0x100) ? 4 : 0);
  put_u32(b, size_at, get_u32(b, size_at) - 1);
  expect_rejected(b, Errc::corrupt, "payload is");
  put_u32(b, size_at, get_u32(b, size_at) + 2);
  expect_rejected(b, Errc::corrupt, "runs past the end of its mdat");
  b = stream().bytes;
  put_u32(b, t.data_offset_at - 4, 0x40000000u);  // sample_count far beyond the box
  expect_rejected(b, Errc::corrupt, "sample_count");
}

TEST(CorruptSegment, NestingBomb) {
  std::string inner = box("free", "");
  for (int i = 0; i < 5000; ++i) inner = box("trak", inner);
  const std::string ftyp = stream().bytes.substr(0, 28);
  expect_rejected(ftyp + box("moov", inner), Errc::corrupt, "nested deeper");
  std::string traf = box("free", "");
  for (int i = 0; i < 5000; ++i) traf = box("traf", traf);
  const std::string init = stream().bytes.substr(0, stream().init_size);
  expect_rejected(init + box("moof", traf) + box("mdat", "x"), Errc::corrupt, "nested deeper");
}

// Every size field of every box, with one bit flipped: always an error.
TEST(CorruptSegment, FlippedSizeFieldIsAlwaysCaught) {
  const auto& s = stream();
  std::vector<test::BoxAt> all;
  std::function<void(std::size_t, std::size_t)> collect = [&](std::size_t begin, std::size_t end) {
    for (const auto& b : test::list_boxes(s.bytes, begin, end)) {
      all.push_back(b);
      static const std::set<std::string> containers = {"moov", "trak", "mdia", "minf", "stbl", "dinf",
                                                       "mvex", "moof", "traf"};
      if (containers.contains(b.type)) collect(b.offset + b.header, b.offset + b.size);
      if (b.type == "stsd") collect(b.offset + 16, b.offset + b.size);
      if (b.type == "avc1") collect(b.offset + 8 + 78, b.offset + b.size);
    }
  };
  collect(0, s.bytes.size());
  ASSERT_GT(all.size(), 40u);
  int cases = 0;
  for (const auto& box : all) {
    for (int byte = 0; byte < 4; ++byte) {
      for (std::uint8_t bit : {0x01, 0x04, 0x80}) {
        auto b = s.bytes;
        b[box.offset + byte] = static_cast<char>(b[box.offset + byte] ^ bit);
        auto r = index_segment(bytes_of(b));
        EXPECT_FALSE(r) << "flip 0x" << std::hex << int(bit) << " in byte " << byte << " of the size of '"
                        << box.type << "' at " << std::dec << box.offset;
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 400);
}

// Random damage anywhere: an error or a self-consistent index, never a crash.
TEST(CorruptSegment, RandomByteDamageNeverCrashes) {
  const auto& s = stream();
  std::mt19937 rng(7);
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    auto b = s.bytes;
    // Damage the metadata more often than the (opaque) media payload.
    const std::size_t at = (i % 3 == 0) ? rng() % b.size() : rng() % (s.init_size + 200);
    b[at] = static_cast<char>(rng());
    auto r = index_segment(bytes_of(b));
    if (!r) {
      ++rejected;
      continue;
    }
    std::uint64_t end = r->init_size;
    for (const auto& f : r->fragments) {
      EXPECT_GE(f.offset, end);
      end = f.offset + f.size;
    }
    EXPECT_LE(end, b.size());
  }
  EXPECT_GT(rejected, 100);
}

TEST(CorruptSegment, NotOurKindOfMp4) {
  const auto& s = stream();
  auto b = s.bytes;
  const auto hdlr = find_box(b, {"moov", "trak", "mdia", "hdlr"});
  b.replace(hdlr.offset + 16, 4, "soun");
  expect_rejected(b, Errc::unprocessable, "expected a video track");

  b = s.bytes;
  b.replace(8, 4, "qt  ");
  for (std::size_t at = 16; at < 28; at += 4) b.replace(at, 4, "qt  ");
  expect_rejected(b, Errc::unprocessable, "brand");

  // Two tracks.
  const auto moov = find_box(s.bytes, {"moov"});
  const auto trak = find_box(s.bytes, {"moov", "trak"});
  b = s.bytes;
  b.insert(trak.offset, s.bytes.substr(trak.offset, trak.size));
  put_u32(b, moov.offset, static_cast<std::uint32_t>(moov.size + trak.size));
  expect_rejected(b, Errc::unprocessable, "exactly one");

  // Absolute base-data-offset in tfhd.
  b = s.bytes;
  const auto tfhd = find_box(b, {"moof", "traf", "tfhd"});
  put_u32(b, tfhd.offset + 8, get_u32(b, tfhd.offset + 8) | 1u);
  expect_rejected(b, Errc::unprocessable, "base-data-offset");

  // Another codec's sample entry.
  b = s.bytes;
  const auto avc1 = find_box(b, {"moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1"});
  b.replace(avc1.offset + 4, 4, "hvc1");
  expect_rejected(b, Errc::unprocessable, "not H.264");
}

TEST(CorruptSegment, StructureOutOfOrder) {
  const auto& s = stream();
  const std::string init = s.bytes.substr(0, s.init_size);
  auto frag = [&](std::size_t i) {
    return s.bytes.substr(s.fragment_begin(i), s.cuts[i] - s.fragment_begin(i));
  };
  expect_rejected(init + frag(1) + frag(0), Errc::corrupt, "does not increase");
  expect_rejected(init + frag(0) + frag(0), Errc::corrupt, "does not increase");
  expect_rejected(s.bytes.substr(28), Errc::corrupt, "must start with 'ftyp'");
  expect_rejected(s.bytes.substr(0, 28) + frag(0) + init.substr(28), Errc::corrupt, "before the 'moov'");
  expect_rejected(init + box("junk", "1234") + frag(0), Errc::corrupt, "unexpected top-level box");
  expect_rejected(init + init.substr(28) + frag(0), Errc::corrupt, "repeated");
}

}  // namespace
}  // namespace deskaudit::media
