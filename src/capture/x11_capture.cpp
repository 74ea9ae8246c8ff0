#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include <poll.h>

#include "capture/capture.hpp"
#include "capture/pixels.hpp"
#include "capture/shm_segment.hpp"
#include "capture/xcb_ptr.hpp"

namespace deskaudit::capture {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Above this many rectangles one bounding box is cheaper than a round trip each.
constexpr std::size_t kMaxRects = 16;
// XFixes cursors are small; anything larger is a broken reply.
constexpr int kMaxCursorSide = 1024;

std::string x_error_text(std::string_view what, const xcb_generic_error_t* e) {
  return std::string(what) + ": X error " + std::to_string(e->error_code) + " (request " +
         std::to_string(e->major_code) + "." + std::to_string(e->minor_code) + ")";
}

class X11Capture final : public ScreenCapture {
 public:
  explicit X11Capture(const CaptureOptions& options) : options_(options), cursor_image_changed_(options.draw_cursor) {}
  ~X11Capture() override { detach_shm(); }

  Status open();

  std::string_view backend() const override {
    if (!use_damage_) return "xcb-getimage";
    return use_shm_ ? "xcb-shm+damage" : "xcb-getimage+damage";
  }
  int width() const override { return width_; }
  int height() const override { return height_; }
  bool changed() const override {
    return full_refresh_ || damage_pending_ || cursor_moved_ || cursor_image_changed_ || screen_copy_.dirty();
  }
  Result<CaptureStatus> wait(SteadyClock::time_point deadline, WaitFor until, const Wakeup* interrupt) override;
  Result<CaptureStatus> grab(const I420View& frame) override;
  Status reinit() override;
  std::int64_t last_grab_pixels() const override { return last_grab_pixels_; }
  std::vector<Rect> last_grab_rects() const override { return last_rects_; }
  std::int64_t pointer_polls() const override { return pointer_polls_; }

 private:
  Status check_connection() const;
  Status read_failed(std::string_view what, const xcb_generic_error_t* err);
  Status query_geometry();
  Status setup_shm();
  void detach_shm();
  void drain_events();
  Status poll_pointer();
  void note_pointer(const xcb_query_pointer_reply_t& reply);
  // XInput 2 raw motion on the root: selected while the pointer rests
  // (no polling then), off while it moves (polled every interval).
  void select_raw_motion(bool on);
  // Polls the pointer when its interval has come; with raw motion, ends the
  // polling once the pointer rests. Returns whether it polled.
  Result<bool> pointer_tick(SteadyClock::time_point now);
  Status fetch_cursor_image();
  Status poll_screen();
  Rect cursor_rect() const;
  void blend_cursor(std::uint8_t* bgra, int stride, const Rect& r) const;
  Status read_rects_shm(const std::vector<Rect>& rects, const I420View& frame);
  Status read_rects_getimage(const std::vector<Rect>& rects, const I420View& frame);
  Status read_rects_polled(const std::vector<Rect>& rects, const I420View& frame);

  CaptureOptions options_;
  XcbConnectionPtr conn_;
  xcb_window_t root_ = XCB_NONE;
  int width_ = 0;
  int height_ = 0;
  bool use_shm_ = false;
  bool use_damage_ = false;
  bool use_xfixes_ = false;
  bool use_randr_ = false;
  std::uint8_t damage_event_base_ = 0;
  std::uint8_t xfixes_event_base_ = 0;
  std::uint8_t randr_event_base_ = 0;
  xcb_damage_damage_t damage_ = XCB_NONE;
  xcb_xfixes_region_t region_ = XCB_NONE;
  ShmSegment shm_;
  xcb_shm_seg_t shmseg_ = XCB_NONE;

  bool full_refresh_ = true;
  bool damage_pending_ = false;
  bool size_changed_ = false;
  bool cursor_moved_ = false;
  bool cursor_image_changed_ = true;
  // Sequence numbers of our last damage_subtract / get_cursor_image: a
  // notify generated before the server ran them is already accounted for.
  std::uint32_t subtract_seq_ = 0;
  std::uint32_t cursor_seq_ = 0;

