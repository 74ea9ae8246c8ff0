#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "encode/fmp4_muxer.hpp"
#include "encode/h264_encoder.hpp"

using namespace deskaudit;
using encode::FrameKind;

namespace {

encode::H264Encoder open_encoder(int w = 320, int h = 240) {
  encode::EncoderOptions o;
  o.width = w;
  o.height = h;
  auto e = encode::H264Encoder::open(o);
  if (!e) throw std::runtime_error(e.error().message);
  return std::move(*e);
}

void paint(encode::H264Encoder& e, int frame) {
  auto p = e.picture();
  ASSERT_TRUE(p);
  for (int y = 0; y < p->height; ++y)
    std::memset(p->data[0] + static_cast<std::ptrdiff_t>(y) * p->linesize[0], (y + frame * 8) % 220 + 16, p->width);
}

std::string box_type_at(const std::string& b, std::size_t off) { return b.substr(off + 4, 4); }

void fill_luma(encode::H264Encoder& e, int x, int y, int w, int h, std::uint8_t v) {
  auto p = e.picture();
  ASSERT_TRUE(p);
  for (int r = y; r < y + h; ++r) std::memset(p->data[0] + static_cast<std::ptrdiff_t>(r) * p->linesize[0] + x, v, w);
}

// Decodes the packets with libavcodec's H.264 decoder; the luma planes of the frames.
std::vector<std::vector<std::uint8_t>> decode_luma(const encode::H264Encoder& e,
                                                   const std::vector<encode::AvPacketPtr>& pkts) {
  std::vector<std::vector<std::uint8_t>> out;
  encode::AvCodecContextPtr d(avcodec_alloc_context3(avcodec_find_decoder(AV_CODEC_ID_H264)));
  if (!d || avcodec_parameters_to_context(d.get(), e.parameters()) < 0 || avcodec_open2(d.get(), nullptr, nullptr) < 0)
    throw std::runtime_error("no H.264 decoder");
  encode::AvFramePtr f(av_frame_alloc());
  auto drain = [&] {
    while (avcodec_receive_frame(d.get(), f.get()) == 0) {
      std::vector<std::uint8_t> y(static_cast<std::size_t>(f->width) * f->height);
      for (int r = 0; r < f->height; ++r)
        std::memcpy(y.data() + static_cast<std::size_t>(r) * f->width,
                    f->data[0] + static_cast<std::ptrdiff_t>(r) * f->linesize[0], f->width);
      out.push_back(std::move(y));
    }
  };
  for (const auto& p : pkts) {
    if (avcodec_send_packet(d.get(), p.get()) < 0) throw std::runtime_error("decode error");
    drain();
  }
  avcodec_send_packet(d.get(), nullptr);
  drain();
  return out;
}

}  // namespace

TEST(H264Encoder, RejectsBadSizesAndOptions) {
  encode::EncoderOptions o;
  o.width = 0;
  o.height = 100;
  EXPECT_EQ(encode::H264Encoder::open(o).error().code, Errc::invalid_argument);
  o.width = 20000;
  EXPECT_EQ(encode::H264Encoder::open(o).error().code, Errc::invalid_argument);
  o.width = 320;
  o.height = 240;
  o.preset = "no-such-preset";
  EXPECT_FALSE(encode::H264Encoder::open(o));
  o.preset = "veryfast";
  o.careful_params = "no-such-option=1";
  EXPECT_EQ(encode::H264Encoder::open(o).error().code, Errc::invalid_argument);
  o.careful_params = "me=no-such-search";
  EXPECT_EQ(encode::H264Encoder::open(o).error().code, Errc::invalid_argument);
  o.careful_params = "";
  o.careful_crf_offset = 11;
  EXPECT_EQ(encode::H264Encoder::open(o).error().code, Errc::invalid_argument);
}

// Detail a coder cannot predict (pseudo-random text-like strokes), so the
// frame's size follows its quantiser.
void scribble(encode::H264Encoder& e, unsigned seed) {
  auto p = e.picture();
  ASSERT_TRUE(p);
  for (int y = 0; y < p->height; ++y)
    for (int x = 0; x < p->width; ++x) {
      seed = seed * 1103515245u + 12345u;
      p->data[0][static_cast<std::ptrdiff_t>(y) * p->linesize[0] + x] = (seed >> 16) % 3 == 0 ? 16 : 235;
    }
}

