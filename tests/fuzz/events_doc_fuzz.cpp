// Fuzz target: the events document an agent uploads beside a segment
// (PUT /api/v1/agent/recordings/{id}/segments/{seq}/events), from the raw
// bytes through events::parse_document, the check the server applies, for
// both versions of the document (deskaudit-events/1 and /2; seeds of each in
// corpus/events_doc).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/events.hpp"
#include "fuzz_check.hpp"

using namespace deskaudit;

namespace {

// Literal limits, not the codec's constants: a loosened codec must fail here.
bool text_ok(const std::optional<std::string>& s, std::size_t max_bytes) {
  if (!s) return true;
  if (s->size() > max_bytes) return false;
  for (unsigned char ch : *s) {
    if (ch < 0x20 || ch == 0x7f) return false;
  }
  try {
    (void)nlohmann::json(*s).dump();  // throws on invalid UTF-8
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = events::parse_document(bytes, "rec-fuzz", 3);
  if (!doc) {
    // Every refusal is 413 over a megabyte, otherwise a 422 naming the field.
    if (size > (1u << 20)) {
      FUZZ_CHECK(doc.error().code == Errc::too_large);
    } else {
      FUZZ_CHECK(doc.error().code == Errc::unprocessable);
      FUZZ_CHECK(!doc.error().field.empty() && !doc.error().message.empty());
    }
    return 0;
  }
  FUZZ_CHECK(size <= (1u << 20));
  FUZZ_CHECK(doc->recording_id == "rec-fuzz" && doc->seq == 3);
  FUZZ_CHECK(doc->events.size() <= 20'000);
  std::int64_t last = 0;
  for (const auto& e : doc->events) {
    FUZZ_CHECK(e.t_ms >= last && e.t_ms <= 1'000'000'000'000);
    last = e.t_ms;
    FUZZ_CHECK(events::is_event_type(e.type));
    FUZZ_CHECK(text_ok(e.title, 512) && text_ok(e.app, 128) && text_ok(e.process, 64));
    FUZZ_CHECK(!e.pid || (*e.pid >= 1 && *e.pid <= 4'194'304));
    FUZZ_CHECK(!e.width || (*e.width >= 1 && *e.width <= 32'768));
    FUZZ_CHECK(!e.height || (*e.height >= 1 && *e.height <= 32'768));
    FUZZ_CHECK(!e.title || e.type == "window" || e.type == "trigger");
  }
  // What the server stores and serves reads back to the same document, in
  // either version of the format (an accepted version 2 document is also the
  // same events as version 1, and the other way round).
  const auto again = events::parse_document(events::to_json(*doc).dump(), "rec-fuzz", 3);
  FUZZ_CHECK(again && again->events == doc->events);
  const auto again_v2 = events::parse_document(events::to_json_v2(*doc).dump(), "rec-fuzz", 3);
  FUZZ_CHECK(again_v2 && again_v2->events == doc->events);
  // Stored for another recording or segment, it is refused.
  FUZZ_CHECK(!events::parse_document(bytes, "rec-other", 3));
  FUZZ_CHECK(!events::parse_document(bytes, "rec-fuzz", 4));
  return 0;
}
