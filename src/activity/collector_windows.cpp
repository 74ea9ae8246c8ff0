// The Windows agent collects no activity events yet: the sources of
// collector.cpp are X11 (EWMH windows, MIT-SCREEN-SAVER, RandR) and /proc.
// start() says so; the agent then records without events, and refuses
// event-triggered recording (which needs them). docs/windows.md.
#include "activity/collector.hpp"

namespace deskaudit::activity {

struct Collector::Impl {};

bool collector_available() { return false; }

Collector::Collector(CollectorOptions /*options*/) : impl_(std::make_unique<Impl>()) {}
Collector::~Collector() = default;

Result<std::unique_ptr<Collector>> Collector::start(CollectorOptions /*options*/) {
  return fail(Errc::unavailable,
              "activity events (windows, applications, idle, lock) are not collected by the Windows agent yet "
              "(docs/windows.md)");
}

// No Collector exists on Windows (start() fails): the members below are never reached.
void Collector::stop() {}
void Collector::add(Event /*event*/) {}
void Collector::note_screen_change(SteadyTime /*t*/) {}
void Collector::set_idle_after(std::chrono::milliseconds /*idle_after*/) {}
std::vector<TimedEvent> Collector::take(const MediaClock& /*media_of*/, std::int64_t /*start_ms*/,
                                        std::optional<std::int64_t> /*end_ms*/) {
  return {};
}
void Collector::drop_before(SteadyTime /*t*/) {}
ActivityState Collector::state() const { return {}; }
std::string Collector::sources() const { return "none"; }
std::chrono::nanoseconds Collector::cpu_time() const { return {}; }
void Collector::run() {}

}  // namespace deskaudit::activity