TEST(H264Encoder, CarefulFramesAreCodedWithTheCarefulSettingsAndBackAgain) {
  // Two encoders, the same pictures; only the second frame is careful in
  // one of them (here: 10 crf steps coarser, easy to see in the size).
  encode::EncoderOptions o;
  o.width = 320;
  o.height = 240;
  o.careful_params = "me=umh:merange=32:trellis=2";
  o.careful_crf_offset = 10;
  auto a = encode::H264Encoder::open(o);
  auto b = encode::H264Encoder::open(o);
  ASSERT_TRUE(a && b);
  std::vector<std::int64_t> sizes_a, sizes_b;
  for (int i = 0; i < 3; ++i) {
    scribble(*a, 7 + i);
    scribble(*b, 7 + i);
    const auto kind = i == 0 ? FrameKind::keyframe : FrameKind::delta;
    auto pa = a->encode(i * 200, kind, {}, std::nullopt, i == 1);
    auto pb = b->encode(i * 200, kind, {}, std::nullopt, false);
    ASSERT_TRUE(pa && pb);
    sizes_a.push_back((*pa)->size);
    sizes_b.push_back((*pb)->size);
  }
  EXPECT_EQ(sizes_a[0], sizes_b[0]);
  EXPECT_LT(sizes_a[1], sizes_b[1] * 3 / 4) << "the careful frame is coded with its own crf";
  EXPECT_GT(sizes_a[2], sizes_a[1]) << "the next ordinary frame is back at the ordinary crf";

  // With nothing different, careful frames are the ordinary ones, byte for byte.
  o.careful_params = "";
  o.careful_crf_offset = 0;
  auto c = encode::H264Encoder::open(o);
  auto d = encode::H264Encoder::open(o);
  ASSERT_TRUE(c && d);
  for (int i = 0; i < 3; ++i) {
    scribble(*c, 7 + i);
    scribble(*d, 7 + i);
    auto pc = c->encode(i * 200, FrameKind::delta, {}, std::nullopt, i == 1);
    auto pd = d->encode(i * 200, FrameKind::delta, {}, std::nullopt, false);
    ASSERT_TRUE(pc && pd);
    ASSERT_EQ((*pc)->size, (*pd)->size);
    EXPECT_EQ(std::memcmp((*pc)->data, (*pd)->data, static_cast<std::size_t>((*pc)->size)), 0) << "frame " << i;
  }
}

TEST(H264Encoder, OnePacketPerFrameAndForcedKeyframes) {
  auto e = open_encoder();
  paint(e, 0);
  auto first = e.encode(0, FrameKind::delta);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE((*first)->flags & AV_PKT_FLAG_KEY) << "the first frame is always a keyframe";
  EXPECT_EQ((*first)->pts, 0);
  for (int i = 1; i < 5; ++i) {
    paint(e, i);
    auto p = e.encode(i * 200, FrameKind::delta);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_FALSE((*p)->flags & AV_PKT_FLAG_KEY);
    EXPECT_EQ((*p)->pts, i * 200);
  }
  // The same picture again as a keyframe (what a segment cut does).
  auto k = e.encode(800, FrameKind::keyframe);
  ASSERT_TRUE(k);
  EXPECT_TRUE((*k)->flags & AV_PKT_FLAG_KEY);
  EXPECT_EQ((*k)->pts, 800);
}

TEST(H264Encoder, OnlyTheDeclaredChangedAreasAreCoded) {
  auto e = open_encoder();
  fill_luma(e, 0, 0, 320, 240, 40);
  std::vector<encode::AvPacketPtr> pkts;
  auto k = e.encode(0, FrameKind::keyframe);
  ASSERT_TRUE(k);
  pkts.push_back(std::move(*k));
  // Two blocks turn white; only the first is declared changed, so the
  // encoder skips the second without looking at it.
  fill_luma(e, 32, 32, 32, 32, 235);
  fill_luma(e, 224, 160, 32, 32, 235);
  const encode::ChangedArea declared[] = {{32, 32, 32, 32}};
  auto d = e.encode(200, FrameKind::delta, {}, std::span<const encode::ChangedArea>(declared));
  ASSERT_TRUE(d) << d.error().message;
  pkts.push_back(std::move(*d));
  // Unknown changes (nullopt): everything is looked at again.
  auto full = e.encode(400, FrameKind::delta);
  ASSERT_TRUE(full);
  pkts.push_back(std::move(*full));

  const auto frames = decode_luma(e, pkts);
  ASSERT_EQ(frames.size(), 3u);
  const auto at = [](const std::vector<std::uint8_t>& y, int x, int r) {
    return static_cast<int>(y[static_cast<std::size_t>(r) * 320 + x]);
  };
  EXPECT_NEAR(at(frames[1], 48, 48), 235, 12) << "the declared area is coded";
  EXPECT_NEAR(at(frames[1], 240, 176), 40, 12) << "an undeclared area keeps the previous picture";
  EXPECT_NEAR(at(frames[2], 240, 176), 235, 12) << "without hints every area is coded";
}