  std::vector<std::uint32_t> cursor_pixels_;  // premultiplied ARGB
  int cursor_w_ = 0;
  int cursor_h_ = 0;
  int cursor_hot_x_ = 0;
  int cursor_hot_y_ = 0;
  int pointer_x_ = 0;
  int pointer_y_ = 0;
  bool pointer_on_screen_ = false;
  Rect drawn_cursor_;
  SteadyClock::time_point next_pointer_poll_{};
  bool use_xi2_ = false;
  std::uint8_t xi_opcode_ = 0;
  bool pointer_resting_ = false;  // raw motion selected, no polling
  SteadyClock::time_point next_screen_poll_{};  // "xcb-getimage": the whole screen is compared this often
  std::int64_t pointer_polls_ = 0;

  ScreenCopy screen_copy_;  // "xcb-getimage": the previous full read
  std::vector<std::uint8_t> scratch_;
  std::int64_t last_grab_pixels_ = 0;
  std::vector<Rect> last_rects_;
};

Status X11Capture::check_connection() const {
  if (const int err = xcb_connection_has_error(conn_.get()); err != 0)
    return fail(Errc::unavailable, "connection to X display '" + options_.display + "' lost (xcb error " +
                                       std::to_string(err) + ")");
  return {};
}

// A read of the root fails when a rectangle lies outside it: that is a resize
// (reported as reinit). Anything else is an error worth reporting.
Status X11Capture::read_failed(std::string_view what, const xcb_generic_error_t* err) {
  if (auto st = check_connection(); !st) return st;
  const int w = width_, h = height_;
  if (auto st = query_geometry(); !st) return st;
  if (w != width_ || h != height_) {
    width_ = w;  // reinit() adopts the new size
    height_ = h;
    size_changed_ = true;
    return {};
  }
  return fail(Errc::unavailable, err != nullptr ? x_error_text(what, err) : std::string(what) + ": no reply");
}

Status X11Capture::open() {
  int screen_number = 0;
  conn_.reset(xcb_connect(options_.display.empty() ? nullptr : options_.display.c_str(), &screen_number));
  if (xcb_connection_has_error(conn_.get()) != 0)
    return fail(Errc::unavailable, "cannot open X display '" + options_.display + "'");
  const xcb_setup_t* setup = xcb_get_setup(conn_.get());
  xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
  for (int i = 0; i < screen_number && it.rem > 0; ++i) xcb_screen_next(&it);
  if (it.rem == 0) return fail(Errc::unavailable, "X display '" + options_.display + "' has no screen " + std::to_string(screen_number));
  const xcb_screen_t* screen = it.data;
  root_ = screen->root;

  // We convert 32-bit little-endian BGRX only: say so instead of recording garbage.
  bool format_ok = false;
  for (auto f = xcb_setup_pixmap_formats_iterator(setup); f.rem > 0; xcb_format_next(&f))
    if (f.data->depth == screen->root_depth) format_ok = f.data->bits_per_pixel == 32;
  const xcb_visualtype_t* visual = nullptr;
  for (auto d = xcb_screen_allowed_depths_iterator(screen); d.rem > 0 && visual == nullptr; xcb_depth_next(&d))
    for (auto v = xcb_depth_visuals_iterator(d.data); v.rem > 0; xcb_visualtype_next(&v))
      if (v.data->visual_id == screen->root_visual) visual = v.data;
  if (!format_ok || visual == nullptr || setup->image_byte_order != XCB_IMAGE_ORDER_LSB_FIRST ||
      visual->red_mask != 0xff0000 || visual->green_mask != 0xff00 || visual->blue_mask != 0xff)
    return fail(Errc::unavailable, "X display '" + options_.display + "': unsupported pixel format (depth " +
                                       std::to_string(screen->root_depth) + "); need 24/32-bit BGRX");

  xcb_prefetch_extension_data(conn_.get(), &xcb_shm_id);
  xcb_prefetch_extension_data(conn_.get(), &xcb_damage_id);
  xcb_prefetch_extension_data(conn_.get(), &xcb_input_id);
  xcb_prefetch_extension_data(conn_.get(), &xcb_xfixes_id);
  xcb_prefetch_extension_data(conn_.get(), &xcb_randr_id);

  // XFixes is needed for damage regions and for the cursor image.
  if (const auto* ext = xcb_get_extension_data(conn_.get(), &xcb_xfixes_id); ext != nullptr && ext->present) {
    XcbXfixesQueryVersionReply v(xcb_xfixes_query_version_reply(conn_.get(), xcb_xfixes_query_version(conn_.get(), 4, 0), nullptr));
    if (v && v->major_version >= 2) {
      use_xfixes_ = true;
      xfixes_event_base_ = ext->first_event;
    }
  }
  if (const auto* ext = xcb_get_extension_data(conn_.get(), &xcb_damage_id);
      use_xfixes_ && ext != nullptr && ext->present) {
    XcbDamageQueryVersionReply v(xcb_damage_query_version_reply(conn_.get(), xcb_damage_query_version(conn_.get(), 1, 1), nullptr));
    if (v) {
      use_damage_ = true;
      damage_event_base_ = ext->first_event;
    }
  }
  if (options_.backend == BackendChoice::best) {
    if (const auto* ext = xcb_get_extension_data(conn_.get(), &xcb_shm_id); ext != nullptr && ext->present) {
      XcbShmQueryVersionReply v(xcb_shm_query_version_reply(conn_.get(), xcb_shm_query_version(conn_.get()), nullptr));
      use_shm_ = static_cast<bool>(v);
    }
  }
  if (const auto* ext = xcb_get_extension_data(conn_.get(), &xcb_randr_id); ext != nullptr && ext->present) {
    XcbRandrQueryVersionReply v(xcb_randr_query_version_reply(conn_.get(), xcb_randr_query_version(conn_.get(), 1, 2), nullptr));
    if (v) {
      use_randr_ = true;
      randr_event_base_ = ext->first_event;
      xcb_randr_select_input(conn_.get(), root_, XCB_RANDR_NOTIFY_MASK_SCREEN_CHANGE);
    }
  }
  // The root's own ConfigureNotify covers servers without RandR events.
  const std::uint32_t mask = XCB_EVENT_MASK_STRUCTURE_NOTIFY;
  xcb_change_window_attributes(conn_.get(), root_, XCB_CW_EVENT_MASK, &mask);

  if (use_damage_) {
    damage_ = xcb_generate_id(conn_.get());
    region_ = xcb_generate_id(conn_.get());
    xcb_xfixes_create_region(conn_.get(), region_, 0, nullptr);
    XcbErrorPtr err(xcb_request_check(
        conn_.get(), xcb_damage_create_checked(conn_.get(), damage_, root_, XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY)));
    if (err) use_damage_ = false;
  }
  if (use_xfixes_ && options_.draw_cursor)
    xcb_xfixes_select_cursor_input(conn_.get(), root_, XCB_XFIXES_CURSOR_NOTIFY_MASK_DISPLAY_CURSOR);
  // XInput 2.2 (raw events whatever grabs are active): pointer motion
  // without polling while the pointer rests.
  if (const auto* ext = xcb_get_extension_data(conn_.get(), &xcb_input_id);
      options_.draw_cursor && ext != nullptr && ext->present) {
    XcbReply<xcb_input_xi_query_version_reply_t> v(
        xcb_input_xi_query_version_reply(conn_.get(), xcb_input_xi_query_version(conn_.get(), 2, 2), nullptr));
    if (v && (v->major_version > 2 || (v->major_version == 2 && v->minor_version >= 2))) {
      use_xi2_ = true;
      xi_opcode_ = ext->major_opcode;
    }
  }

  if (auto st = query_geometry(); !st) return st;
  if (use_shm_) {
    if (auto st = setup_shm(); !st) use_shm_ = false;  // e.g. a remote server: fall back to get_image
  }
  return check_connection();
}

Status X11Capture::query_geometry() {
  XcbErrorPtr err;
  xcb_generic_error_t* raw = nullptr;
  XcbGetGeometryReply g(xcb_get_geometry_reply(conn_.get(), xcb_get_geometry(conn_.get(), root_), &raw));
  err.reset(raw);
  if (!g) return fail(Errc::unavailable, err ? x_error_text("get root geometry", err.get()) : "get root geometry: no reply");
  if (g->width == 0 || g->height == 0) return fail(Errc::unavailable, "root window has no area");
  width_ = g->width;
  height_ = g->height;
  return {};
}

Status X11Capture::setup_shm() {
  detach_shm();
  // The largest read is the whole screen; width/height are 16-bit so this cannot overflow.
  const std::size_t bytes = static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_) * 4;
  auto seg = ShmSegment::create(bytes);
  if (!seg) return std::unexpected(seg.error());
  const xcb_shm_seg_t id = xcb_generate_id(conn_.get());
  XcbErrorPtr err(xcb_request_check(conn_.get(), xcb_shm_attach_checked(conn_.get(), id, static_cast<std::uint32_t>(seg->id()), 0)));
  if (err) return fail(Errc::unavailable, x_error_text("MIT-SHM attach", err.get()));
  // Both sides are attached: from now on nobody else can attach by id, and the
  // kernel frees the segment when the last of us detaches.
  if (auto st = seg->mark_removed(); !st) {
    xcb_shm_detach(conn_.get(), id);
    return st;
  }
  shm_ = std::move(*seg);
  shmseg_ = id;
  return {};
}

