// Windows screen capture through DXGI Desktop Duplication
// (IDXGIOutputDuplication), and the platform's choice between it and GDI.
// Not runnable under Wine 8 (DuplicateOutput returns E_NOTIMPL): see
// docs/windows.md for what real Windows must confirm.
#include <windows.h>

#include <d3d11.h>
#include <dxgi1_2.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "capture/capture.hpp"
#include "capture/dxgi_frame.hpp"
#include "capture/pixels.hpp"
#include "common/com_ptr.hpp"

namespace deskaudit::capture {
namespace {

std::string step_failed(std::string_view step, HRESULT hr) {
  return std::string(step) + " failed: " + hresult_text(static_cast<std::uint32_t>(hr));
}

Rect from_rect(const RECT& r) {
  return {static_cast<int>(r.left), static_cast<int>(r.top), static_cast<int>(r.right - r.left),
          static_cast<int>(r.bottom - r.top)};
}

// AcquireNextFrame blocks; the interrupt is looked at between slices.
constexpr UINT kAcquireSliceMs = 50;
// After a lost duplication that cannot be re-created yet (secure desktop,
// lock screen), how long to wait before trying again.
constexpr DWORD kRecreateRetryMs = 250;

class DxgiCapture final : public ScreenCapture {
 public:
  explicit DxgiCapture(const CaptureOptions& options) : options_(options) {}

  // Fails (Errc::unavailable) with the step that failed, for the fallback.
  Status open() {
    SetProcessDPIAware();
    IDXGIFactory1* f = nullptr;
    if (HRESULT hr = CreateDXGIFactory1(__uuidof(IDXGIFactory1), reinterpret_cast<void**>(&f)); FAILED(hr))
      return fail(Errc::unavailable, step_failed("CreateDXGIFactory1", hr));
    ComPtr<IDXGIFactory1> factory(f);
    DxgiDesktopFacts facts;
    facts.monitors = GetSystemMetrics(SM_CMONITORS);
    facts.output_found = false;
    for (UINT a = 0; !facts.output_found; ++a) {
      IDXGIAdapter1* ad = nullptr;
      if (factory->EnumAdapters1(a, &ad) != S_OK) break;
      ComPtr<IDXGIAdapter1> adapter(ad);
      for (UINT o = 0;; ++o) {
        IDXGIOutput* out = nullptr;
        if (adapter->EnumOutputs(o, &out) != S_OK) break;
        ComPtr<IDXGIOutput> output(out);
        DXGI_OUTPUT_DESC desc{};
        if (FAILED(output->GetDesc(&desc)) || !desc.AttachedToDesktop) continue;
        const Rect r = from_rect(desc.DesktopCoordinates);
        if (r.x > 0 || r.y > 0 || r.x + r.width <= 0 || r.y + r.height <= 0) continue;
        facts.output_found = true;
        facts.rotation = static_cast<int>(desc.Rotation);
        adapter_ = std::move(adapter);
        output_ = std::move(output);
        geo_ = r;
        break;
      }
    }
    if (auto why = dxgi_unsuitable_reason(facts); !why.empty()) return fail(Errc::unavailable, why);
    if (geo_.width <= 0 || geo_.height <= 0 || geo_.width > 16384 || geo_.height > 16384)
      return fail(Errc::unavailable, "the output's size " + std::to_string(geo_.width) + "x" +
                                         std::to_string(geo_.height) + " is outside 1..16384");
    ID3D11Device* dev = nullptr;
    ID3D11DeviceContext* ctx = nullptr;
    // The output's own adapter: duplication of an output of another adapter fails.
    if (HRESULT hr = D3D11CreateDevice(adapter_.get(), D3D_DRIVER_TYPE_UNKNOWN, nullptr, 0, nullptr, 0,
                                       D3D11_SDK_VERSION, &dev, nullptr, &ctx);
        FAILED(hr))
      return fail(Errc::unavailable, step_failed("D3D11CreateDevice", hr));
    device_.reset(dev);
    context_.reset(ctx);
    output1_ = com_query<IDXGIOutput1>(output_.get());
    if (!output1_) return fail(Errc::unavailable, "the output has no IDXGIOutput1 (Windows 8 or later is needed)");
    if (HRESULT hr = duplicate(); FAILED(hr)) return fail(Errc::unavailable, step_failed("DuplicateOutput", hr));
    return setup();
  }

