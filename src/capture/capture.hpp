#pragma once
// Screen capture: watches a display for changes and converts only the changed
// parts into a persistent I420 picture that the caller owns.
//
// open_screen_capture() opens the platform's: X11 on Linux; on Windows DXGI
// Desktop Duplication, else GDI (the reason is in fallback_reason()).
//
// X11 backends, tried in order by open_x11_capture():
//   "xcb-shm+damage"      MIT-SHM reads of the XDamage rectangles (best)
//   "xcb-getimage+damage" xcb_get_image of the XDamage rectangles (no MIT-SHM,
//                         e.g. a remote X server)
//   "xcb-getimage"        no XDamage: the whole screen is read each tick and
//                         compared with the previous read (slow; last resort)
// The cursor (XFixes) is drawn into the picture; pointer moves and cursor
// image changes count as changes. The pointer is polled every
// cursor_poll_interval while it moves; while it rests, an XInput 2 raw
// motion event ends the rest (no wakeups on an idle desktop). Without
// XInput 2.2 it is polled all the time.
// Windows, tried in order by open_screen_capture():
//   "dxgi"  Desktop Duplication of the output that holds the desktop's origin
//           (dxgi_capture.cpp): the dirty and move rectangles of each frame
//           are copied through a staging texture, the pointer shape is drawn
//           in; DXGI_ERROR_ACCESS_LOST re-creates the duplication (reinit when
//           the output's size changed). Not used with several monitors or a
//           rotated output, and unavailable in session 0, under Wine (E_NOTIMPL)
//           and without a GPU adapter on older Windows.
//   "gdi"   reads the whole virtual screen with BitBlt each tick and compares
//           it with the previous read (no change notification in GDI).
//
// Thread safety: a ScreenCapture is used by one thread at a time.
// Privacy: the pixels are the user's screen. MIT-SHM segments are created
// 0600 and removed (IPC_RMID) as soon as the server has attached them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/wakeup.hpp"

namespace deskaudit::capture {

struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Planes of an I420 picture of exactly the capture's width x height
// (chroma planes (width+1)/2 x (height+1)/2). Not owned.
struct I420View {
  std::uint8_t* y = nullptr;
  int stride_y = 0;
  std::uint8_t* u = nullptr;
  int stride_u = 0;
  std::uint8_t* v = nullptr;
  int stride_v = 0;
  int width = 0;
  int height = 0;
};

// The monotonic time source of capture and recording. A capture's wait()
// deadlines are points of the clock that its recorder reads. Production uses
// steady_clock(); a scripted capture (scripted_capture.hpp) runs on virtual
// time it advances itself. Implementations are thread-safe.
class MonotonicClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~MonotonicClock() = default;
  virtual time_point now() const = 0;
};
// std::chrono::steady_clock, shared.
const MonotonicClock& steady_clock();

enum class CaptureStatus {
  ok,           // a change is pending (wait) / the picture was updated (grab)
  timeout,      // the deadline passed with nothing pending
  reinit,       // the screen size changed: call reinit(), then start a new picture
  interrupted,  // the interrupt Wakeup was signalled
};

enum class BackendChoice {
  best,      // shm+damage, falling back as described above
  getimage,  // skip MIT-SHM (X11) / DXGI (Windows): tests the fallback; remote displays
};

struct CaptureOptions {
  std::string display;  // ":1"; empty means $DISPLAY
  bool draw_cursor = true;
  BackendChoice backend = BackendChoice::best;
  // How often the pointer position is polled while it moves (X has no
  // motion event with positions on the root for other clients' windows;
  // XInput 2 raw motion only says that it moves); normally the frame interval.
  std::chrono::milliseconds cursor_poll_interval{200};
};

enum class WaitFor {
  change,    // return as soon as a change is pending
  deadline,  // keep collecting changes until the deadline
};

class ScreenCapture {
 public:
  virtual ~ScreenCapture() = default;
  virtual std::string_view backend() const = 0;
  virtual int width() const = 0;
  virtual int height() const = 0;
  // Processes display events until the deadline, an interrupt (interrupt
  // signalled; nullptr for none), a size change, or (WaitFor::change) a
  // pending change.
  virtual Result<CaptureStatus> wait(std::chrono::steady_clock::time_point deadline, WaitFor until,
                                     const Wakeup* interrupt) = 0;
  // True when something changed since the last grab().
  virtual bool changed() const = 0;
  // Reads the changed regions (all of the screen after open or reinit) into
  // `frame`, which must be width() x height(), and draws the cursor.
  // Returns timeout when nothing had changed after all (nothing was read),
  // reinit instead when the screen size changed.
  virtual Result<CaptureStatus> grab(const I420View& frame) = 0;
  // After a reinit status: adopts the new screen size; the next grab()
  // refreshes the whole picture.
  virtual Status reinit() = 0;
  // Pixels converted by the last grab (for statistics and tests).
  virtual std::int64_t last_grab_pixels() const = 0;
  virtual std::vector<Rect> last_grab_rects() const = 0;
  // Pointer position queries made so far (statistics and tests: with
  // XInput 2 a resting pointer is watched by events, not polled).
  virtual std::int64_t pointer_polls() const { return 0; }
  // Why the platform's preferred backend is not the one used (Windows: DXGI
  // unavailable, GDI used); empty when it is.
  virtual std::string_view fallback_reason() const { return {}; }
};

// options.display names the X display; backend chooses among the above.
Result<std::unique_ptr<ScreenCapture>> open_x11_capture(const CaptureOptions& options);
// The whole virtual screen of the calling thread's desktop (options.display
// must be empty or "desktop"; backend is ignored: GDI is the only one).
Result<std::unique_ptr<ScreenCapture>> open_gdi_capture(const CaptureOptions& options);
// Windows: options.display must be empty or "desktop" (a capture records the
// desktop of its session); invalid_argument otherwise. Used by both opens below.
Status check_desktop_display(const CaptureOptions& options);
// DXGI Desktop Duplication (Windows only; options as open_gdi_capture's).
// Fails with Errc::unavailable and the failed step when DXGI cannot be used.
Result<std::unique_ptr<ScreenCapture>> open_dxgi_capture(const CaptureOptions& options);
// The platform's capture: open_x11_capture on Linux; on Windows
// open_dxgi_capture, else open_gdi_capture with DXGI's failure as its
// fallback_reason() (logged). BackendChoice::getimage skips DXGI on Windows.
Result<std::unique_ptr<ScreenCapture>> open_screen_capture(const CaptureOptions& options);

}  // namespace deskaudit::capture