void X11Capture::detach_shm() {
  if (shmseg_ != XCB_NONE && conn_ && xcb_connection_has_error(conn_.get()) == 0) {
    xcb_shm_detach(conn_.get(), shmseg_);
    xcb_flush(conn_.get());
  }
  shmseg_ = XCB_NONE;
  shm_.reset();
}

void X11Capture::drain_events() {
  while (XcbEventPtr ev{xcb_poll_for_event(conn_.get())}) {
    const std::uint8_t type = ev->response_type & 0x7f;
    if (type == 0) continue;  // an async error (e.g. a read racing a resize): the next grab retries
    // The server stamps an event with the last request of ours it had run.
    const auto stale = [&](std::uint32_t seq) { return static_cast<std::int32_t>(ev->full_sequence - seq) < 0; };
    if (use_damage_ && type == damage_event_base_ + XCB_DAMAGE_NOTIFY) {
      if (!stale(subtract_seq_)) damage_pending_ = true;
    } else if (use_xfixes_ && type == xfixes_event_base_ + XCB_XFIXES_CURSOR_NOTIFY) {
      if (!stale(cursor_seq_)) cursor_image_changed_ = true;
    } else if (use_randr_ && type == randr_event_base_ + XCB_RANDR_SCREEN_CHANGE_NOTIFY) {
      const auto* e = reinterpret_cast<const xcb_randr_screen_change_notify_event_t*>(ev.get());
      // The size is given in the rotation's frame; the root geometry is what we read.
      const bool rotated = (e->rotation & (XCB_RANDR_ROTATION_ROTATE_90 | XCB_RANDR_ROTATION_ROTATE_270)) != 0;
      const int w = rotated ? e->height : e->width;
      const int h = rotated ? e->width : e->height;
      if (w != width_ || h != height_) size_changed_ = true;
    } else if (type == XCB_CONFIGURE_NOTIFY) {
      const auto* e = reinterpret_cast<const xcb_configure_notify_event_t*>(ev.get());
      if (e->window == root_ && (e->width != width_ || e->height != height_)) size_changed_ = true;
    } else if (use_xi2_ && type == XCB_GE_GENERIC) {
      const auto* e = reinterpret_cast<const xcb_ge_generic_event_t*>(ev.get());
      if (e->extension == xi_opcode_ && e->event_type == XCB_INPUT_RAW_MOTION && pointer_resting_) {
        // The pointer moves: poll it from now on (the first poll at once)
        // instead of waking for every motion event.
        select_raw_motion(false);
        next_pointer_poll_ = {};
      }
    }
  }
}

