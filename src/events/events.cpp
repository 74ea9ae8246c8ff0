#include "events/events.hpp"

#include <algorithm>
#include <unordered_map>

#include "common/text.hpp"

namespace deskaudit::events {
namespace {

using Json = nlohmann::json;

enum class Field : unsigned { title = 1, app = 2, process = 4, pid = 8, width = 16, height = 32 };

constexpr unsigned operator|(Field a, Field b) { return static_cast<unsigned>(a) | static_cast<unsigned>(b); }
constexpr unsigned operator|(unsigned a, Field b) { return a | static_cast<unsigned>(b); }

// The optional fields each type may carry.
unsigned fields_of(std::string_view type) {
  if (type == "window") return Field::title | Field::app | Field::process | Field::pid;
  if (type == "app.start" || type == "app.exit") return Field::process | Field::pid;
  if (type == "resolution") return Field::width | Field::height;
  if (type == "trigger") return static_cast<unsigned>(Field::title);
  return 0;
}

std::unexpected<Error> bad(const std::string& path, const std::string& why) {
  return fail(Errc::unprocessable, path + " " + why, path);
}

// An integer within [min, max], whatever JSON number type holds it.
Result<std::int64_t> integer(const Json& j, const std::string& path, std::int64_t min, std::int64_t max) {
  const auto range = "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(max)) return bad(path, range);
    if (static_cast<std::int64_t>(v) < min) return bad(path, range);
    return static_cast<std::int64_t>(v);
  }
  if (!j.is_number_integer()) return bad(path, range);
  const auto v = j.get<std::int64_t>();
  if (v < min || v > max) return bad(path, range);
  return v;
}

Result<std::string> text(const Json& j, const std::string& path, std::size_t max_bytes) {
  if (!j.is_string()) return bad(path, "must be a string");
  const auto& s = j.get_ref<const std::string&>();
  if (!is_valid_utf8(s)) return bad(path, "must be valid UTF-8");
  if (s.size() > max_bytes) return bad(path, "must be at most " + std::to_string(max_bytes) + " bytes");
  if (std::ranges::any_of(s, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return bad(path, "must not contain control characters");
  }
  return s;
}

Result<Event> parse_event(const Json& j, const std::string& path) {
  if (!j.is_object()) return bad(path, "must be an object");
  Event e;
  const auto t = j.find("t_ms");
  if (t == j.end()) return bad(path + ".t_ms", "is required");
  auto t_ms = integer(*t, path + ".t_ms", 0, kMaxTimeMs);
  if (!t_ms) return std::unexpected(t_ms.error());
  e.t_ms = *t_ms;
  const auto type = j.find("type");
  if (type == j.end()) return bad(path + ".type", "is required");
  if (!type->is_string() || !is_event_type(type->get_ref<const std::string&>())) {
    std::string names;
    for (auto n : kEventTypes) names += (names.empty() ? "" : ", ") + std::string(n);
    return bad(path + ".type", "must be one of " + names);
  }
  e.type = type->get<std::string>();
  const unsigned allowed = fields_of(e.type);
  for (const auto& [key, value] : j.items()) {
    if (key == "t_ms" || key == "type") continue;
    const std::string at = path + "." + key;
    const auto field = [&](Field f) { return (allowed & static_cast<unsigned>(f)) != 0; };
    Result<std::string> s;
    if (key == "title" && field(Field::title)) {
      if (!(s = text(value, at, kMaxTitleBytes))) return std::unexpected(s.error());
      e.title = std::move(*s);
    } else if (key == "app" && field(Field::app)) {
      if (!(s = text(value, at, kMaxAppBytes))) return std::unexpected(s.error());
      e.app = std::move(*s);
    } else if (key == "process" && field(Field::process)) {
      if (!(s = text(value, at, kMaxProcessBytes))) return std::unexpected(s.error());
      e.process = std::move(*s);
    } else if ((key == "pid" && field(Field::pid)) || (key == "width" && field(Field::width)) ||
               (key == "height" && field(Field::height))) {
      auto v = integer(value, at, 1, key == "pid" ? kMaxPid : kMaxScreenSide);
      if (!v) return std::unexpected(v.error());
      (key == "pid" ? e.pid : key == "width" ? e.width : e.height) = *v;
    } else {
      return bad(at, "is not a field of a \"" + e.type + "\" event");
    }
  }
  return e;
}

// Version 2: each type's one-letter code and the fields it carries, in the
// order they follow the code.
struct Packed {
  std::string_view type;
  std::string_view code;
  std::array<std::string_view, 4> fields;  // empty: no more
};
constexpr std::array<Packed, 13> kPacked = {{
    {"window", "w", {"title", "app", "process", "pid"}},
    {"app.start", "s", {"process", "pid"}},
    {"app.exit", "x", {"process", "pid"}},
    {"idle", "i", {}},
    {"active", "a", {}},
    {"lock", "l", {}},
    {"unlock", "u", {}},
    {"session.connect", "c", {}},
    {"session.disconnect", "d", {}},
    {"recording.pause", "p", {}},
    {"recording.resume", "r", {}},
    {"resolution", "z", {"width", "height"}},
    {"trigger", "t", {"title"}},
}};

const Packed* packed_by_type(std::string_view type) {
  const auto it = std::ranges::find(kPacked, type, &Packed::type);
  return it == kPacked.end() ? nullptr : &*it;
}

std::size_t field_count(const Packed& p) {
  return static_cast<std::size_t>(std::ranges::count_if(p.fields, [](std::string_view f) { return !f.empty(); }));
}

// One field of an event, by its name; null JSON stands for absent.
Status set_field(Event& e, std::string_view name, const Json& value, const std::string& at) {
  if (value.is_null()) return {};
  Result<std::string> s;
  if (name == "title" || name == "app" || name == "process") {
    const std::size_t max = name == "title" ? kMaxTitleBytes : name == "app" ? kMaxAppBytes : kMaxProcessBytes;
    if (!(s = text(value, at, max))) return std::unexpected(s.error());
    (name == "title" ? e.title : name == "app" ? e.app : e.process) = std::move(*s);
    return {};
  }
  auto v = integer(value, at, 1, name == "pid" ? kMaxPid : kMaxScreenSide);
  if (!v) return std::unexpected(v.error());
  (name == "pid" ? e.pid : name == "width" ? e.width : e.height) = *v;
  return {};
}

Json get_field(const Event& e, std::string_view name) {
  const auto str = [](const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); };
  const auto num = [](const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
  if (name == "title") return str(e.title);
  if (name == "app") return str(e.app);
  if (name == "process") return str(e.process);
  if (name == "pid") return num(e.pid);
  if (name == "width") return num(e.width);
  return num(e.height);
}

// The process of the latest app.start of each pid so far in a document.
using Starts = std::unordered_map<std::int64_t, std::optional<std::string>>;

Result<Event> parse_packed(const Json& j, const std::string& path, std::int64_t prev_t_ms, Starts& starts) {
  if (!j.is_array() || j.size() < 2) return bad(path, "must be an array [dt, code, fields...]");
  auto dt = integer(j[0], path + "[0]", 0, kMaxTimeMs);
  if (!dt) return std::unexpected(dt.error());
  // prev_t_ms <= kMaxTimeMs and dt <= kMaxTimeMs: the sum cannot overflow.
  if (prev_t_ms + *dt > kMaxTimeMs) {
    return bad(path + "[0]", "puts the event after " + std::to_string(kMaxTimeMs) + " ms");
  }
  const auto& code = j[1];
  const auto it =
      code.is_string() ? std::ranges::find(kPacked, code.get_ref<const std::string&>(), &Packed::code) : kPacked.end();
  if (it == kPacked.end()) {
    std::string codes;
    for (const auto& p : kPacked) codes += (codes.empty() ? "" : ", ") + std::string(p.code);
    return bad(path + "[1]", "must be a type code, one of " + codes);
  }
  Event e;
  e.t_ms = prev_t_ms + *dt;
  e.type = std::string(it->type);
  if (it->type == "app.exit" && j.size() == 3 && (j[2].is_number_integer() || j[2].is_number_unsigned())) {
    // [dt, "x", pid]: the process of its app.start earlier in this document.
    auto pid = integer(j[2], path + "[2]", 1, kMaxPid);
    if (!pid) return std::unexpected(pid.error());
    const auto start = starts.find(*pid);
    if (start == starts.end()) {
      return bad(path + "[2]", "refers to no earlier app.start of pid " + std::to_string(*pid) + " in this document");
    }
    e.pid = *pid;
    e.process = start->second;
    return e;
  }
  const std::size_t n = field_count(*it);
  if (j.size() > 2 + n) {
    return bad(path, "has " + std::to_string(j.size() - 2) + " fields; a \"" + e.type + "\" event has at most " +
                         std::to_string(n));
  }
  for (std::size_t i = 2; i < j.size(); ++i) {
    if (auto st = set_field(e, it->fields[i - 2], j[i], path + "[" + std::to_string(i) + "]"); !st) {
      return std::unexpected(st.error());
    }
  }
  if (it->type == "app.start" && e.pid) starts[*e.pid] = e.process;
  return e;
}

Status check_header(const Json& j, std::string_view recording_id, std::int64_t seq) {
  const auto rec = j.find("recording_id");
  if (rec == j.end() || !rec->is_string() || rec->get_ref<const std::string&>() != recording_id) {
    return bad("recording_id", "must be the recording of the upload, \"" + std::string(recording_id) + "\"");
  }
  const auto sq = j.find("seq");
  if (sq == j.end() || !(sq->is_number_integer() || sq->is_number_unsigned()) || sq->get<std::int64_t>() != seq) {
    return bad("seq", "must be the segment number of the upload, " + std::to_string(seq));
  }
  return {};
}

}  // namespace

bool is_event_type(std::string_view type) { return std::ranges::find(kEventTypes, type) != kEventTypes.end(); }

Result<Document> parse_document(std::string_view bytes, std::string_view recording_id, std::int64_t seq) {
  if (bytes.size() > kMaxDocumentBytes) {
    return fail(Errc::too_large, "an events document is at most " + std::to_string(kMaxDocumentBytes) + " bytes");
  }
  const Json j = Json::parse(bytes, nullptr, false);
  if (j.is_discarded()) return fail(Errc::unprocessable, "the events document is not valid JSON", "body");
  if (!j.is_object()) return fail(Errc::unprocessable, "the events document must be a JSON object", "body");
  for (const auto& [key, value] : j.items()) {
    if (key.empty()) {
      // A member without a name: no field to name but the document.
      return fail(Errc::unprocessable, "the events document has a member with an empty name", "body");
    }
    if (key != "format" && key != "recording_id" && key != "seq" && key != "events") {
      return bad(key, "is not a field of an events document");
    }
  }
  const auto format = j.find("format");
  const bool v2 =
      format != j.end() && format->is_string() && format->get_ref<const std::string&>() == kDocumentFormatV2;
  if (!v2 &&
      (format == j.end() || !format->is_string() || format->get_ref<const std::string&>() != kDocumentFormatV1)) {
    return bad("format",
               "must be \"" + std::string(kDocumentFormatV2) + "\" or \"" + std::string(kDocumentFormatV1) + "\"");
  }
  if (auto st = check_header(j, recording_id, seq); !st) return std::unexpected(st.error());
  const auto list = j.find("events");
  if (list == j.end() || !list->is_array()) return bad("events", "must be an array");
  if (list->size() > kMaxEventsPerDocument) {
    return bad("events", "must hold at most " + std::to_string(kMaxEventsPerDocument) + " events");
  }
  Document doc{std::string(recording_id), seq, {}};
  doc.events.reserve(list->size());
  Starts starts;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = "events[" + std::to_string(i) + "]";
    const std::int64_t prev = doc.events.empty() ? 0 : doc.events.back().t_ms;
    auto e = v2 ? parse_packed((*list)[i], path, prev, starts) : parse_event((*list)[i], path);
    if (!e) return std::unexpected(e.error());
    if (!doc.events.empty() && e->t_ms < doc.events.back().t_ms) {
      return bad(path + ".t_ms", "must not be before the previous event's (" +
                                     std::to_string(doc.events.back().t_ms) + ")");
    }
    doc.events.push_back(std::move(*e));
  }
  return doc;
}

