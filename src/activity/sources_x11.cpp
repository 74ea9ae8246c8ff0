// The Linux sources of a Collector (sources.hpp): X11 (EWMH windows,
// MIT-SCREEN-SAVER, RandR) and /proc (ProcessWatcher), waited on with poll().
#include "activity/sources.hpp"

#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>
#include <xcb/screensaver.h>

#include "activity/processes.hpp"
#include "capture/xcb_ptr.hpp"

namespace deskaudit::activity {
namespace {

using Clock = std::chrono::steady_clock;
using capture::XcbConnectionPtr;
using capture::XcbEventPtr;
using capture::XcbReply;

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

std::string comm_of(std::int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

class X11Sources final : public Sources {
 public:
  explicit X11Sources(const CollectorOptions& o) : options(o) {}

  CollectorOptions options;
  EventSink* sink = nullptr;  // begin()'s
  std::optional<ProcessWatcher> procs;
  std::vector<Event> batch;
  SteadyTime next_scan{};

  // X state (the collector thread only).
  XcbConnectionPtr conn;
  xcb_window_t root = 0;
  xcb_atom_t net_active_window = 0, net_wm_name = 0, net_wm_pid = 0, utf8_string = 0;
  std::uint8_t screensaver_event = 0;  // first event of MIT-SCREEN-SAVER; 0: absent
  std::uint8_t randr_event = 0;
  bool have_screensaver = false;
  bool locked = false;
  xcb_window_t active = 0;
  std::string active_title;
  int width = 0, height = 0;

  void push(Event e) { sink->push(std::move(e)); }
  void push_all(std::vector<Event>& es) {
    for (auto& e : es) push(std::move(e));
    es.clear();
  }

  xcb_atom_t atom(const char* name) {
    XcbReply<xcb_intern_atom_reply_t> r(
        xcb_intern_atom_reply(conn.get(), xcb_intern_atom(conn.get(), 0, std::strlen(name), name), nullptr));
    return r ? r->atom : xcb_atom_t{XCB_ATOM_NONE};
  }

  // A property's bytes (at most max_bytes), and its type.
  std::optional<std::pair<std::string, xcb_atom_t>> property(xcb_window_t w, xcb_atom_t prop, xcb_atom_t type,
                                                             std::uint32_t max_bytes) {
    XcbReply<xcb_get_property_reply_t> r(xcb_get_property_reply(
        conn.get(), xcb_get_property(conn.get(), 0, w, prop, type, 0, (max_bytes + 3) / 4), nullptr));
    if (!r || r->type == XCB_ATOM_NONE) return std::nullopt;
    const auto len = static_cast<std::size_t>(xcb_get_property_value_length(r.get()));
    return std::pair{std::string(static_cast<const char*>(xcb_get_property_value(r.get())), len), r->type};
  }

  std::string title_of(xcb_window_t w) {
    // Room for the longest title kept plus a character being cut.
    constexpr std::uint32_t kMax = events::kMaxTitleBytes + 8;
    if (auto p = property(w, net_wm_name, utf8_string, kMax); p && !p->first.empty()) return p->first;
    if (auto p = property(w, XCB_ATOM_WM_NAME, xcb_atom_t{XCB_GET_PROPERTY_TYPE_ANY}, kMax)) {
      return p->second == utf8_string ? p->first : latin1_to_utf8(p->first);
    }
    return {};
  }

  void window_event(SteadyTime now) {
    Event e;
    e.at = now;
    e.type = EventType::window;
    e.title = active_title;
    if (auto p = property(active, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 512)) {
      // "instance\0class\0": the class names the application.
      const auto& v = p->first;
      const auto nul = v.find('\0');
      if (nul != std::string::npos) {
        const auto end = v.find('\0', nul + 1);
        e.app = latin1_to_utf8(v.substr(nul + 1, end == std::string::npos ? std::string::npos : end - nul - 1));
      }
    }
    if (auto p = property(active, net_wm_pid, XCB_ATOM_CARDINAL, 4); p && p->first.size() == 4) {
      std::uint32_t pid = 0;
      std::memcpy(&pid, p->first.data(), 4);
      if (pid > 0) {
        e.pid = pid;
        e.process = comm_of(pid);
      }
    }
    push(std::move(e));
  }

  void follow_active(SteadyTime now) {
    xcb_window_t w = 0;
    if (auto p = property(root, net_active_window, XCB_ATOM_WINDOW, 4); p && p->first.size() == 4) {
      std::memcpy(&w, p->first.data(), 4);
    }
    if (w == active) return;
    const std::uint32_t none = XCB_EVENT_MASK_NO_EVENT;
    // Structure too: once the window is destroyed its id may be handed to
    // another client's new window, which must not pass for the old one.
    const std::uint32_t props = XCB_EVENT_MASK_PROPERTY_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY;
    // Our own event mask on the window we leave; an error for a window
    // already gone arrives as an event and is ignored.
    if (active != 0) xcb_change_window_attributes(conn.get(), active, XCB_CW_EVENT_MASK, &none);
    active = w;
    active_title.clear();
    if (w == 0) return;  // nothing focused: the next window event says what comes
    xcb_change_window_attributes(conn.get(), w, XCB_CW_EVENT_MASK, &props);
    active_title = title_of(w);
    window_event(now);
  }

  void title_changed(SteadyTime now) {
    auto t = title_of(active);
    if (t == active_title) return;  // both _NET_WM_NAME and WM_NAME changed
    active_title = std::move(t);
    window_event(now);
  }

  bool open_x() {
    if (options.display.empty()) return false;
    int screen_no = 0;
    conn.reset(xcb_connect(options.display.c_str(), &screen_no));
    if (xcb_connection_has_error(conn.get()) != 0) {
      conn.reset();
      return false;
    }
    auto it = xcb_setup_roots_iterator(xcb_get_setup(conn.get()));
    for (int i = 0; i < screen_no && it.rem > 0; ++i) xcb_screen_next(&it);
    root = it.data->root;
    width = it.data->width_in_pixels;
    height = it.data->height_in_pixels;
    net_active_window = atom("_NET_ACTIVE_WINDOW");
    net_wm_name = atom("_NET_WM_NAME");
    net_wm_pid = atom("_NET_WM_PID");
    utf8_string = atom("UTF8_STRING");
    const std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_change_window_attributes(conn.get(), root, XCB_CW_EVENT_MASK, &mask);
    if (const auto* ext = xcb_get_extension_data(conn.get(), &xcb_screensaver_id); ext && ext->present) {
      screensaver_event = ext->first_event;
      have_screensaver = true;
      xcb_screensaver_select_input(conn.get(), root, XCB_SCREENSAVER_EVENT_NOTIFY_MASK);
    }
    if (const auto* ext = xcb_get_extension_data(conn.get(), &xcb_randr_id); ext && ext->present) {
      XcbReply<xcb_randr_query_version_reply_t> v(
          xcb_randr_query_version_reply(conn.get(), xcb_randr_query_version(conn.get(), 1, 2), nullptr));
      if (v) {
        randr_event = ext->first_event;
        xcb_randr_select_input(conn.get(), root, XCB_RANDR_NOTIFY_MASK_SCREEN_CHANGE);
      }
    }
    xcb_flush(conn.get());
    return true;
  }

  void handle(const xcb_generic_event_t* ev, SteadyTime now) {
    const std::uint8_t type = ev->response_type & 0x7f;
    if (type == XCB_PROPERTY_NOTIFY) {
      const auto* p = reinterpret_cast<const xcb_property_notify_event_t*>(ev);
      if (p->window == root && p->atom == net_active_window) {
        follow_active(now);
      } else if (p->window == active && active != 0 && (p->atom == net_wm_name || p->atom == XCB_ATOM_WM_NAME)) {
        title_changed(now);
      }
    } else if (type == XCB_DESTROY_NOTIFY) {
      const auto* d = reinterpret_cast<const xcb_destroy_notify_event_t*>(ev);
      if (d->window == active && active != 0) {
        // Gone: the next _NET_ACTIVE_WINDOW names a new window even if the
        // server reuses this id for it.
        active = 0;
        active_title.clear();
      }
    } else if (have_screensaver && type == screensaver_event + XCB_SCREENSAVER_NOTIFY) {
      const auto* s = reinterpret_cast<const xcb_screensaver_notify_event_t*>(ev);
      // An "off" also comes when a program resets the saver (a video
      // player starting): only the end of a lock is an unlock.
      if (s->state == XCB_SCREENSAVER_STATE_ON && !locked) {
        locked = true;
        push(Event{now, EventType::lock, {}, {}, {}, {}, {}, {}});
      } else if (s->state == XCB_SCREENSAVER_STATE_OFF && locked) {
        locked = false;
        push(Event{now, EventType::unlock, {}, {}, {}, {}, {}, {}});
      }
    } else if (randr_event != 0 && type == randr_event + XCB_RANDR_SCREEN_CHANGE_NOTIFY) {
      const auto* r = reinterpret_cast<const xcb_randr_screen_change_notify_event_t*>(ev);
      int w = r->width, h = r->height;
      if (r->rotation & (XCB_RANDR_ROTATION_ROTATE_90 | XCB_RANDR_ROTATION_ROTATE_270)) std::swap(w, h);
      if (w != width || h != height) {
        width = w;
        height = h;
        push(resolution_event(now, w, h));
      }
    }
  }

  std::string describe() const override {
    std::string s;
    if (conn) {
      s = std::string("windows, idle(") + (have_screensaver ? "input+screen" : "screen") + ")" +
          (have_screensaver ? ", lock" : "") + (randr_event != 0 ? ", resolution" : "");
    }
    if (options.uid) s += std::string(s.empty() ? "" : ", ") + "apps";
    return s.empty() ? "none" : s;
  }

  void begin(SteadyTime now, EventSink& s) override {
    sink = &s;
    if (options.uid) {
      procs.emplace(ProcessWatcherOptions{*options.uid, std::max(kAppMinLifetime, options.scan_interval)});
    }
    next_scan = now;
    if (conn) {
      // The window in front when recording starts.
      follow_active(now);
      xcb_flush(conn.get());
    }
  }

  SteadyTime tick(SteadyTime now) override {
    if (!procs) return SteadyTime::max();
    if (now >= next_scan) {
      procs->scan(now, batch);
      push_all(batch);
      sink->set_processes(procs->running_names());
      next_scan = now + options.scan_interval;
    }
    return next_scan;
  }

  bool has_input_idle() const override { return conn && have_screensaver; }

  // Milliseconds since the last input, from the screen saver extension.
  std::optional<std::int64_t> input_idle_ms() override {
    if (!has_input_idle()) return std::nullopt;
    XcbReply<xcb_screensaver_query_info_reply_t> r(
        xcb_screensaver_query_info_reply(conn.get(), xcb_screensaver_query_info(conn.get(), root), nullptr));
    if (!r) return std::nullopt;
    return r->ms_since_user_input;
  }

  Woken wait(const Wakeup& stop, const Wakeup& wake, SteadyTime deadline) override {
    auto now = Clock::now();
    if (conn) {
      // Round trips (in tick, input_idle_ms and handle) read the socket while
      // waiting for their replies, so events can already sit in xcb's queue,
      // where poll() on the socket cannot see them: handle those before
      // sleeping.
      while (XcbEventPtr ev{xcb_poll_for_queued_event(conn.get())}) handle(ev.get(), now);
      xcb_flush(conn.get());
    }
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int timeout_ms =
        deadline == SteadyTime::max() ? -1 : static_cast<int>(std::clamp<std::int64_t>(wait_ms, 0, 3'600'000));
    pollfd fds[4] = {{stop.native(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}, {wake.native(), POLLIN, 0}};
    if (conn) fds[1].fd = xcb_get_file_descriptor(conn.get());
    if (procs) fds[2].fd = procs->fd();
    if (::poll(fds, 4, timeout_ms) < 0 && errno != EINTR) {
      spdlog::warn("activity events: {}", errno_message("poll", errno));
      return Woken::stop;
    }
    if (fds[0].revents != 0) return Woken::stop;
    now = Clock::now();
    if (procs && (fds[2].revents & POLLIN) != 0) {
      procs->reap(now, batch);
      push_all(batch);
      sink->set_processes(procs->running_names());
    }
    if (conn) {
      while (XcbEventPtr ev{xcb_poll_for_event(conn.get())}) handle(ev.get(), now);
      if (xcb_connection_has_error(conn.get()) != 0) {
        spdlog::warn("activity events: the X connection to {} closed", options.display);
        conn.reset();
      } else {
        xcb_flush(conn.get());
      }
    }
    return (fds[3].revents & POLLIN) != 0 ? Woken::wake : Woken::deadline;
  }
};

}  // namespace

std::unique_ptr<Sources> Sources::open(const CollectorOptions& options) {
  auto s = std::make_unique<X11Sources>(options);
  if (!s->open_x() && !options.display.empty()) {
    spdlog::warn("activity events: cannot open display {}: no window, idle or lock events", options.display);
  }
  return s;
}

bool app_events_need_uid() { return true; }

ThreadCpuClock this_thread_cpu_clock() {
  clockid_t id{};
  if (::pthread_getcpuclockid(::pthread_self(), &id) != 0) return [] { return std::chrono::nanoseconds(0); };
  return [id] {
    timespec ts{};
    if (::clock_gettime(id, &ts) != 0) return std::chrono::nanoseconds(0);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
}

}  // namespace deskaudit::activity