void X11Capture::select_raw_motion(bool on) {
  struct {
    xcb_input_event_mask_t head;
    std::uint32_t mask;
  } m{{XCB_INPUT_DEVICE_ALL, 1}, on ? std::uint32_t{XCB_INPUT_XI_EVENT_MASK_RAW_MOTION} : 0u};
  xcb_input_xi_select_events(conn_.get(), root_, 1, &m.head);
  pointer_resting_ = on;
}

Result<bool> X11Capture::pointer_tick(SteadyClock::time_point now) {
  if (pointer_resting_ || now < next_pointer_poll_) return false;
  next_pointer_poll_ = now + options_.cursor_poll_interval;
  const bool was_moving = cursor_moved_;
  cursor_moved_ = false;
  if (auto st = poll_pointer(); !st) return std::unexpected(st.error());
  const bool moved = cursor_moved_;
  cursor_moved_ = cursor_moved_ || was_moving;
  if (use_xi2_ && !moved) {
    // At rest since the last poll: watch for motion instead. The poll after
    // the selection (one round trip for both) sees a move that came before
    // it; any later one arrives as an event.
    select_raw_motion(true);
    cursor_moved_ = false;
    if (auto st = poll_pointer(); !st) return std::unexpected(st.error());
    if (cursor_moved_) select_raw_motion(false);
    cursor_moved_ = cursor_moved_ || was_moving;
  }
  return true;
}

