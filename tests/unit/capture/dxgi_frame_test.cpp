// The GPU-free logic of the DXGI Desktop Duplication capture (dxgi_frame.hpp):
// built into capture_test (Linux) and agent_windows_test.exe (under Wine).
#include "capture/dxgi_frame.hpp"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

using namespace deskaudit;
using capture::MoveRect;
using capture::PointerShape;
using capture::PointerType;
using capture::Rect;

namespace {
bool same(const Rect& a, const Rect& b) {
  return a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height;
}

std::vector<std::uint8_t> solid(int w, int h, std::uint8_t b, std::uint8_t g, std::uint8_t r) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 4);
  for (std::size_t i = 0; i < px.size(); i += 4) {
    px[i] = b;
    px[i + 1] = g;
    px[i + 2] = r;
    px[i + 3] = 0xFF;
  }
  return px;
}

const std::uint8_t* at(const std::vector<std::uint8_t>& px, int w, int x, int y) {
  return &px[(static_cast<std::size_t>(y) * w + x) * 4];
}
}  // namespace

TEST(DxgiChangedAreaTest, DirtyRectsAndMoveDestinationsClippedAndEvenAligned) {
  const std::vector<Rect> dirty = {{3, 5, 4, 2}, {-10, -10, 12, 13}};
  const std::vector<MoveRect> moves = {{0, 0, {20, 21, 5, 5}}};
  const auto rects = capture::changed_area(dirty, moves, 40, 30);
  ASSERT_EQ(rects.size(), 3u);
  EXPECT_TRUE(same(rects[0], {2, 4, 6, 4}));
  EXPECT_TRUE(same(rects[1], {0, 0, 2, 4}));
  // Only the destination of a move changes; its source keeps its pixels.
  EXPECT_TRUE(same(rects[2], {20, 20, 6, 6}));
}

TEST(DxgiChangedAreaTest, NothingOutsideTheScreenAndNestedRectsDropped) {
  const std::vector<Rect> dirty = {{50, 50, 4, 4}, {0, 0, 0, 8}, {0, 0, 20, 20}, {4, 4, 2, 2}};
  const auto rects = capture::changed_area(dirty, {}, 40, 30);
  ASSERT_EQ(rects.size(), 1u);
  EXPECT_TRUE(same(rects[0], {0, 0, 20, 20}));
  EXPECT_TRUE(capture::changed_area({}, {}, 40, 30).empty());
}

TEST(DxgiChangedAreaTest, ManyRectsBecomeTheirBoundingBox) {
  std::vector<Rect> dirty;
  for (int i = 0; i <= static_cast<int>(capture::kMaxChangedRects); ++i) dirty.push_back({i * 4, i * 2, 2, 2});
  const auto rects = capture::changed_area(dirty, {}, 200, 100);
  ASSERT_EQ(rects.size(), 1u);
  const int n = static_cast<int>(capture::kMaxChangedRects);
  EXPECT_TRUE(same(rects[0], {0, 0, n * 4 + 2, n * 2 + 2}));
}

TEST(DxgiPointerTest, ColourShapeIsAlphaBlended) {
  const int w = 8, h = 8;
  auto screen = solid(w, h, 0, 0, 200);
  PointerShape s;
  s.type = PointerType::color;
  s.width = 2;
  s.height = 1;
  s.pitch = 8;
  s.bytes = {255, 255, 255, 255, /* opaque white */ 0, 0, 0, 0 /* transparent */};
  capture::draw_pointer(screen.data(), w * 4, w, h, s, 3, 4, {0, 0, w, h});
  EXPECT_EQ(at(screen, w, 3, 4)[0], 255);
  EXPECT_EQ(at(screen, w, 3, 4)[2], 255);
  EXPECT_EQ(at(screen, w, 4, 4)[0], 0);
  EXPECT_EQ(at(screen, w, 4, 4)[2], 200);
  EXPECT_EQ(at(screen, w, 2, 4)[2], 200);
}

TEST(DxgiPointerTest, MaskedColourReplacesOrXors) {
  const int w = 4, h = 4;
  auto screen = solid(w, h, 0x0F, 0x0F, 0x0F);
  PointerShape s;
  s.type = PointerType::masked_color;
  s.width = 2;
  s.height = 1;
  s.pitch = 8;
  s.bytes = {0x30, 0x30, 0x30, 0x00, /* replace */ 0xFF, 0xFF, 0xFF, 0xFF /* xor */};
  capture::draw_pointer(screen.data(), w * 4, w, h, s, 0, 0, {0, 0, w, h});
  EXPECT_EQ(at(screen, w, 0, 0)[1], 0x30);
  EXPECT_EQ(at(screen, w, 1, 0)[1], 0xF0);
}