  std::string_view backend() const override { return "dxgi"; }
  int width() const override { return geo_.width; }
  int height() const override { return geo_.height; }
  bool changed() const override { return !pending_.empty() || pointer_changed_; }

  Result<CaptureStatus> wait(std::chrono::steady_clock::time_point deadline, WaitFor until,
                             const Wakeup* interrupt) override {
    for (;;) {
      if (interrupt != nullptr && WaitForSingleObject(interrupt->native(), 0) == WAIT_OBJECT_0)
        return CaptureStatus::interrupted;
      const auto now = std::chrono::steady_clock::now();
      const auto ms = static_cast<UINT>(std::clamp<long long>(
          std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count(), 0, kAcquireSliceMs));
      if (auto st = acquire(ms, interrupt); !st) return std::unexpected(st.error());
      if (size_changed_) return CaptureStatus::reinit;
      if (until == WaitFor::change && changed()) return CaptureStatus::ok;
      if (std::chrono::steady_clock::now() >= deadline) return changed() ? CaptureStatus::ok : CaptureStatus::timeout;
    }
  }

  Result<CaptureStatus> grab(const I420View& frame) override {
    if (auto st = check_grab_picture(frame, geo_.width, geo_.height); !st) return std::unexpected(st.error());
    // Frames that came since the last wait.
    if (auto st = acquire(0, nullptr); !st) return std::unexpected(st.error());
    if (size_changed_) return CaptureStatus::reinit;
    std::vector<Rect> rects = std::move(pending_);
    pending_.clear();
    if (pointer_changed_) {
      rects.push_back(drawn_pointer_);
      if (options_.draw_cursor && pointer_visible_)
        rects.push_back(pointer_rect(shape_, pointer_x_, pointer_y_, geo_.width, geo_.height));
      pointer_changed_ = false;
    }
    rects = changed_area(rects, {}, geo_.width, geo_.height);
    last_rects_.clear();
    last_grab_pixels_ = 0;
    const std::size_t row = static_cast<std::size_t>(geo_.width) * 4;
    for (const Rect& r : rects) {
      for (int y = r.y; y < r.y + r.height; ++y) {
        const std::size_t at = static_cast<std::size_t>(y) * row + static_cast<std::size_t>(r.x) * 4;
        std::memcpy(composed_.data() + at, screen_.data() + at, static_cast<std::size_t>(r.width) * 4);
      }
      if (options_.draw_cursor && pointer_visible_)
        draw_pointer(composed_.data(), static_cast<int>(row), geo_.width, geo_.height, shape_, pointer_x_, pointer_y_,
                     r);
      bgra_to_i420(composed_.data() + static_cast<std::size_t>(r.y) * row + static_cast<std::size_t>(r.x) * 4,
                   static_cast<int>(row), r, frame);
      last_rects_.push_back(r);
      last_grab_pixels_ += static_cast<std::int64_t>(r.width) * r.height;
    }
    drawn_pointer_ = options_.draw_cursor && pointer_visible_
                         ? pointer_rect(shape_, pointer_x_, pointer_y_, geo_.width, geo_.height)
                         : Rect{};
    return last_rects_.empty() ? CaptureStatus::timeout : CaptureStatus::ok;
  }

  Status reinit() override {
    size_changed_ = false;
    dup_.reset();
    staging_.reset();
    DXGI_OUTPUT_DESC desc{};
    if (HRESULT hr = output_->GetDesc(&desc); FAILED(hr))
      return fail(Errc::unavailable, step_failed("IDXGIOutput::GetDesc", hr));
    geo_ = from_rect(desc.DesktopCoordinates);
    if (geo_.width <= 0 || geo_.height <= 0 || geo_.width > 16384 || geo_.height > 16384)
      return fail(Errc::unavailable, "the output's size " + std::to_string(geo_.width) + "x" +
                                         std::to_string(geo_.height) + " is outside 1..16384");
    // May fail while a secure desktop is shown: acquire() retries.
    (void)duplicate();
    return setup();
  }

  std::int64_t last_grab_pixels() const override { return last_grab_pixels_; }
  std::vector<Rect> last_grab_rects() const override { return last_rects_; }

