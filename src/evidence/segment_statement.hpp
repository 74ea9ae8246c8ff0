#pragma once
// The agent's signed statement about one segment upload, and its header.
//
// The signed bytes (docs/evidence.md) are nine lines, each ending in "\n":
//   deskaudit-segment/1
//   recording_id=<id>
//   computer_id=<id>
//   seq=<decimal>
//   sha256=<64 lowercase hex>
//   size=<decimal bytes>
//   first_media_ms=<decimal>
//   last_media_ms=<decimal>
//   events_sha256=<64 lowercase hex, or "-" without an events document>
// Ids are single key components ([A-Za-z0-9._-]) and the rest digits or hex,
// so no value can hold a newline or '='. The upload carries the signature as
//   X-Deskaudit-Signature: <key id>:<base64 of the 64-byte Ed25519 signature>
// Pure functions; thread-safe.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::evidence {

inline constexpr std::string_view kSegmentStatementTag = "deskaudit-segment/1";
inline constexpr std::string_view kSignatureHeader = "X-Deskaudit-Signature";
// From the events contract (docs: /work/helpers/events-contract.md, issue 13).
inline constexpr std::string_view kEventsHeader = "X-Deskaudit-Events-SHA256";
inline constexpr std::string_view kNoEvents = "-";

struct SegmentStatement {
  std::string recording_id;
  std::string computer_id;
  std::int64_t seq = 0;
  std::string sha256;
  std::uint64_t size_bytes = 0;
  std::int64_t first_media_ms = 0;
  std::int64_t last_media_ms = 0;
  std::string events_sha256 = std::string(kNoEvents);
};

// The exact bytes that are signed (above).
std::string signed_bytes(const SegmentStatement& statement);

// A segment's media times in ms, from its fragment index: first = the first
// fragment's tfdt, last = the end of the last fragment (its tfdt plus its
// sample durations); each ticks * 1000 / timescale rounded half up.
struct MediaTimes {
  std::int64_t first_ms = 0;
  std::int64_t last_ms = 0;
};
MediaTimes media_times(const media::FragmentIndex& index);

struct AgentSignature {
  std::string key_id;     // 16 lowercase hex
  std::string signature;  // standard base64 of 64 bytes
};
// "<key id>:<base64>" -> parts; invalid_argument naming the header when the
// shape is wrong (the signature itself is checked when verified).
Result<AgentSignature> parse_signature_header(std::string_view value);
std::string signature_header(const AgentSignature& signature);

// "-" or 64 lowercase hex digits.
bool is_events_digest(std::string_view text);

}  // namespace deskaudit::evidence
