#pragma once
// Activity events (docs/api.md, "Activity events"): what happened on the
// desktop at a media time of a recording, and the events document an agent
// uploads beside each segment. This is the one definition of the event types,
// their fields and limits; the server refuses any document that breaks them.
//
// Privacy: events carry window titles, application classes, process names
// and pids, never keystrokes, clipboard contents or command lines.
// Pure values and functions; thread-safe.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace deskaudit::events {

// The documents' "format" values. Version 1 spells every event as an object
// with named fields; version 2 (what agents write since) is the same
// information packed: each event an array [dt, code, fields...] with its time
// as a delta, one-letter type codes, and an app.exit that can refer to its
// app.start in the same document (docs/api.md, "The events document").
// The server accepts both; what it stores and hashes is the bytes uploaded.
inline constexpr std::string_view kDocumentFormatV1 = "deskaudit-events/1";
inline constexpr std::string_view kDocumentFormatV2 = "deskaudit-events/2";
// Limits of one document (one segment's events).
inline constexpr std::size_t kMaxDocumentBytes = 1u << 20;
inline constexpr std::size_t kMaxEventsPerDocument = 20'000;
// Bytes of UTF-8 in each text field.
inline constexpr std::size_t kMaxTitleBytes = 512;
inline constexpr std::size_t kMaxAppBytes = 128;
inline constexpr std::size_t kMaxProcessBytes = 64;
// The largest media time (ms) and the ranges of the numbers.
inline constexpr std::int64_t kMaxTimeMs = 1'000'000'000'000;  // ~31 years of recording
inline constexpr std::int64_t kMaxPid = 4'194'304;             // Linux PID_MAX_LIMIT
inline constexpr std::int64_t kMaxScreenSide = 32'768;

// Every event type, as the wire names it.
inline constexpr std::array<std::string_view, 13> kEventTypes = {
    "window", "app.start", "app.exit", "idle", "active", "lock", "unlock", "session.connect", "session.disconnect",
    "recording.pause", "recording.resume", "resolution", "trigger"};
bool is_event_type(std::string_view type);

struct Event {
  std::int64_t t_ms = 0;  // media time on the recording's clock
  std::string type;       // one of kEventTypes
  std::optional<std::string> title;    // window
  std::optional<std::string> app;      // window (WM_CLASS class)
  std::optional<std::string> process;  // window, app.start, app.exit
  std::optional<std::int64_t> pid;     // window, app.start, app.exit
  std::optional<std::int64_t> width;   // resolution
  std::optional<std::int64_t> height;  // resolution
  bool operator==(const Event&) const = default;
};

struct Document {
  std::string recording_id;
  std::int64_t seq = 0;
  std::vector<Event> events;  // t_ms non-decreasing
};

// Parses and checks a document as uploaded for (recording_id, seq), of
// either version: unprocessable naming the first bad field as a JSON path
// ("events[17].t_ms", "events[4][2]", "format", "seq"), too_large over
// kMaxDocumentBytes. Checks: the format,
// recording_id and seq equal to the upload's, at most kMaxEventsPerDocument
// events, each an object with an integer t_ms in 0..kMaxTimeMs not below the
// previous event's, a known type, only the fields of its type (unknown
// fields are refused), strings valid UTF-8 without control characters and
// within their limits, pid 1..kMaxPid, width and height 1..kMaxScreenSide.
Result<Document> parse_document(std::string_view bytes, std::string_view recording_id, std::int64_t seq);

// The document as JSON in version 1 (what parse_document accepts).
nlohmann::json to_json(const Document& document);
// The document as JSON in version 2 (what parse_document accepts and reads
// back equal): events must be as parse_document returns them (t_ms
// non-decreasing within 0..kMaxTimeMs).
nlohmann::json to_json_v2(const Document& document);
// One event of a version 2 document: `prev_t_ms` the previous event's t_ms
// (0 for the first); `exit_refers` writes an app.exit as [dt, "x", pid], which
// stands for the process of the latest earlier app.start of that pid in the
// document (the caller checks that it is the same; the event needs a pid).
nlohmann::json to_json_v2(const Event& event, std::int64_t prev_t_ms, bool exit_refers = false);
// One event's fields as JSON: t_ms, type and the fields it has.
nlohmann::json to_json(const Event& event);

}  // namespace deskaudit::events
