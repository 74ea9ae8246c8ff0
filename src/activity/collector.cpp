#include "activity/collector.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>
#include <xcb/screensaver.h>

#include "capture/xcb_ptr.hpp"
#include "activity/idle.hpp"
#include "activity/processes.hpp"

namespace deskaudit::activity {
namespace {

using Clock = std::chrono::steady_clock;
using capture::XcbConnectionPtr;
using capture::XcbEventPtr;
using capture::XcbReply;

std::int64_t ns_of(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SteadyTime time_of_ns(std::int64_t ns) {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

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

}  // namespace

struct Collector::Impl {
  CollectorOptions options;
  UniqueFd stop_fd;
  UniqueFd wake_fd;  // re-plan the idle check: a screen change while idle, a new idle_after
  std::atomic<bool> wake_on_screen_change{false};
  std::thread thread;
  mutable std::mutex mu;
  std::vector<Event> events;
  ActivityState state;
  std::atomic<std::int64_t> screen_change_ns{0};
  std::atomic<std::int64_t> idle_after_ms{30000};
  std::string sources;
  bool stopped = false;
  std::atomic<std::int64_t> final_cpu_ns{-1};

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

  void wake() {
    const std::uint64_t one = 1;
    if (::write(wake_fd.get(), &one, sizeof one) < 0) {
      // Fails only when the counter would overflow: a wakeup is pending anyway.
    }
  }

  void push(Event e) {
    if (options.on_event) options.on_event(e);
    std::lock_guard lock(mu);
    if (e.type == EventType::window) {
      state.app = e.app;
      state.title = e.title;
      state.process = e.process;
    }
    events.push_back(std::move(e));
  }
  void set_processes(std::vector<std::string> names) {
    std::lock_guard lock(mu);
    state.processes = std::move(names);
  }
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

  // Milliseconds since the last input, from the screen saver extension.
  std::optional<std::int64_t> input_idle_ms() {
    XcbReply<xcb_screensaver_query_info_reply_t> r(
        xcb_screensaver_query_info_reply(conn.get(), xcb_screensaver_query_info(conn.get(), root), nullptr));
    if (!r) return std::nullopt;
    return r->ms_since_user_input;
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
        Event e;
        e.at = now;
        e.type = EventType::resolution;
        e.width = w;
        e.height = h;
        push(std::move(e));
      }
    }
  }
};

Collector::Collector(CollectorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->idle_after_ms = impl_->options.idle_after.count();
}

Collector::~Collector() { stop(); }

bool collector_available() { return true; }

Result<std::unique_ptr<Collector>> Collector::start(CollectorOptions options) {
  if (options.idle_after.count() < 1000 || options.scan_interval.count() < 10 ||
      options.idle_check_interval.count() < 10) {
    return fail(Errc::invalid_argument, "idle_after below 1 s, or a scan or check interval below 10 ms");
  }
  std::unique_ptr<Collector> c(new Collector(std::move(options)));
  c->impl_->stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  c->impl_->wake_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!c->impl_->stop_fd || !c->impl_->wake_fd) return fail(Errc::internal, errno_message("eventfd", errno));
  c->impl_->screen_change_ns = ns_of(Clock::now());
  auto& impl = *c->impl_;
  const bool x = impl.open_x();
  std::string s;
  if (x) s = std::string("windows, idle(") + (impl.have_screensaver ? "input+screen" : "screen") + ")" +
             (impl.have_screensaver ? ", lock" : "") + (impl.randr_event != 0 ? ", resolution" : "");
  if (impl.options.uid) s += std::string(s.empty() ? "" : ", ") + "apps";
  impl.sources = s.empty() ? "none" : s;
  if (!x && !impl.options.display.empty()) {
    spdlog::warn("activity events: cannot open display {}: no window, idle or lock events", impl.options.display);
  }
  c->impl_->thread = std::thread([p = c.get()] { p->run(); });
  return c;
}

void Collector::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  if (impl_->thread.joinable()) {
    const std::uint64_t one = 1;
    if (::write(impl_->stop_fd.get(), &one, sizeof one) < 0) {
      // An eventfd write fails only on overflow, which one write cannot cause.
    }
    impl_->thread.join();
  }
}

void Collector::add(Event event) { impl_->push(std::move(event)); }

void Collector::note_screen_change(SteadyTime t) {
  const auto ns = ns_of(t);
  auto cur = impl_->screen_change_ns.load(std::memory_order_relaxed);
  while (ns > cur && !impl_->screen_change_ns.compare_exchange_weak(cur, ns, std::memory_order_relaxed)) {
  }
  if (impl_->wake_on_screen_change.load(std::memory_order_relaxed) && impl_->wake_on_screen_change.exchange(false))
    impl_->wake();
}

void Collector::set_idle_after(std::chrono::milliseconds idle_after) {
  impl_->idle_after_ms = idle_after.count();
  impl_->wake();
}

std::string Collector::sources() const { return impl_->sources; }

std::chrono::nanoseconds Collector::cpu_time() const {
  if (const auto f = impl_->final_cpu_ns.load(); f >= 0) return std::chrono::nanoseconds(f);
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped || !impl_->thread.joinable()) return std::chrono::nanoseconds(0);
  clockid_t id{};
  timespec ts{};
  if (::pthread_getcpuclockid(impl_->thread.native_handle(), &id) != 0 || ::clock_gettime(id, &ts) != 0) {
    return std::chrono::nanoseconds(0);
  }
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