Status X11Capture::poll_pointer() {
  ++pointer_polls_;
  XcbQueryPointerReply p(xcb_query_pointer_reply(conn_.get(), xcb_query_pointer(conn_.get(), root_), nullptr));
  if (!p) return check_connection();
  note_pointer(*p);
  return {};
}

void X11Capture::note_pointer(const xcb_query_pointer_reply_t& p) {
  const bool on = p.same_screen != 0;
  if (on != pointer_on_screen_ || p.root_x != pointer_x_ || p.root_y != pointer_y_) {
    pointer_on_screen_ = on;
    pointer_x_ = p.root_x;
    pointer_y_ = p.root_y;
    cursor_moved_ = true;
  }
}

Status X11Capture::fetch_cursor_image() {
  cursor_image_changed_ = false;
  const auto cookie = xcb_xfixes_get_cursor_image(conn_.get());
  cursor_seq_ = cookie.sequence;
  XcbXfixesCursorImageReply c(xcb_xfixes_get_cursor_image_reply(conn_.get(), cookie, nullptr));
  if (!c) {
    cursor_w_ = cursor_h_ = 0;
    return check_connection();
  }
  const int n = xcb_xfixes_get_cursor_image_cursor_image_length(c.get());
  if (c->width > kMaxCursorSide || c->height > kMaxCursorSide || n != c->width * c->height) {
    cursor_w_ = cursor_h_ = 0;  // malformed: record without a cursor rather than read out of bounds
    return {};
  }
  const std::uint32_t* px = xcb_xfixes_get_cursor_image_cursor_image(c.get());
  cursor_pixels_.assign(px, px + n);
  cursor_w_ = c->width;
  cursor_h_ = c->height;
  cursor_hot_x_ = c->xhot;
  cursor_hot_y_ = c->yhot;
  return {};
}

Rect X11Capture::cursor_rect() const {
  if (!options_.draw_cursor || !pointer_on_screen_ || cursor_w_ == 0) return {};
  return intersect({pointer_x_ - cursor_hot_x_, pointer_y_ - cursor_hot_y_, cursor_w_, cursor_h_}, {0, 0, width_, height_});
}

void X11Capture::blend_cursor(std::uint8_t* bgra, int stride, const Rect& r) const {
  if (!options_.draw_cursor || !pointer_on_screen_ || cursor_w_ == 0) return;
  const int cx = pointer_x_ - cursor_hot_x_;
  const int cy = pointer_y_ - cursor_hot_y_;
  const Rect hit = intersect(r, {cx, cy, cursor_w_, cursor_h_});
  for (int y = hit.y; y < hit.y + hit.height; ++y) {
    const std::uint32_t* src = cursor_pixels_.data() + static_cast<std::size_t>(y - cy) * cursor_w_ + (hit.x - cx);
    std::uint8_t* dst = bgra + static_cast<std::size_t>(y - r.y) * stride + static_cast<std::size_t>(hit.x - r.x) * 4;
    for (int x = 0; x < hit.width; ++x, ++src, dst += 4) {
      const std::uint32_t p = *src;  // premultiplied: out = cursor + screen * (1 - alpha)
      const std::uint32_t inv = 255 - (p >> 24);
      dst[0] = static_cast<std::uint8_t>((p & 0xff) + (dst[0] * inv + 127) / 255);
      dst[1] = static_cast<std::uint8_t>(((p >> 8) & 0xff) + (dst[1] * inv + 127) / 255);
      dst[2] = static_cast<std::uint8_t>(((p >> 16) & 0xff) + (dst[2] * inv + 127) / 255);
    }
  }
}