TEST(Fmp4Muxer, InitThenWholeFragmentsWithContinuingDecodeTime) {
  auto e = open_encoder();
  auto m = encode::Fmp4Muxer::open(e.parameters(), 5000);
  ASSERT_TRUE(m) << m.error().message;
  const std::string init = (*m)->init_segment();
  ASSERT_GT(init.size(), 16u);
  EXPECT_EQ(box_type_at(init, 0), "ftyp");

  std::vector<encode::AvPacketPtr> pkts;
  for (int i = 0; i < 4; ++i) {
    paint(e, i);
    auto p = e.encode(5000 + i * 250, i == 0 ? FrameKind::keyframe : FrameKind::delta);
    ASSERT_TRUE(p);
    pkts.push_back(std::move(*p));
  }
  for (int i = 0; i < 4; ++i) pkts[i]->duration = 250;
  std::vector<const AVPacket*> a{pkts[0].get(), pkts[1].get()};
  std::vector<const AVPacket*> b{pkts[2].get(), pkts[3].get()};
  auto f1 = (*m)->fragment(a);
  ASSERT_TRUE(f1) << f1.error().message;
  auto f2 = (*m)->fragment(b);
  ASSERT_TRUE(f2) << f2.error().message;
  EXPECT_EQ(box_type_at(*f1, 0), "moof");
  EXPECT_EQ(box_type_at(*f2, 0), "moof");
  EXPECT_NE(f1->find("tfdt"), std::string::npos);
  // Nothing but the fragment itself is produced (no mfra, no second moov).
  EXPECT_EQ(f1->find("moov"), std::string::npos);

  // tfdt of the second fragment = 5000 + 2 * 250.
  const auto tfdt = f2->find("tfdt");
  ASSERT_NE(tfdt, std::string::npos);
  const auto* d = reinterpret_cast<const unsigned char*>(f2->data() + tfdt + 4);
  const unsigned long long v =
      d[0] == 1 ? ((unsigned long long)d[4] << 56 | (unsigned long long)d[5] << 48 | (unsigned long long)d[6] << 40 |
                   (unsigned long long)d[7] << 32 | (unsigned long long)d[8] << 24 | d[9] << 16 | d[10] << 8 | d[11])
                : ((unsigned long long)d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7]);
  EXPECT_EQ(v, 5500u);
}

TEST(Fmp4Muxer, ARewrittenLastDurationMovesWhereTheNextFragmentMayStart) {
  auto e = open_encoder();
  auto m = encode::Fmp4Muxer::open(e.parameters(), 0);
  ASSERT_TRUE(m);
  std::vector<encode::AvPacketPtr> pkts;
  for (int i = 0; i < 2; ++i) {
    paint(e, i);
    auto p = e.encode(i * 1200, i == 0 ? FrameKind::keyframe : FrameKind::delta);
    ASSERT_TRUE(p);
    pkts.push_back(std::move(*p));
  }
  // Written with a provisional duration (to 1420 ms, a late wakeup), which
  // the caller then rewrites to end at the next frame's time, 1200.
  pkts[0]->duration = 1420;
  pkts[1]->duration = 200;
  std::vector<const AVPacket*> a{pkts[0].get()};
  std::vector<const AVPacket*> b{pkts[1].get()};
  ASSERT_TRUE((*m)->fragment(a));
  EXPECT_FALSE((*m)->fragment(b)) << "1200 is before the provisional end";
  (*m)->last_duration_rewritten(1200);
  auto f = (*m)->fragment(b);
  EXPECT_TRUE(f) << f.error().message;
}

TEST(Fmp4Muxer, RejectsBadInput) {
  auto e = open_encoder();
  auto m = encode::Fmp4Muxer::open(e.parameters(), 1000);
  ASSERT_TRUE(m);
  EXPECT_FALSE((*m)->fragment({}));
  paint(e, 0);
  auto p = e.encode(2000, FrameKind::keyframe);
  ASSERT_TRUE(p);
  std::vector<const AVPacket*> one{p->get()};
  EXPECT_FALSE((*m)->fragment(one)) << "no duration";
  (*p)->duration = 100;
  auto wrong_start = (*m)->fragment(one);
  ASSERT_FALSE(wrong_start) << "first packet must be at the muxer's start time";
  EXPECT_NE(wrong_start.error().message.find("1000"), std::string::npos);
  EXPECT_FALSE(encode::Fmp4Muxer::open(nullptr, 0));
  EXPECT_FALSE(encode::Fmp4Muxer::open(e.parameters(), -1));
}
