#include "events/event.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace deskaudit::events {

using nlohmann::ordered_json;

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

ordered_json event_to_json(const Event& e, std::int64_t t_ms) {
  ordered_json j = {{"t_ms", std::max<std::int64_t>(0, t_ms)}, {"type", std::string(to_string(e.type))}};
  auto put = [&](const char* key, const std::string& value, std::size_t max) {
    if (!value.empty()) j[key] = clean_text(value, max);
  };
  put("title", e.title, kTitleMaxBytes);
  put("app", e.app, kAppMaxBytes);
  put("process", e.process, kProcessMaxBytes);
  if (e.pid) j["pid"] = *e.pid;
  if (e.width) j["width"] = *e.width;
  if (e.height) j["height"] = *e.height;
  return j;
}

Document build_document(std::int64_t seq, std::vector<TimedEvent> events) {
  std::ranges::stable_sort(events, {}, &TimedEvent::t_ms);
  ordered_json doc = {{"format", std::string(kDocumentFormat)}, {"seq", seq}, {"events", ordered_json::array()}};
  // The fixed part plus room for "recording_id" (rec- ids are short; 256 is
  // generous), then each event and its comma.
  std::size_t bytes = doc.dump().size() + 256;
  Document out;
  auto& list = doc["events"];
  for (const auto& te : events) {
    auto j = event_to_json(te.event, te.t_ms);
    const std::size_t size = j.dump().size() + 1;
    if (list.size() >= kDocumentMaxEvents || bytes + size > kDocumentMaxBytes) {
      ++out.dropped;
      continue;
    }
    bytes += size;
    list.push_back(std::move(j));
  }
  out.events = list.size();
  out.json = doc.dump();
  return out;
}

Result<std::string> with_recording_id(std::string_view document, const std::string& recording_id) {
  auto doc = ordered_json::parse(document, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != kDocumentFormat || !doc.contains("seq") ||
      !doc.contains("events")) {
    return fail(Errc::unprocessable, "not an events document");
  }
  ordered_json out = {{"format", doc["format"]}, {"recording_id", recording_id}, {"seq", doc["seq"]},
                      {"events", std::move(doc["events"])}};
  return out.dump();
}

}  // namespace deskaudit::events