std::vector<TimedEvent> Collector::take(const MediaClock& media_of, std::int64_t start_ms,
                                        std::optional<std::int64_t> end_ms) {
  std::vector<TimedEvent> out;
  std::lock_guard lock(impl_->mu);
  auto& all = impl_->events;
  std::vector<Event> keep;
  for (auto& e : all) {
    const std::int64_t t = std::max(start_ms, media_of(e.at).value_or(start_ms));
    if (end_ms && t >= *end_ms) {
      keep.push_back(std::move(e));
    } else {
      out.push_back(TimedEvent{t, std::move(e)});
    }
  }
  all = std::move(keep);
  return out;
}

void Collector::drop_before(SteadyTime t) {
  std::lock_guard lock(impl_->mu);
  std::erase_if(impl_->events, [&](const Event& e) { return e.at < t; });
}

ActivityState Collector::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

void Collector::run() {
  auto& im = *impl_;
  std::optional<ProcessWatcher> procs;
  if (im.options.uid) {
    procs.emplace(ProcessWatcherOptions{*im.options.uid, std::max(kAppMinLifetime, im.options.scan_interval)});
  }
  IdleTracker idle(std::chrono::milliseconds(im.idle_after_ms.load()));
  std::vector<Event> batch;
  auto next_scan = Clock::now();
  auto next_idle = Clock::now() + std::chrono::milliseconds(im.idle_after_ms.load());
  if (im.conn) {
    // The window in front when recording starts.
    im.follow_active(Clock::now());
    xcb_flush(im.conn.get());
  }
  for (;;) {
    auto now = Clock::now();
    if (procs && now >= next_scan) {
      procs->scan(now, batch);
      im.push_all(batch);
      im.set_processes(procs->running_names());
      next_scan = now + im.options.scan_interval;
    }
    if (now >= next_idle) {
      const auto idle_after = std::chrono::milliseconds(im.idle_after_ms.load());
      idle.set_idle_after(idle_after);
      // Asked for before the screen's last change is read: a change after
      // this point wakes us.
      im.wake_on_screen_change = idle.idle();
      SteadyTime last = time_of_ns(im.screen_change_ns.load());
      if (im.conn && im.have_screensaver) {
        if (auto ms = im.input_idle_ms()) last = std::max(last, now - std::chrono::milliseconds(*ms));
      }
      if (auto change = idle.update(now, last)) {
        Event e;
        e.at = change->at;
        e.type = change->type;
        im.push(std::move(e));
      }
      if (idle.idle()) {
        im.wake_on_screen_change = true;
        // Input is only seen by asking; without the extension, only a
        // screen change (which wakes us) ends idleness.
        next_idle = im.conn && im.have_screensaver ? now + im.options.idle_check_interval : SteadyTime::max();
        if (time_of_ns(im.screen_change_ns.load()) > last) next_idle = now;  // changed while we decided
      } else {
        im.wake_on_screen_change = false;
        // Nothing can make us idle before idle_after has passed since the
        // last activity; a later activity moves that on (checked then).
        next_idle = std::max(idle.next_check(last), now + std::chrono::milliseconds(10));
      }
    }
    if (im.conn) {
      // Round trips above (and in handle) read the socket while waiting for
      // their replies, so events can already sit in xcb's queue, where poll()
      // on the socket cannot see them: handle those before sleeping.
      while (XcbEventPtr ev{xcb_poll_for_queued_event(im.conn.get())}) im.handle(ev.get(), now);
      xcb_flush(im.conn.get());
    }
    const auto wake = procs ? std::min(next_scan, next_idle) : next_idle;
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
    const int timeout_ms = wake == SteadyTime::max() ? -1 : static_cast<int>(std::clamp<std::int64_t>(wait_ms, 0, 3'600'000));
    pollfd fds[4] = {{im.stop_fd.get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}, {im.wake_fd.get(), POLLIN, 0}};
    if (im.conn) fds[1].fd = xcb_get_file_descriptor(im.conn.get());
    if (procs) fds[2].fd = procs->fd();
    if (::poll(fds, 4, timeout_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;
    now = Clock::now();
    if ((fds[3].revents & POLLIN) != 0) {
      std::uint64_t n = 0;
      if (::read(im.wake_fd.get(), &n, sizeof n) < 0) {
        // EAGAIN: already read; nothing else can fail on an eventfd.
      }
      next_idle = now;
    }
    if (procs && (fds[2].revents & POLLIN) != 0) {
      procs->reap(now, batch);
      im.push_all(batch);
      im.set_processes(procs->running_names());
    }
    if (im.conn) {
      while (XcbEventPtr ev{xcb_poll_for_event(im.conn.get())}) im.handle(ev.get(), now);
      if (xcb_connection_has_error(im.conn.get()) != 0) {
        spdlog::warn("activity events: the X connection to {} closed", im.options.display);
        im.conn.reset();
      } else {
        xcb_flush(im.conn.get());
      }
    }
  }
  timespec ts{};
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
    im.final_cpu_ns = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
}

}  // namespace deskaudit::activity