 private:
  HRESULT duplicate() {
    IDXGIOutputDuplication* d = nullptr;
    const HRESULT hr = output1_->DuplicateOutput(device_.get(), &d);
    if (SUCCEEDED(hr)) {
      dup_.reset(d);
      // The first frame of a new duplication carries the whole desktop.
      need_full_copy_ = true;
    }
    return hr;
  }

  Status setup() {
    const std::size_t bytes = static_cast<std::size_t>(geo_.width) * static_cast<std::size_t>(geo_.height) * 4;
    screen_.assign(bytes, 0);
    composed_.assign(bytes, 0);
    D3D11_TEXTURE2D_DESC td{};
    td.Width = static_cast<UINT>(geo_.width);
    td.Height = static_cast<UINT>(geo_.height);
    td.MipLevels = 1;
    td.ArraySize = 1;
    td.Format = DXGI_FORMAT_B8G8R8A8_UNORM;
    td.SampleDesc.Count = 1;
    td.Usage = D3D11_USAGE_STAGING;
    td.CPUAccessFlags = D3D11_CPU_ACCESS_READ;
    ID3D11Texture2D* t = nullptr;
    if (HRESULT hr = device_->CreateTexture2D(&td, nullptr, &t); FAILED(hr))
      return fail(Errc::internal, step_failed("CreateTexture2D (staging)", hr));
    staging_.reset(t);
    pending_.clear();
    need_full_copy_ = true;
    pointer_changed_ = true;
    drawn_pointer_ = {};
    return {};
  }

  // Waits up to ms for a frame and takes it in: its changed rectangles are
  // copied into screen_ and added to pending_, pointer updates noted.
  Status acquire(UINT ms, const Wakeup* interrupt) {
    if (!dup_) {
      if (FAILED(duplicate())) {
        const DWORD pause = std::min<DWORD>(ms, kRecreateRetryMs);
        if (interrupt != nullptr)
          WaitForSingleObject(interrupt->native(), pause);  // the caller looks at it next
        else if (pause > 0)
          Sleep(pause);
        return {};
      }
    }
    DXGI_OUTDUPL_FRAME_INFO fi{};
    IDXGIResource* res = nullptr;
    HRESULT hr = dup_->AcquireNextFrame(ms, &fi, &res);
    if (hr == DXGI_ERROR_WAIT_TIMEOUT) return {};
    if (hr == DXGI_ERROR_ACCESS_LOST) return lost();
    if (FAILED(hr)) return fail(Errc::unavailable, step_failed("AcquireNextFrame", hr));
    ComPtr<IDXGIResource> resource(res);
    Status st = take_frame(fi, resource.get());
    hr = dup_->ReleaseFrame();
    if (!st) return st;
    if (hr == DXGI_ERROR_ACCESS_LOST) return lost();
    if (FAILED(hr)) return fail(Errc::unavailable, step_failed("ReleaseFrame", hr));
    return {};
  }

  Status lost() {
    dup_.reset();
    DXGI_OUTPUT_DESC desc{};
    if (SUCCEEDED(output_->GetDesc(&desc)) &&
        on_access_lost(geo_, from_rect(desc.DesktopCoordinates)) == LostAction::reinit) {
      spdlog::info("capture: the output changed to {}x{}; the picture is re-created",
                   desc.DesktopCoordinates.right - desc.DesktopCoordinates.left,
                   desc.DesktopCoordinates.bottom - desc.DesktopCoordinates.top);
      size_changed_ = true;
      return {};
    }
    // Same output: a desktop switch (UAC, lock, Ctrl+Alt+Del). Re-created now
    // or at the next acquire() once the user's desktop is back.
    (void)duplicate();
    return {};
  }

