#include "activity/document.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace deskaudit::activity {

std::string_view to_string(EventType type) {
  switch (type) {
    case EventType::window:
      return "window";
    case EventType::app_start:
      return "app.start";
    case EventType::app_exit:
      return "app.exit";
    case EventType::idle:
      return "idle";
    case EventType::active:
      return "active";
    case EventType::lock:
      return "lock";
    case EventType::unlock:
      return "unlock";
    case EventType::session_connect:
      return "session.connect";
    case EventType::session_disconnect:
      return "session.disconnect";
    case EventType::recording_pause:
      return "recording.pause";
    case EventType::recording_resume:
      return "recording.resume";
    case EventType::trigger:
      return "trigger";
    case EventType::resolution:
      return "resolution";
  }
  return "window";
}

std::string clean_text(std::string_view text, std::size_t max_bytes) {
  // Valid UTF-8 first (utf8_truncate replaces what is not), then control
  // characters: a title with a newline or an escape must not reach a log or
  // a terminal as such. C1 controls are U+0080..U+009F, encoded C2 80..C2 9F.
  std::string s = utf8_truncate(text, text.size() * 3);  // room for every byte as U+FFFD
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out += ' ';
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return utf8_truncate(out, max_bytes);
}

events::Event wire_event(const Event& e, std::int64_t t_ms) {
  events::Event w;
  w.t_ms = std::clamp<std::int64_t>(t_ms, 0, events::kMaxTimeMs);
  w.type = std::string(to_string(e.type));
  auto put = [](std::optional<std::string>& out, const std::string& value, std::size_t max) {
    if (!value.empty()) out = clean_text(value, max);
  };
  put(w.title, e.title, events::kMaxTitleBytes);
  put(w.app, e.app, events::kMaxAppBytes);
  put(w.process, e.process, events::kMaxProcessBytes);
  if (e.pid && *e.pid >= 1 && *e.pid <= events::kMaxPid) w.pid = *e.pid;
  if (e.width && *e.width >= 1 && *e.width <= events::kMaxScreenSide) w.width = *e.width;
  if (e.height && *e.height >= 1 && *e.height <= events::kMaxScreenSide) w.height = *e.height;
  return w;
}

Document build_document(std::int64_t seq, std::vector<TimedEvent> list) {
  std::ranges::stable_sort(list, {}, &TimedEvent::t_ms);
  events::Document doc{{}, seq, {}};
  // The fixed part plus room for the recording id (rec- ids are short; 256
  // is generous), then each event and its comma, counted in its full form
  // (an app.exit that refers to its start is shorter).
  std::size_t bytes = events::to_json_v2(doc).dump().size() + 256;
  Document out;
  for (const auto& te : list) {
    auto w = wire_event(te.event, te.t_ms);
    const std::int64_t prev = doc.events.empty() ? 0 : doc.events.back().t_ms;
    const std::size_t size = events::to_json_v2(w, prev).dump().size() + 1;
    if (doc.events.size() >= events::kMaxEventsPerDocument || bytes + size > events::kMaxDocumentBytes) {
      ++out.dropped;
      continue;
    }
    bytes += size;
    doc.events.push_back(std::move(w));
  }
  out.events = doc.events.size();
  out.json = events::to_json_v2(doc).dump();
  return out;
}

Result<std::string> with_recording_id(std::string_view document, const std::string& recording_id) {
  auto doc = nlohmann::json::parse(document, nullptr, false);
  const auto format = doc.is_object() ? doc.value("format", "") : std::string();
  if (doc.is_discarded() || !doc.is_object() ||
      (format != events::kDocumentFormatV2 && format != events::kDocumentFormatV1) || !doc.contains("seq") ||
      !doc.contains("events")) {
    return fail(Errc::unprocessable, "not an events document");
  }
  doc["recording_id"] = recording_id;
  return doc.dump();
}

}  // namespace deskaudit::activity
