// Windows screen capture through GDI: BitBlt of the desktop into a DIB
// section, compared with the previous read (GDI has no change notification).
#include <windows.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "capture/capture.hpp"
#include "capture/pixels.hpp"

namespace deskaudit::capture {
namespace {

struct DcReleaser {
  void operator()(HDC dc) const noexcept { ReleaseDC(nullptr, dc); }
};
struct DcDeleter {
  void operator()(HDC dc) const noexcept { DeleteDC(dc); }
};
struct BitmapDeleter {
  void operator()(HBITMAP b) const noexcept { DeleteObject(b); }
};
using ScreenDcPtr = std::unique_ptr<std::remove_pointer_t<HDC>, DcReleaser>;
using MemoryDcPtr = std::unique_ptr<std::remove_pointer_t<HDC>, DcDeleter>;
using BitmapPtr = std::unique_ptr<std::remove_pointer_t<HBITMAP>, BitmapDeleter>;

std::string win_error(std::string_view what) {
  return std::string(what) + " failed: Windows error " + std::to_string(GetLastError());
}

struct ScreenGeometry {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

ScreenGeometry virtual_screen() {
  return {GetSystemMetrics(SM_XVIRTUALSCREEN), GetSystemMetrics(SM_YVIRTUALSCREEN),
          GetSystemMetrics(SM_CXVIRTUALSCREEN), GetSystemMetrics(SM_CYVIRTUALSCREEN)};
}

class GdiCapture final : public ScreenCapture {
 public:
  explicit GdiCapture(const CaptureOptions& options) : options_(options) {}

  Status open() {
    // Physical pixels, not the scaled ones a DPI-unaware process is shown.
    SetProcessDPIAware();
    screen_dc_.reset(GetDC(nullptr));
    if (!screen_dc_) return fail(Errc::unavailable, win_error("GetDC of the screen"));
    return setup();
  }

  std::string_view backend() const override { return "gdi"; }
  int width() const override { return geo_.width; }
  int height() const override { return geo_.height; }
  bool changed() const override { return full_refresh_ || copy_.dirty(); }

  Result<CaptureStatus> wait(std::chrono::steady_clock::time_point deadline, WaitFor until,
                             const Wakeup* interrupt) override {
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      if (now >= next_poll_) {
        next_poll_ = now + options_.cursor_poll_interval;
        if (auto st = read_screen(); !st) return std::unexpected(st.error());
      }
      if (size_changed_) return CaptureStatus::reinit;
      if (until == WaitFor::change && changed()) return CaptureStatus::ok;
      now = std::chrono::steady_clock::now();
      if (now >= deadline) return changed() ? CaptureStatus::ok : CaptureStatus::timeout;
      const auto wake = std::min(deadline, next_poll_);
      const auto ms =
          std::clamp<long long>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count(), 0, 60'000);
      if (interrupt != nullptr) {
        if (WaitForSingleObject(interrupt->native(), static_cast<DWORD>(ms)) == WAIT_OBJECT_0)
          return CaptureStatus::interrupted;
      } else {
        Sleep(static_cast<DWORD>(ms));
      }
    }
  }

  Result<CaptureStatus> grab(const I420View& frame) override {
    if (auto st = check_grab_picture(frame, geo_.width, geo_.height); !st) return std::unexpected(st.error());
    // Convert from a read made now, not from the last tick's.
    if (auto st = read_screen(); !st) return std::unexpected(st.error());
    // The next poll half an interval from now, between the recorder's frame
    // times (its grid, of which this grab is one): a poll right after a grid
    // point found motion too late for the next point, so a moving window was
    // coded every other point (measured under Wine: 2.5 fps instead of 5).
    next_poll_ = std::chrono::steady_clock::now() + options_.cursor_poll_interval / 2;
    if (size_changed_) return CaptureStatus::reinit;
    std::vector<Rect> dirty = copy_.take_dirty();
    if (full_refresh_) dirty.assign(1, {0, 0, geo_.width, geo_.height});
    full_refresh_ = false;
    last_rects_.clear();
    last_grab_pixels_ = 0;
    const std::size_t row = copy_.row_bytes();
    for (const Rect& d : dirty) {
      const Rect r = even_aligned(d, geo_.width, geo_.height);
      if (r.width <= 0) continue;
      bgra_to_i420(copy_.data() + static_cast<std::size_t>(r.y) * row + static_cast<std::size_t>(r.x) * 4,
                   static_cast<int>(row), r, frame);
      last_rects_.push_back(r);
      last_grab_pixels_ += static_cast<std::int64_t>(r.width) * r.height;
    }
    return last_rects_.empty() ? CaptureStatus::timeout : CaptureStatus::ok;
  }