Status X11Capture::poll_screen() {
  // No XDamage: read everything and compare with the last read.
  XcbGetImageReply img(xcb_get_image_reply(
      conn_.get(),
      xcb_get_image(conn_.get(), XCB_IMAGE_FORMAT_Z_PIXMAP, root_, 0, 0, static_cast<std::uint16_t>(width_),
                    static_cast<std::uint16_t>(height_), ~0u),
      nullptr));
  if (!img) return read_failed("get_image", nullptr);
  const std::size_t row = static_cast<std::size_t>(width_) * 4;
  const std::size_t bytes = row * static_cast<std::size_t>(height_);
  if (static_cast<std::size_t>(xcb_get_image_data_length(img.get())) < bytes)
    return fail(Errc::corrupt, "X get_image returned fewer bytes than the screen holds");
  screen_copy_.update(xcb_get_image_data(img.get()), width_, height_);
  return {};
}

Result<CaptureStatus> X11Capture::wait(SteadyClock::time_point deadline, WaitFor until, const Wakeup* interrupt) {
  const int interrupt_fd = interrupt != nullptr ? interrupt->native() : -1;
  for (;;) {
    auto now = SteadyClock::now();
    if (options_.draw_cursor) {
      if (auto st = pointer_tick(now); !st) return std::unexpected(st.error());
    }
    if (!use_damage_ && now >= next_screen_poll_) {
      next_screen_poll_ = now + options_.cursor_poll_interval;
      if (auto st = poll_screen(); !st) return std::unexpected(st.error());
    }
    drain_events();
    if (auto st = check_connection(); !st) return std::unexpected(st.error());
    if (size_changed_) return CaptureStatus::reinit;
    if (until == WaitFor::change && changed()) return CaptureStatus::ok;
    now = SteadyClock::now();
    if (now >= deadline) return changed() ? CaptureStatus::ok : CaptureStatus::timeout;

    auto wake = deadline;
    if (options_.draw_cursor && !pointer_resting_) wake = std::min(wake, next_pointer_poll_);
    if (!use_damage_) wake = std::min(wake, next_screen_poll_);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    xcb_flush(conn_.get());
    pollfd fds[2] = {{xcb_get_file_descriptor(conn_.get()), POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
    const int n = ::poll(fds, interrupt_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<long long>(ms, 0, 60'000)));
    if (n < 0 && errno != EINTR) return fail(Errc::internal, errno_message("poll", errno));
    if (interrupt_fd >= 0 && (fds[1].revents & POLLIN) != 0) return CaptureStatus::interrupted;
  }
}

Status X11Capture::read_rects_shm(const std::vector<Rect>& rects, const I420View& frame) {
  // Requests are pipelined: each rectangle lands at its own offset of the
  // segment, and the replies are awaited together.
  struct Pending {
    Rect rect;
    std::size_t offset;
    xcb_shm_get_image_cookie_t cookie;
  };
  std::vector<Pending> pending;
  auto collect = [&]() -> Status {
    Status result;
    for (const auto& p : pending) {
      xcb_generic_error_t* raw = nullptr;
      XcbShmGetImageReply reply(xcb_shm_get_image_reply(conn_.get(), p.cookie, &raw));
      XcbErrorPtr err(raw);
      if (!reply) {
        if (result) result = read_failed("MIT-SHM get_image", err.get());
        continue;
      }
      std::uint8_t* px = shm_.data() + p.offset;
      blend_cursor(px, p.rect.width * 4, p.rect);
      bgra_to_i420(px, p.rect.width * 4, p.rect, frame);
    }
    pending.clear();
    return result;
  };
  std::size_t offset = 0;
  for (const auto& r : rects) {
    const std::size_t bytes = static_cast<std::size_t>(r.width) * static_cast<std::size_t>(r.height) * 4;
    if (offset + bytes > shm_.size()) {
      if (auto st = collect(); !st) return st;
      offset = 0;
    }
    pending.push_back({r, offset,
                       xcb_shm_get_image(conn_.get(), root_, static_cast<std::int16_t>(r.x), static_cast<std::int16_t>(r.y),
                                         static_cast<std::uint16_t>(r.width), static_cast<std::uint16_t>(r.height), ~0u,
                                         XCB_IMAGE_FORMAT_Z_PIXMAP, shmseg_, static_cast<std::uint32_t>(offset))});
    offset += (bytes + 63) & ~std::size_t{63};
  }
  return collect();
}

Status X11Capture::read_rects_getimage(const std::vector<Rect>& rects, const I420View& frame) {
  for (const auto& r : rects) {
    xcb_generic_error_t* raw = nullptr;
    XcbGetImageReply img(xcb_get_image_reply(
        conn_.get(),
        xcb_get_image(conn_.get(), XCB_IMAGE_FORMAT_Z_PIXMAP, root_, static_cast<std::int16_t>(r.x),
                      static_cast<std::int16_t>(r.y), static_cast<std::uint16_t>(r.width),
                      static_cast<std::uint16_t>(r.height), ~0u),
        &raw));
    XcbErrorPtr err(raw);
    if (!img) return read_failed("get_image", err.get());
    const std::size_t bytes = static_cast<std::size_t>(r.width) * static_cast<std::size_t>(r.height) * 4;
    if (static_cast<std::size_t>(xcb_get_image_data_length(img.get())) < bytes)
      return fail(Errc::corrupt, "X get_image returned fewer bytes than requested");
    std::uint8_t* px = xcb_get_image_data(img.get());
    blend_cursor(px, r.width * 4, r);
    bgra_to_i420(px, r.width * 4, r, frame);
  }
  return {};
}

Status X11Capture::read_rects_polled(const std::vector<Rect>& rects, const I420View& frame) {
  const std::size_t row = static_cast<std::size_t>(width_) * 4;
  if (screen_copy_.empty())
    return fail(Errc::internal, "no screen read to convert from");
  for (const auto& r : rects) {
    const std::size_t out_row = static_cast<std::size_t>(r.width) * 4;
    scratch_.resize(out_row * static_cast<std::size_t>(r.height));
    for (int y = 0; y < r.height; ++y)
      std::memcpy(scratch_.data() + y * out_row, screen_copy_.data() + (r.y + y) * row + static_cast<std::size_t>(r.x) * 4, out_row);
    blend_cursor(scratch_.data(), r.width * 4, r);
    bgra_to_i420(scratch_.data(), r.width * 4, r, frame);
  }
  return {};
}

Result<CaptureStatus> X11Capture::grab(const I420View& frame) {
  drain_events();
  if (size_changed_) return CaptureStatus::reinit;
  if (auto st = check_grab_picture(frame, width_, height_); !st) return std::unexpected(st.error());
  if (!use_damage_) {
    // Convert from a read made now, not from the last tick's.
    if (auto st = poll_screen(); !st) return std::unexpected(st.error());
    if (size_changed_) return CaptureStatus::reinit;
  }
  // A resting pointer moved by a program (XWarpPointer: no input device, so
  // no raw motion) is seen here, at the next screen change; the query rides
  // on the damage round trip below.
  std::optional<xcb_query_pointer_cookie_t> pointer_query;
  if (pointer_resting_) {
    ++pointer_polls_;
    pointer_query = xcb_query_pointer(conn_.get(), root_);
  }
  std::vector<Rect> rects;
  if (damage_pending_ || full_refresh_) {
    damage_pending_ = false;
    if (use_damage_) {
      // Take the accumulated damage and reset it in one request; new damage
      // after this point raises a fresh notify.
      subtract_seq_ = xcb_damage_subtract(conn_.get(), damage_, XCB_NONE, region_).sequence;
      XcbXfixesFetchRegionReply reg(
          xcb_xfixes_fetch_region_reply(conn_.get(), xcb_xfixes_fetch_region(conn_.get(), region_), nullptr));
      if (!reg) {
        if (auto st = check_connection(); !st) return std::unexpected(st.error());
      } else if (!full_refresh_) {
        const xcb_rectangle_t* r = xcb_xfixes_fetch_region_rectangles(reg.get());
        const int n = xcb_xfixes_fetch_region_rectangles_length(reg.get());
        for (int i = 0; i < n; ++i) rects.push_back({r[i].x, r[i].y, r[i].width, r[i].height});
      }
    }
  }
  if (pointer_query) {
    XcbQueryPointerReply p(xcb_query_pointer_reply(conn_.get(), *pointer_query, nullptr));
    if (!p) {
      if (auto st = check_connection(); !st) return std::unexpected(st.error());
    } else {
      note_pointer(*p);
    }
  }
  if (full_refresh_) rects.assign(1, {0, 0, width_, height_});
  for (const Rect& dirty : screen_copy_.take_dirty()) rects.push_back(dirty);

  if (options_.draw_cursor) {
    if (cursor_image_changed_ && use_xfixes_) {
      if (auto st = fetch_cursor_image(); !st) return std::unexpected(st.error());
      cursor_moved_ = true;
    }
    cursor_image_changed_ = false;
    if (cursor_moved_) {
      // Repaint where the cursor was (from the screen, which has no cursor)
      // and where it is now.
      const Rect now = cursor_rect();
      if (drawn_cursor_.width > 0) rects.push_back(drawn_cursor_);
      if (now.width > 0) rects.push_back(now);
      drawn_cursor_ = now;
    }
  }
  cursor_image_changed_ = false;
  cursor_moved_ = false;
  full_refresh_ = false;

  std::vector<Rect> aligned;
  aligned.reserve(rects.size());
  for (const auto& r : rects)
    if (const Rect a = even_aligned(r, width_, height_); a.width > 0) aligned.push_back(a);
  if (aligned.size() > kMaxRects) {
    int x0 = width_, y0 = height_, x1 = 0, y1 = 0;
    for (const auto& r : aligned) {
      x0 = std::min(x0, r.x);
      y0 = std::min(y0, r.y);
      x1 = std::max(x1, r.x + r.width);
      y1 = std::max(y1, r.y + r.height);
    }
    aligned.assign(1, {x0, y0, x1 - x0, y1 - y0});
  }

  Status st;
  if (!use_damage_) {
    st = read_rects_polled(aligned, frame);
  } else if (use_shm_) {
    st = read_rects_shm(aligned, frame);
  } else {
    st = read_rects_getimage(aligned, frame);
  }
  if (!st) return std::unexpected(st.error());
  if (size_changed_) return CaptureStatus::reinit;
  last_grab_pixels_ = 0;
  for (const auto& r : aligned) last_grab_pixels_ += static_cast<std::int64_t>(r.width) * r.height;
  last_rects_ = std::move(aligned);
  return last_rects_.empty() ? CaptureStatus::timeout : CaptureStatus::ok;
}

Status X11Capture::reinit() {
  drain_events();
  if (auto st = query_geometry(); !st) return st;
  size_changed_ = false;
  if (use_shm_) {
    if (auto st = setup_shm(); !st) return st;
  }
  screen_copy_.clear();
  full_refresh_ = true;
  drawn_cursor_ = {};
  cursor_moved_ = true;
  return check_connection();
}

}  // namespace

Result<std::unique_ptr<ScreenCapture>> open_x11_capture(const CaptureOptions& options) {
  auto capture = std::make_unique<X11Capture>(options);
  if (auto st = capture->open(); !st) return std::unexpected(st.error());
  return capture;
}

Result<std::unique_ptr<ScreenCapture>> open_screen_capture(const CaptureOptions& options) {
  return open_x11_capture(options);
}

}  // namespace deskaudit::capture
