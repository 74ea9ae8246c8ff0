#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/shm.h>
#include <vector>

#include <gtest/gtest.h>

#include "capture/capture.hpp"
#include "capture/shm_segment.hpp"
#include "capture/test_xvfb.hpp"

using namespace deskaudit;
using namespace std::chrono_literals;
using capture::CaptureStatus;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Picture {
  Picture(int w, int h)
      : width(w), height(h), y(static_cast<std::size_t>(w) * h, 0), u(static_cast<std::size_t>((w + 1) / 2) * ((h + 1) / 2), 128),
        v(u.size(), 128) {}
  capture::I420View view() {
    return {y.data(), width, u.data(), (width + 1) / 2, v.data(), (width + 1) / 2, width, height};
  }
  int luma(int x, int yy) const { return y[static_cast<std::size_t>(yy) * width + x]; }
  int width, height;
  std::vector<std::uint8_t> y, u, v;
};

std::unique_ptr<capture::ScreenCapture> open_capture(const std::string& display, bool cursor = false,
                                                     capture::BackendChoice backend = capture::BackendChoice::best) {
  capture::CaptureOptions o;
  o.display = display;
  o.draw_cursor = cursor;
  o.backend = backend;
  o.cursor_poll_interval = 50ms;
  auto c = capture::open_x11_capture(o);
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(*c);
}