TEST(DxgiPointerTest, MonochromeAppliesAndThenXorAndHonoursTheClip) {
  const int w = 8, h = 4;
  auto screen = solid(w, h, 0x40, 0x40, 0x40);
  PointerShape s;
  s.type = PointerType::monochrome;
  s.width = 4;
  s.height = 1;  // one row drawn: one AND row, one XOR row in the bitmap
  s.pitch = 1;
  // Pixels 0..3: AND 1,0,0,1; XOR 0,0,1,1 -> screen, black, white, inverted.
  s.bytes = {0b1001'0000, 0b0011'0000};
  capture::draw_pointer(screen.data(), w * 4, w, h, s, 2, 1, {0, 0, 5, h});
  EXPECT_EQ(at(screen, w, 2, 1)[0], 0x40);
  EXPECT_EQ(at(screen, w, 3, 1)[0], 0x00);
  EXPECT_EQ(at(screen, w, 4, 1)[0], 0xFF);
  EXPECT_EQ(at(screen, w, 5, 1)[0], 0x40);  // outside the clip: untouched
  capture::draw_pointer(screen.data(), w * 4, w, h, s, 2, 1, {5, 0, 3, h});
  EXPECT_EQ(at(screen, w, 5, 1)[0], 0xBF);
  EXPECT_EQ(at(screen, w, 5, 1)[3], 0xFF);
}

TEST(DxgiPointerTest, ShapeWhoseRowsDoNotFitItsBytesIsNotDrawn) {
  const int w = 4, h = 4;
  auto screen = solid(w, h, 1, 2, 3);
  const auto before = screen;
  PointerShape s;
  s.type = PointerType::color;
  s.width = 4;
  s.height = 4;
  s.pitch = 16;
  s.bytes.assign(16 * 3, 0xFF);  // one row short
  EXPECT_EQ(capture::pointer_rect(s, 0, 0, w, h).width, 0);
  capture::draw_pointer(screen.data(), w * 4, w, h, s, 0, 0, {0, 0, w, h});
  EXPECT_EQ(screen, before);
  s.bytes.resize(16 * 4, 0xFF);
  EXPECT_TRUE(same(capture::pointer_rect(s, -1, 2, w, h), {0, 2, 3, 2}));
}

TEST(DxgiFallbackTest, ReasonsForNotDuplicating) {
  EXPECT_EQ(capture::dxgi_unsuitable_reason({}), "");
  EXPECT_EQ(capture::dxgi_unsuitable_reason({1, true, 0}), "");
  EXPECT_NE(capture::dxgi_unsuitable_reason({2, true, 1}).find("2 monitors"), std::string::npos);
  EXPECT_NE(capture::dxgi_unsuitable_reason({1, false, 1}).find("no DXGI output"), std::string::npos);
  EXPECT_NE(capture::dxgi_unsuitable_reason({1, true, 2}).find("rotated"), std::string::npos);
}

TEST(DxgiFallbackTest, ReasonNamesTheFailedStepAndCode) {
  EXPECT_EQ(capture::hresult_text(0x80004001u), "E_NOTIMPL (0x80004001)");
  EXPECT_EQ(capture::hresult_text(0x887A0026u), "DXGI_ERROR_ACCESS_LOST (0x887A0026)");
  EXPECT_EQ(capture::hresult_text(0x12345678u), "0x12345678");
  EXPECT_EQ(capture::dxgi_fallback_reason("DuplicateOutput failed: " + capture::hresult_text(0x80004001u)),
            "DXGI Desktop Duplication not available (DuplicateOutput failed: E_NOTIMPL (0x80004001)); GDI is used");
}

TEST(DxgiFallbackTest, AccessLostRecreatesUnlessTheOutputChanged) {
  EXPECT_EQ(capture::on_access_lost({0, 0, 1920, 1080}, {0, 0, 1920, 1080}), capture::LostAction::recreate);
  EXPECT_EQ(capture::on_access_lost({0, 0, 1920, 1080}, {0, 0, 1280, 800}), capture::LostAction::reinit);
  EXPECT_EQ(capture::on_access_lost({0, 0, 1920, 1080}, {-1920, 0, 1920, 1080}), capture::LostAction::reinit);
}