  Status take_frame(const DXGI_OUTDUPL_FRAME_INFO& fi, IDXGIResource* resource) {
    if (fi.LastMouseUpdateTime.QuadPart != 0) {
      pointer_visible_ = fi.PointerPosition.Visible != FALSE;
      pointer_x_ = static_cast<int>(fi.PointerPosition.Position.x);
      pointer_y_ = static_cast<int>(fi.PointerPosition.Position.y);
      pointer_changed_ = true;
    }
    if (fi.PointerShapeBufferSize > 0 && fi.PointerShapeBufferSize <= 4u * 1024 * 1024) {
      std::vector<std::uint8_t> bytes(fi.PointerShapeBufferSize);
      UINT required = 0;
      DXGI_OUTDUPL_POINTER_SHAPE_INFO si{};
      if (SUCCEEDED(dup_->GetFramePointerShape(static_cast<UINT>(bytes.size()), bytes.data(), &required, &si))) {
        shape_.type = static_cast<PointerType>(si.Type);
        shape_.width = static_cast<int>(si.Width);
        shape_.height =
            static_cast<int>(si.Type == DXGI_OUTDUPL_POINTER_SHAPE_TYPE_MONOCHROME ? si.Height / 2 : si.Height);
        shape_.pitch = static_cast<int>(si.Pitch);
        shape_.bytes = std::move(bytes);
        pointer_changed_ = true;
      }
    }
    if (fi.LastPresentTime.QuadPart == 0 && !need_full_copy_) return {};  // the pointer only
    std::vector<Rect> rects;
    if (need_full_copy_) {
      rects.push_back({0, 0, geo_.width, geo_.height});
    } else {
      if (auto st = frame_rects(fi.TotalMetadataBufferSize, rects); !st) return st;
    }
    if (rects.empty()) return {};
    auto tex = com_query<ID3D11Texture2D>(resource);
    if (!tex) return fail(Errc::internal, "the duplicated frame is not a texture");
    context_->CopyResource(staging_.get(), tex.get());
    D3D11_MAPPED_SUBRESOURCE mapped{};
    if (HRESULT hr = context_->Map(staging_.get(), 0, D3D11_MAP_READ, 0, &mapped); FAILED(hr))
      return fail(Errc::unavailable, step_failed("Map of the staging texture", hr));
    const std::size_t row = static_cast<std::size_t>(geo_.width) * 4;
    for (const Rect& r : rects)
      for (int y = r.y; y < r.y + r.height; ++y)
        std::memcpy(screen_.data() + static_cast<std::size_t>(y) * row + static_cast<std::size_t>(r.x) * 4,
                    static_cast<const std::uint8_t*>(mapped.pData) + static_cast<std::size_t>(y) * mapped.RowPitch +
                        static_cast<std::size_t>(r.x) * 4,
                    static_cast<std::size_t>(r.width) * 4);
    context_->Unmap(staging_.get(), 0);
    need_full_copy_ = false;
    pending_.insert(pending_.end(), rects.begin(), rects.end());
    pending_ = changed_area(pending_, {}, geo_.width, geo_.height);
    return {};
  }

  // The frame's move destinations and dirty rectangles as changed_area().
  Status frame_rects(UINT metadata_bytes, std::vector<Rect>& out) {
    if (metadata_bytes == 0) return {};
    metadata_.resize(std::max<std::size_t>(metadata_.size(), metadata_bytes));
    UINT used = 0;
    std::vector<MoveRect> moves;
    HRESULT hr = dup_->GetFrameMoveRects(static_cast<UINT>(metadata_.size()),
                                         reinterpret_cast<DXGI_OUTDUPL_MOVE_RECT*>(metadata_.data()), &used);
    if (FAILED(hr)) return fail(Errc::unavailable, step_failed("GetFrameMoveRects", hr));
    for (UINT i = 0; i < used / sizeof(DXGI_OUTDUPL_MOVE_RECT); ++i) {
      const auto& m = reinterpret_cast<const DXGI_OUTDUPL_MOVE_RECT*>(metadata_.data())[i];
      moves.push_back(
          {static_cast<int>(m.SourcePoint.x), static_cast<int>(m.SourcePoint.y), from_rect(m.DestinationRect)});
    }
    std::vector<Rect> dirty;
    used = 0;
    hr =
        dup_->GetFrameDirtyRects(static_cast<UINT>(metadata_.size()), reinterpret_cast<RECT*>(metadata_.data()), &used);
    if (FAILED(hr)) return fail(Errc::unavailable, step_failed("GetFrameDirtyRects", hr));
    for (UINT i = 0; i < used / sizeof(RECT); ++i)
      dirty.push_back(from_rect(reinterpret_cast<const RECT*>(metadata_.data())[i]));
    out = changed_area(dirty, moves, geo_.width, geo_.height);
    return {};
  }