// Segments created by this process that are not marked for destruction.
int live_shm_segments_of_this_process() {
  std::ifstream in("/proc/sysvipc/shm");
  std::string line;
  std::getline(in, line);  // header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    long key, id, size, cpid;
    std::string perms;
    f >> key >> id >> perms >> size >> cpid;
    const long mode = std::stol(perms, nullptr, 8);
    if (cpid == ::getpid() && (mode & SHM_DEST) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST(ShmSegment, PrivateAndRemovedAfterAttach) {
  auto seg = capture::ShmSegment::create(4096);
  ASSERT_TRUE(seg) << seg.error().message;
  shmid_ds ds{};
  ASSERT_EQ(::shmctl(seg->id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.shm_perm.mode & 0777, 0600u);
  EXPECT_EQ(live_shm_segments_of_this_process(), 1);
  ASSERT_TRUE(seg->mark_removed());
  EXPECT_EQ(live_shm_segments_of_this_process(), 0);
  seg->data()[4095] = 1;  // still mapped until the owner goes
  EXPECT_FALSE(capture::ShmSegment::create(0));
}

TEST(X11Capture, BadDisplayIsAClearError) {
  capture::CaptureOptions o;
  o.display = ":359";
  auto c = capture::open_x11_capture(o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find(":359"), std::string::npos);
}

class X11CaptureTest : public ::testing::Test {
 protected:
  xtest::Xvfb xvfb_;
};

TEST_F(X11CaptureTest, ShmBackendLeavesNoSegmentBehind) {
  auto cap = open_capture(xvfb_.display());
  EXPECT_EQ(cap->backend(), "xcb-shm+damage");
  EXPECT_EQ(cap->width(), 1920);
  EXPECT_EQ(cap->height(), 1080);
  EXPECT_EQ(live_shm_segments_of_this_process(), 0);
}

void expect_change_detected(const std::string& display, capture::BackendChoice backend) {
  auto cap = open_capture(display, false, backend);
  Picture pic(cap->width(), cap->height());
  ASSERT_TRUE(cap->changed());  // the first grab reads everything
  auto g = cap->grab(pic.view());
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(cap->last_grab_pixels(), 1920 * 1080);
  EXPECT_EQ(pic.luma(700, 500), 16);  // black root: limited-range black

  // A still screen: nothing to do.
  auto w = cap->wait(SteadyClock::now() + 600ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, CaptureStatus::timeout);
  EXPECT_FALSE(cap->changed());

  xtest::Painter p(display, 601, 401, 200, 100);
  p.map();
  p.fill(0xffffff, 0, 0, 200, 100);
  w = cap->wait(SteadyClock::now() + 3s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::ok);
  // Let the fill's damage arrive too.
  w = cap->wait(SteadyClock::now() + 100ms, capture::WaitFor::deadline, nullptr);
  g = cap->grab(pic.view());
  ASSERT_TRUE(g) << g.error().message;
  // Only the window's area (even-aligned) was read, not the screen.
  EXPECT_LE(cap->last_grab_pixels(), 202 * 102 * 2);
  EXPECT_GE(cap->last_grab_pixels(), 200 * 100);
  for (const auto& r : cap->last_grab_rects()) {
    EXPECT_EQ(r.x % 2, 0);
    EXPECT_EQ(r.y % 2, 0);
    EXPECT_GE(r.x, 600);
    EXPECT_LE(r.x + r.width, 802);
  }
  EXPECT_EQ(pic.luma(700, 450), 235);  // white, limited range
  EXPECT_EQ(pic.luma(500, 450), 16);
  EXPECT_FALSE(cap->changed());
}

TEST_F(X11CaptureTest, ShmSeesOnlyTheChangedRegion) { expect_change_detected(xvfb_.display(), capture::BackendChoice::best); }

TEST_F(X11CaptureTest, GetImageFallbackSeesTheChangedRegion) {
  auto cap = open_capture(xvfb_.display(), false, capture::BackendChoice::getimage);
  EXPECT_EQ(cap->backend(), "xcb-getimage+damage");
  cap.reset();
  expect_change_detected(xvfb_.display(), capture::BackendChoice::getimage);
}

TEST_F(X11CaptureTest, CursorIsDrawnAndItsMovesAreChanges) {
  auto with = open_capture(xvfb_.display(), true);
  auto without = open_capture(xvfb_.display(), false);
  Picture a(1920, 1080), b(1920, 1080);
  ASSERT_TRUE(with->grab(a.view()));
  ASSERT_TRUE(without->grab(b.view()));

  xtest::Painter p(xvfb_.display(), 0, 0, 10, 10);
  p.warp_pointer(1000, 600);
  auto w = with->wait(SteadyClock::now() + 2s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::ok);  // a pointer move alone is a change
  ASSERT_TRUE(with->grab(a.view()));
  // The cursor (a few pixels around the hotspot) differs from the bare screen.
  int differing = 0;
  for (int y = 590; y < 610; ++y)
    for (int x = 990; x < 1010; ++x) differing += a.luma(x, y) != 16;
  EXPECT_GT(differing, 10);
  // Without the cursor a pointer move is no change and the screen stays black.
  w = without->wait(SteadyClock::now() + 500ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, CaptureStatus::timeout);
  for (int y = 590; y < 610; ++y)
    for (int x = 990; x < 1010; ++x) ASSERT_EQ(b.luma(x, y), 16);

  // Moving away repaints the old place from the screen.
  p.warp_pointer(200, 200);
  w = with->wait(SteadyClock::now() + 2s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_TRUE(with->grab(a.view()));
  for (int y = 590; y < 610; ++y)
    for (int x = 990; x < 1010; ++x) ASSERT_EQ(a.luma(x, y), 16);
}

// A resting pointer is not polled (XInput 2 raw motion watches it); a move
// ends the rest and is a change like before.
TEST_F(X11CaptureTest, RestingPointerIsWatchedNotPolled) {
  auto cap = open_capture(xvfb_.display(), true);
  Picture pic(1920, 1080);
  ASSERT_TRUE(cap->grab(pic.view()));
  // Until the pointer has been seen at rest once, it is polled.
  auto w = cap->wait(SteadyClock::now() + 300ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  if (*w == CaptureStatus::ok) {
    ASSERT_TRUE(cap->grab(pic.view()));
  }
  w = cap->wait(SteadyClock::now() + 300ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::timeout);
  const auto polls = cap->pointer_polls();
  // 500 ms at rest: at a 50 ms interval, polling would have queried ~10 times.
  w = cap->wait(SteadyClock::now() + 500ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, CaptureStatus::timeout);
  EXPECT_EQ(cap->pointer_polls(), polls);

  // Input (XTest, as a real device does; xdotool's relative move uses it).
  const auto xdotool = [&](const std::string& args) {
    return std::system(("DISPLAY=" + xvfb_.display() + " xdotool " + args).c_str());
  };
  ASSERT_EQ(xdotool("mousemove_relative -- -260 -40"), 0);  // from the middle (960, 540) to (700, 500)
  w = cap->wait(SteadyClock::now() + 5s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::ok);
  ASSERT_TRUE(cap->grab(pic.view()));
  EXPECT_GT(cap->pointer_polls(), polls);
  int differing = 0;
  for (int y = 490; y < 510; ++y)
    for (int x = 690; x < 710; ++x) differing += pic.luma(x, y) != 16;
  EXPECT_GT(differing, 10);

  // At rest again; a program warps the pointer (no input device, no raw
  // motion): the cursor follows at the next screen change.
  w = cap->wait(SteadyClock::now() + 300ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  xtest::Painter p(xvfb_.display(), 0, 0, 10, 10);
  p.warp_pointer(300, 300);
  p.map();
  p.fill(0xffffff, 0, 0, 10, 10);
  w = cap->wait(SteadyClock::now() + 5s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::ok);
  ASSERT_TRUE(cap->grab(pic.view()));
  differing = 0;
  for (int y = 290; y < 310; ++y)
    for (int x = 290; x < 310; ++x) differing += pic.luma(x, y) != 16;
  EXPECT_GT(differing, 10);
  for (int y = 490; y < 510; ++y)
    for (int x = 690; x < 710; ++x) ASSERT_EQ(pic.luma(x, y), 16);
}

TEST_F(X11CaptureTest, InterruptWakesTheWait) {
  auto cap = open_capture(xvfb_.display());
  Picture pic(1920, 1080);
  ASSERT_TRUE(cap->grab(pic.view()));
  auto wakeup = Wakeup::create();
  ASSERT_TRUE(wakeup);
  wakeup->signal();
  const auto t0 = SteadyClock::now();
  auto w = cap->wait(t0 + 5s, capture::WaitFor::change, &*wakeup);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, CaptureStatus::interrupted);
  EXPECT_LT(SteadyClock::now() - t0, 1s);
}

TEST_F(X11CaptureTest, ResizeIsReportedAndAdopted) {
  auto cap = open_capture(xvfb_.display());
  Picture pic(1920, 1080);
  ASSERT_TRUE(cap->grab(pic.view()));
  xtest::Painter p(xvfb_.display(), 0, 0, 10, 10);
  if (!p.resize_screen(1280, 720)) GTEST_SKIP() << "this Xvfb refuses RandR screen resizing";
  auto w = cap->wait(SteadyClock::now() + 3s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::reinit);
  ASSERT_TRUE(cap->reinit());
  EXPECT_EQ(cap->width(), 1280);
  EXPECT_EQ(cap->height(), 720);
  Picture small(1280, 720);
  auto g = cap->grab(small.view());
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(*g, CaptureStatus::ok);
  EXPECT_EQ(cap->last_grab_pixels(), 1280 * 720);
  EXPECT_EQ(live_shm_segments_of_this_process(), 0);
  // The old picture size is refused with a clear error.
  auto bad = cap->grab(pic.view());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("1280x720"), std::string::npos);
}

TEST(X11CaptureFallback, WithoutMitShmReadsWithGetImage) {
  xtest::Xvfb xvfb("1920x1080x24", {"-extension", "MIT-SHM"});
  auto cap = open_capture(xvfb.display());
  EXPECT_EQ(cap->backend(), "xcb-getimage+damage");
  cap.reset();
  expect_change_detected(xvfb.display(), capture::BackendChoice::best);
}

TEST(X11CaptureFallback, WithoutDamageComparesWholeReads) {
  xtest::Xvfb xvfb("1920x1080x24", {"-extension", "DAMAGE"});
  auto cap = open_capture(xvfb.display());
  EXPECT_EQ(cap->backend(), "xcb-getimage");
  Picture pic(1920, 1080);
  ASSERT_TRUE(cap->grab(pic.view()));
  auto w = cap->wait(SteadyClock::now() + 500ms, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, CaptureStatus::timeout);
  xtest::Painter p(xvfb.display(), 601, 401, 200, 100);
  p.map();
  p.fill(0xffffff, 0, 0, 200, 100);
  w = cap->wait(SteadyClock::now() + 3s, capture::WaitFor::change, nullptr);
  ASSERT_TRUE(w);
  ASSERT_EQ(*w, CaptureStatus::ok);
  auto g = cap->grab(pic.view());
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(pic.luma(700, 450), 235);
  // Only the rows that changed were converted.
  EXPECT_LE(cap->last_grab_pixels(), 1920 * 102);
}
