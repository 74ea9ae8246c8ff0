#pragma once
// The agent's side of activity events: an event as collected (on the steady
// clock, a type enum), and the per-segment events document it writes, in the
// form and within the limits of the one definition, events/events.hpp
// (events::to_json_v2; the server checks uploads with events::parse_document).
// Privacy: an event names windows, applications and processes; it never holds
// keystrokes, clipboard contents or command lines (they can hold secrets).
// Pure values and functions; thread-safe.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "events/events.hpp"

namespace deskaudit::activity {

enum class EventType {
  window,              // the active window changed, or its title did
  app_start,           // a process of the session's user started
  app_exit,            // ... ended
  idle,                // an idle stretch began (stamped with the last activity)
  active,              // it ended
  lock,                // screen locked
  unlock,              // screen unlocked
  session_connect,     // the user session connected
  session_disconnect,  // ... disconnected
  recording_pause,
  recording_resume,
  resolution,          // the screen size changed
  trigger,             // events mode: what started the recording (title: which trigger matched what)
};
// The wire name (one of events::kEventTypes).
std::string_view to_string(EventType type);

using SteadyTime = std::chrono::steady_clock::time_point;

// An event as collected: stamped on the steady clock; t_ms (media time) is
// given when it is cut into a segment's document.
struct Event {
  SteadyTime at{};
  EventType type = EventType::window;
  std::string title;    // window
  std::string app;      // window: WM_CLASS class
  std::string process;  // window, app.*: comm
  std::optional<std::int64_t> pid;
  std::optional<int> width, height;  // resolution
};

// A resolution event: the screen is width x height from `at` on.
inline Event resolution_event(SteadyTime at, int width, int height) {
  Event e;
  e.at = at;
  e.type = EventType::resolution;
  e.width = width;
  e.height = height;
  return e;
}

// `text` as a document string: invalid UTF-8 replaced by U+FFFD, control
// characters (C0, DEL, C1) turned into spaces, cut on a character boundary to
// max_bytes.
std::string clean_text(std::string_view text, std::size_t max_bytes);

// The wire event at media time t_ms: strings cleaned and cut to their
// limits, empty ones left out.
events::Event wire_event(const Event& event, std::int64_t t_ms);

struct TimedEvent {
  std::int64_t t_ms = 0;
  Event event;
};

// The document of one segment as events::to_json_v2 writes it (format
// "deskaudit-events/2"), with an empty
// recording_id (the spool form: with_recording_id() sets it once the server
// named the recording). Events sorted by t_ms (stable), at most
// events::kMaxEventsPerDocument and events::kMaxDocumentBytes: beyond that
// the newest are left out (a title storm must not stop the upload), and
// `dropped` counts them.
struct Document {
  std::string json;
  std::size_t events = 0;
  std::size_t dropped = 0;
};
Document build_document(std::int64_t seq, std::vector<TimedEvent> events);

// The spool document with "recording_id" set, the bytes that are uploaded
// and hashed. Unprocessable when `document` is not one build_document() wrote
// (either version: a spool written by an older agent holds version 1).
Result<std::string> with_recording_id(std::string_view document, const std::string& recording_id);

}  // namespace deskaudit::activity