  Status reinit() override {
    size_changed_ = false;
    return setup();
  }

  std::int64_t last_grab_pixels() const override { return last_grab_pixels_; }
  std::vector<Rect> last_grab_rects() const override { return last_rects_; }

 private:
  Status setup() {
    geo_ = virtual_screen();
    if (geo_.width <= 0 || geo_.height <= 0 || geo_.width > 16384 || geo_.height > 16384)
      return fail(Errc::unavailable, "the desktop's size " + std::to_string(geo_.width) + "x" +
                                         std::to_string(geo_.height) + " is outside 1..16384");
    bitmap_.reset();
    mem_dc_.reset(CreateCompatibleDC(screen_dc_.get()));
    if (!mem_dc_) return fail(Errc::internal, win_error("CreateCompatibleDC"));
    BITMAPINFO bi{};
    bi.bmiHeader.biSize = sizeof bi.bmiHeader;
    bi.bmiHeader.biWidth = geo_.width;
    bi.bmiHeader.biHeight = -geo_.height;  // top-down rows, as the I420 planes
    bi.bmiHeader.biPlanes = 1;
    bi.bmiHeader.biBitCount = 32;
    bi.bmiHeader.biCompression = BI_RGB;
    void* bits = nullptr;
    bitmap_.reset(CreateDIBSection(mem_dc_.get(), &bi, DIB_RGB_COLORS, &bits, nullptr, 0));
    if (!bitmap_ || bits == nullptr) return fail(Errc::internal, win_error("CreateDIBSection"));
    bits_ = static_cast<std::uint8_t*>(bits);
    SelectObject(mem_dc_.get(), bitmap_.get());
    copy_.clear();
    full_refresh_ = true;
    next_poll_ = {};
    return {};
  }

  // BitBlt of the whole desktop (with the cursor drawn in) into the DIB,
  // then compared with the last read.
  Status read_screen() {
    const ScreenGeometry now = virtual_screen();
    if (now.width != geo_.width || now.height != geo_.height || now.x != geo_.x || now.y != geo_.y) {
      size_changed_ = true;
      return {};
    }
    if (!BitBlt(mem_dc_.get(), 0, 0, geo_.width, geo_.height, screen_dc_.get(), geo_.x, geo_.y, SRCCOPY | CAPTUREBLT))
      return fail(Errc::unavailable, win_error("BitBlt of the desktop"));
    if (options_.draw_cursor) draw_cursor();
    GdiFlush();
    copy_.update(bits_, geo_.width, geo_.height);
    return {};
  }

  void draw_cursor() {
    CURSORINFO ci{};
    ci.cbSize = sizeof ci;
    if (!GetCursorInfo(&ci) || (ci.flags & CURSOR_SHOWING) == 0 || ci.hCursor == nullptr) return;
    ICONINFO ii{};
    if (!GetIconInfo(ci.hCursor, &ii)) return;
    if (ii.hbmMask != nullptr) DeleteObject(ii.hbmMask);
    if (ii.hbmColor != nullptr) DeleteObject(ii.hbmColor);
    DrawIconEx(mem_dc_.get(), ci.ptScreenPos.x - geo_.x - static_cast<int>(ii.xHotspot),
               ci.ptScreenPos.y - geo_.y - static_cast<int>(ii.yHotspot), ci.hCursor, 0, 0, 0, nullptr, DI_NORMAL);
  }

  CaptureOptions options_;
  ScreenDcPtr screen_dc_;
  MemoryDcPtr mem_dc_;
  BitmapPtr bitmap_;
  std::uint8_t* bits_ = nullptr;  // the DIB's pixels, owned by bitmap_
  ScreenGeometry geo_;
  ScreenCopy copy_;
  bool full_refresh_ = true;
  bool size_changed_ = false;
  std::chrono::steady_clock::time_point next_poll_{};
  std::int64_t last_grab_pixels_ = 0;
  std::vector<Rect> last_rects_;
};

}  // namespace

Status check_desktop_display(const CaptureOptions& options) {
  if (!options.display.empty() && options.display != "desktop")
    return fail(Errc::invalid_argument,
                "display '" + options.display +
                    "': the Windows capture records the desktop of its session (give none, or \"desktop\")");
  return {};
}

Result<std::unique_ptr<ScreenCapture>> open_gdi_capture(const CaptureOptions& options) {
  if (auto st = check_desktop_display(options); !st) return std::unexpected(st.error());
  auto capture = std::make_unique<GdiCapture>(options);
  if (auto st = capture->open(); !st) return std::unexpected(st.error());
  return std::unique_ptr<ScreenCapture>(std::move(capture));
}

}  // namespace deskaudit::capture
