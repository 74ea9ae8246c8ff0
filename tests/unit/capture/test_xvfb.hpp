#pragma once
// Test helpers: a private Xvfb on a free display number, and a client that
// draws into it with plain xcb. Header-only; shared by the capture and
// record tests.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/xcb_ptr.hpp"

extern char** environ;

namespace deskaudit::xtest {

class Xvfb {
 public:
  // extra: more server arguments, e.g. {"-extension", "MIT-SHM"} to turn one off.
  explicit Xvfb(const std::string& geometry = "1920x1080x24", const std::vector<std::string>& extra = {}) {
    namespace fs = std::filesystem;
    for (int i = 0; i < 100; ++i) {
      const int n = 90 + static_cast<int>((::getpid() + i * 7) % 400);
      if (fs::exists("/tmp/.X11-unix/X" + std::to_string(n)) || fs::exists("/tmp/.X" + std::to_string(n) + "-lock"))
        continue;
      display_ = ":" + std::to_string(n);
      std::vector<std::string> args = {"Xvfb", display_, "-screen", "0", geometry, "-nolisten", "tcp", "-noreset"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
      const int r = posix_spawnp(&pid_, "Xvfb", &fa, nullptr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&fa);
      if (r != 0) throw std::runtime_error("cannot start Xvfb");
      for (int t = 0; t < 100; ++t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;  // lost a race for this display number: try the next
          break;
        }
        capture::XcbConnectionPtr c(xcb_connect(display_.c_str(), nullptr));
        if (xcb_connection_has_error(c.get()) == 0) return;
      }
      stop();
    }
    throw std::runtime_error("no free display for Xvfb");
  }
  ~Xvfb() { stop(); }
  Xvfb(const Xvfb&) = delete;
  Xvfb& operator=(const Xvfb&) = delete;
  const std::string& display() const { return display_; }

 private:
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  std::string display_;
  pid_t pid_ = -1;
};

// Draws filled rectangles into one window (no window manager on Xvfb).
class Painter {
 public:
  Painter(const std::string& display, int x, int y, int w, int h) : conn_(xcb_connect(display.c_str(), nullptr)) {
    if (xcb_connection_has_error(conn_.get()) != 0) throw std::runtime_error("cannot connect to " + display);
    screen_ = xcb_setup_roots_iterator(xcb_get_setup(conn_.get())).data;
    window_ = xcb_generate_id(conn_.get());
    const std::uint32_t values[] = {screen_->black_pixel, 1};
    xcb_create_window(conn_.get(), XCB_COPY_FROM_PARENT, window_, screen_->root, static_cast<std::int16_t>(x),
                      static_cast<std::int16_t>(y), static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h), 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, screen_->root_visual, XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT,
                      values);
    gc_ = xcb_generate_id(conn_.get());
    xcb_create_gc(conn_.get(), gc_, window_, 0, nullptr);
    w_ = w;
    h_ = h;
  }
  void map() {
    xcb_map_window(conn_.get(), window_);
    sync();
  }
  void unmap() {
    xcb_unmap_window(conn_.get(), window_);
    sync();
  }
  void fill(std::uint32_t rgb, int x, int y, int w, int h) {
    xcb_change_gc(conn_.get(), gc_, XCB_GC_FOREGROUND, &rgb);
    const xcb_rectangle_t r{static_cast<std::int16_t>(x), static_cast<std::int16_t>(y), static_cast<std::uint16_t>(w),
                            static_cast<std::uint16_t>(h)};
    xcb_poly_fill_rectangle(conn_.get(), window_, gc_, 1, &r);
    sync();
  }
  // Many small random rectangles: content that compresses badly.
  void noise(std::mt19937& rng, int count = 400, int size = 16) {
    for (int i = 0; i < count; ++i) {
      const std::uint32_t rgb = rng() & 0xffffff;
      xcb_change_gc(conn_.get(), gc_, XCB_GC_FOREGROUND, &rgb);
      const xcb_rectangle_t r{static_cast<std::int16_t>(rng() % static_cast<unsigned>(w_ - size)),
                              static_cast<std::int16_t>(rng() % static_cast<unsigned>(h_ - size)),
                              static_cast<std::uint16_t>(size), static_cast<std::uint16_t>(size)};
      xcb_poly_fill_rectangle(conn_.get(), window_, gc_, 1, &r);
    }
    sync();
  }
  void warp_pointer(int x, int y) {
    xcb_warp_pointer(conn_.get(), XCB_NONE, screen_->root, 0, 0, 0, 0, static_cast<std::int16_t>(x),
                     static_cast<std::int16_t>(y));
    sync();
  }
  // RandR 1.2 screen resize, as `xrandr --fb WxH` does: CRTCs that would not
  // fit are switched off first (Xvfb's only CRTC spans the whole screen).
  // False if the server refuses.
  bool resize_screen(int w, int h) {
    capture::XcbRandrQueryVersionReply v(
        xcb_randr_query_version_reply(conn_.get(), xcb_randr_query_version(conn_.get(), 1, 2), nullptr));
    if (!v) return false;
    capture::XcbReply<xcb_randr_get_screen_resources_reply_t> res(xcb_randr_get_screen_resources_reply(
        conn_.get(), xcb_randr_get_screen_resources(conn_.get(), screen_->root), nullptr));
    if (!res) return false;
    const xcb_randr_crtc_t* crtcs = xcb_randr_get_screen_resources_crtcs(res.get());
    for (int i = 0; i < xcb_randr_get_screen_resources_crtcs_length(res.get()); ++i) {
      capture::XcbReply<xcb_randr_set_crtc_config_reply_t> off(xcb_randr_set_crtc_config_reply(
          conn_.get(),
          xcb_randr_set_crtc_config(conn_.get(), crtcs[i], XCB_CURRENT_TIME, res->config_timestamp, 0, 0, XCB_NONE,
                                    XCB_RANDR_ROTATION_ROTATE_0, 0, nullptr),
          nullptr));
      if (!off) return false;
    }
    capture::XcbErrorPtr err(xcb_request_check(
        conn_.get(), xcb_randr_set_screen_size_checked(conn_.get(), screen_->root, static_cast<std::uint16_t>(w),
                                                        static_cast<std::uint16_t>(h), static_cast<std::uint32_t>(w / 4),
                                                        static_cast<std::uint32_t>(h / 4))));
    return !err;
  }
  void sync() {
    capture::XcbReply<xcb_get_input_focus_reply_t> r(
        xcb_get_input_focus_reply(conn_.get(), xcb_get_input_focus(conn_.get()), nullptr));
  }

 private:
  capture::XcbConnectionPtr conn_;
  xcb_screen_t* screen_ = nullptr;
  xcb_window_t window_ = 0;
  xcb_gcontext_t gc_ = 0;
  int w_ = 0;
  int h_ = 0;
};

}  // namespace deskaudit::xtest