Json to_json(const Event& e) {
  Json j = {{"t_ms", e.t_ms}, {"type", e.type}};
  if (e.title) j["title"] = *e.title;
  if (e.app) j["app"] = *e.app;
  if (e.process) j["process"] = *e.process;
  if (e.pid) j["pid"] = *e.pid;
  if (e.width) j["width"] = *e.width;
  if (e.height) j["height"] = *e.height;
  return j;
}

Json to_json(const Document& d) {
  Json list = Json::array();
  for (const auto& e : d.events) list.push_back(to_json(e));
  return {{"format", kDocumentFormatV1}, {"recording_id", d.recording_id}, {"seq", d.seq}, {"events", std::move(list)}};
}

Json to_json_v2(const Event& e, std::int64_t prev_t_ms, bool exit_refers) {
  const Packed* p = packed_by_type(e.type);
  if (p == nullptr) p = &kPacked[0];  // not an event parse_document returns
  Json j = Json::array({e.t_ms - prev_t_ms, p->code});
  if (exit_refers && e.type == "app.exit" && e.pid) {
    j.push_back(*e.pid);
    return j;
  }
  const std::size_t n = field_count(*p);
  for (std::size_t i = 0; i < n; ++i) j.push_back(get_field(e, p->fields[i]));
  while (j.size() > 2 && j.back().is_null()) j.erase(j.size() - 1);  // absent trailing fields are left out
  return j;
}

Json to_json_v2(const Document& d) {
  Json list = Json::array();
  Starts starts;
  std::int64_t prev = 0;
  for (const auto& e : d.events) {
    const auto start = e.pid ? starts.find(*e.pid) : starts.end();
    const bool refers = e.type == "app.exit" && start != starts.end() && start->second == e.process;
    list.push_back(to_json_v2(e, prev, refers));
    if (e.type == "app.start" && e.pid) starts[*e.pid] = e.process;
    prev = e.t_ms;
  }
  return {{"format", kDocumentFormatV2}, {"recording_id", d.recording_id}, {"seq", d.seq}, {"events", std::move(list)}};
}

}  // namespace deskaudit::events
