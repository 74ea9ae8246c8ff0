#include "activity/collector.hpp"

#include <algorithm>

#include "activity/idle.hpp"
#include "activity/sources.hpp"

namespace deskaudit::activity {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ns_of(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SteadyTime time_of_ns(std::int64_t ns) {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

struct Collector::Impl final : EventSink {
  CollectorOptions options;
  std::optional<Wakeup> stop_signal;
  std::optional<Wakeup> wake_signal;  // re-plan the idle check: a screen change while idle, a new idle_after
  std::atomic<bool> wake_on_screen_change{false};
  std::unique_ptr<Sources> sources;
  std::string sources_text;
  std::thread thread;
  mutable std::mutex mu;
  std::vector<Event> events;
  ActivityState state;
  ThreadCpuClock cpu;  // the thread's once it runs, under mu
  std::atomic<std::int64_t> screen_change_ns{0};
  std::atomic<std::int64_t> idle_after_ms{30000};
  bool stopped = false;
  std::atomic<std::int64_t> final_cpu_ns{-1};

  void push(Event e) override {
    if (options.on_event) options.on_event(e);
    std::lock_guard lock(mu);
    if (e.type == EventType::window) {
      state.app = e.app;
      state.title = e.title;
      state.process = e.process;
    }
    events.push_back(std::move(e));
  }
  void set_processes(std::vector<std::string> names) override {
    std::lock_guard lock(mu);
    state.processes = std::move(names);
  }
};

Collector::Collector(CollectorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->idle_after_ms = impl_->options.idle_after.count();
}

Collector::~Collector() { stop(); }

Result<std::unique_ptr<Collector>> Collector::start(CollectorOptions options) {
  if (options.idle_after.count() < 1000 || options.scan_interval.count() < 10 ||
      options.idle_check_interval.count() < 10) {
    return fail(Errc::invalid_argument, "idle_after below 1 s, or a scan or check interval below 10 ms");
  }
  std::unique_ptr<Collector> c(new Collector(std::move(options)));
  auto& im = *c->impl_;
  auto stop_signal = Wakeup::create();
  if (!stop_signal) return std::unexpected(stop_signal.error());
  auto wake_signal = Wakeup::create();
  if (!wake_signal) return std::unexpected(wake_signal.error());
  im.stop_signal.emplace(std::move(*stop_signal));
  im.wake_signal.emplace(std::move(*wake_signal));
  im.screen_change_ns = ns_of(Clock::now());
  im.sources = Sources::open(im.options);
  im.sources_text = im.sources->describe();
  im.thread = std::thread([p = c.get()] { p->run(); });
  return c;
}

void Collector::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  if (impl_->thread.joinable()) {
    impl_->stop_signal->signal();
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
    impl_->wake_signal->signal();
}

void Collector::set_idle_after(std::chrono::milliseconds idle_after) {
  impl_->idle_after_ms = idle_after.count();
  impl_->wake_signal->signal();
}

std::string Collector::sources() const { return impl_->sources_text; }

std::chrono::nanoseconds Collector::cpu_time() const {
  if (const auto f = impl_->final_cpu_ns.load(); f >= 0) return std::chrono::nanoseconds(f);
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped || !impl_->cpu) return std::chrono::nanoseconds(0);
  return impl_->cpu();
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
  {
    std::lock_guard lock(im.mu);
    im.cpu = this_thread_cpu_clock();
  }
  auto& src = *im.sources;
  IdleTracker idle(std::chrono::milliseconds(im.idle_after_ms.load()));
  auto next_idle = Clock::now() + std::chrono::milliseconds(im.idle_after_ms.load());
  src.begin(Clock::now(), im);
  for (;;) {
    auto now = Clock::now();
    const SteadyTime next_tick = src.tick(now);
    if (now >= next_idle) {
      const auto idle_after = std::chrono::milliseconds(im.idle_after_ms.load());
      idle.set_idle_after(idle_after);
      // Asked for before the screen's last change is read: a change after
      // this point wakes us.
      im.wake_on_screen_change = idle.idle();
      SteadyTime last = time_of_ns(im.screen_change_ns.load());
      const auto input_ms = src.input_idle_ms();
      if (input_ms) last = std::max(last, now - std::chrono::milliseconds(*input_ms));
      if (auto change = idle.update(now, last)) {
        Event e;
        e.at = change->at;
        e.type = change->type;
        im.push(std::move(e));
      }
      if (idle.idle()) {
        im.wake_on_screen_change = true;
        // Input is only seen by asking; without it, only a screen change
        // (which wakes us) ends idleness.
        next_idle = src.has_input_idle() ? now + im.options.idle_check_interval : SteadyTime::max();
        if (time_of_ns(im.screen_change_ns.load()) > last) next_idle = now;  // changed while we decided
      } else {
        im.wake_on_screen_change = false;
        // Nothing can make us idle before idle_after has passed since the
        // last activity; a later activity moves that on (checked then).
        next_idle = std::max(idle.next_check(last), now + std::chrono::milliseconds(10));
      }
    }
    const auto woken = src.wait(*im.stop_signal, *im.wake_signal, std::min(next_tick, next_idle));
    if (woken == Sources::Woken::stop) break;
    if (woken == Sources::Woken::wake) {
      im.wake_signal->reset();
      next_idle = Clock::now();
    }
  }
  im.final_cpu_ns = im.cpu().count();
}

}  // namespace deskaudit::activity