  CaptureOptions options_;
  ComPtr<IDXGIAdapter1> adapter_;
  ComPtr<IDXGIOutput> output_;
  ComPtr<IDXGIOutput1> output1_;
  ComPtr<ID3D11Device> device_;
  ComPtr<ID3D11DeviceContext> context_;
  ComPtr<IDXGIOutputDuplication> dup_;  // null while lost and not re-created yet
  ComPtr<ID3D11Texture2D> staging_;
  Rect geo_;                            // the output's desktop rectangle
  std::vector<std::uint8_t> screen_;    // the desktop without the pointer (BGRA)
  std::vector<std::uint8_t> composed_;  // screen_ with the pointer drawn in
  std::vector<std::uint8_t> metadata_;  // move and dirty rectangles of a frame
  std::vector<Rect> pending_;           // changed in screen_ since the last grab
  bool need_full_copy_ = true;
  bool size_changed_ = false;
  PointerShape shape_;
  bool pointer_visible_ = false;
  int pointer_x_ = 0;
  int pointer_y_ = 0;
  bool pointer_changed_ = true;
  Rect drawn_pointer_;  // where the pointer is in composed_
  std::int64_t last_grab_pixels_ = 0;
  std::vector<Rect> last_rects_;
};

// The GDI capture with the reason DXGI was not used.
class FallbackCapture final : public ScreenCapture {
 public:
  FallbackCapture(std::unique_ptr<ScreenCapture> inner, std::string reason)
      : inner_(std::move(inner)), reason_(std::move(reason)) {}
  std::string_view backend() const override { return inner_->backend(); }
  int width() const override { return inner_->width(); }
  int height() const override { return inner_->height(); }
  Result<CaptureStatus> wait(std::chrono::steady_clock::time_point deadline, WaitFor until,
                             const Wakeup* interrupt) override {
    return inner_->wait(deadline, until, interrupt);
  }
  bool changed() const override { return inner_->changed(); }
  Result<CaptureStatus> grab(const I420View& frame) override { return inner_->grab(frame); }
  Status reinit() override { return inner_->reinit(); }
  std::int64_t last_grab_pixels() const override { return inner_->last_grab_pixels(); }
  std::vector<Rect> last_grab_rects() const override { return inner_->last_grab_rects(); }
  std::string_view fallback_reason() const override { return reason_; }

 private:
  std::unique_ptr<ScreenCapture> inner_;
  std::string reason_;
};

// Logs the choice when it differs from the last one logged: the agent opens a
// capture for each heartbeat between sessions.
void log_choice(spdlog::level::level_enum level, const std::string& message) {
  static std::mutex mu;
  static std::string last;
  std::lock_guard lock(mu);
  if (message == last) return;
  last = message;
  spdlog::log(level, "capture: {}", message);
}

}  // namespace

Result<std::unique_ptr<ScreenCapture>> open_dxgi_capture(const CaptureOptions& options) {
  if (auto st = check_desktop_display(options); !st) return std::unexpected(st.error());
  auto capture = std::make_unique<DxgiCapture>(options);
  if (auto st = capture->open(); !st) return std::unexpected(st.error());
  return std::unique_ptr<ScreenCapture>(std::move(capture));
}

Result<std::unique_ptr<ScreenCapture>> open_screen_capture(const CaptureOptions& options) {
  std::string why = "backend getimage asked for";
  if (options.backend == BackendChoice::best) {
    auto dxgi = open_dxgi_capture(options);
    if (dxgi) {
      log_choice(spdlog::level::info, "DXGI Desktop Duplication, " + std::to_string((*dxgi)->width()) + "x" +
                                          std::to_string((*dxgi)->height()));
      return dxgi;
    }
    if (dxgi.error().code == Errc::invalid_argument) return dxgi;
    why = dxgi.error().message;
  }
  auto gdi = open_gdi_capture(options);
  if (!gdi) return gdi;
  std::string reason = dxgi_fallback_reason(why);
  log_choice(spdlog::level::warn, reason);
  return std::unique_ptr<ScreenCapture>(std::make_unique<FallbackCapture>(std::move(*gdi), std::move(reason)));
}

}  // namespace deskaudit::capture
