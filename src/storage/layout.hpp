#pragma once
// Where a recording's objects live in the object store, defined once for
// every side that builds or lists such keys (segment upload, delete, the
// retention sweeper, migration and their tests):
//
//   recordings/<computer id>/<recording id>/               recording_prefix()
//   recordings/<computer id>/<recording id>/<seq, 6 digits or more>-<sha256[0,16)>.mp4
//                                                          segment_key()
//   recordings/<computer id>/<recording id>/<seq, 6 digits or more>-<sha256[0,16)>.events.json
//                                                          events_key()
//   recordings/<computer id>/<recording id>/manifest.json  manifest_key()
//   recordings/<computer id>/<recording id>/manifest.sig   manifest_signature_key()
//
// The prefix ends with '/', so listing one recording's prefix never reaches
// another's whose id merely starts the same way (rec-1 and rec-10). Ids must
// be single key components ([A-Za-z0-9._-], not "." or "..", at most 128
// bytes): a '/' in an id would let one recording's prefix cover another's.
// Every id the server mints (random_id(): "cc-"/"rec-" and 20 base32
// characters) qualifies. Keys of stored segments are kept in the catalog
// (Segment::object_key), so readers use those, never rebuild them.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace deskaudit::storage {

// invalid_argument naming the id when it is not a single key component.
Result<std::string> recording_prefix(std::string_view computer_id, std::string_view recording_id);

// A segment's object key: its prefix, then the zero-padded sequence number
// (keys sort in playing order) and the first 16 hex digits of its SHA-256
// (another upload of other bytes under the same seq gets another key).
// invalid_argument for a bad id, seq < 0 or a sha256 that is not 64
// lowercase hex digits.
Result<std::string> segment_key(std::string_view computer_id, std::string_view recording_id, std::int64_t seq,
                                std::string_view sha256);

// The key of a segment's events document (docs/api.md, "Activity events"):
// beside its segment, under the recording's prefix, so deleting the
// recording removes it. Same rules and errors as segment_key.
Result<std::string> events_key(std::string_view computer_id, std::string_view recording_id, std::int64_t seq,
                               std::string_view sha256);
// The recording's signed manifest (docs/evidence.md) and its signature,
// written when the recording finishes (or at its first export). Names that
// no segment key can take (segment keys start with digits).
Result<std::string> manifest_key(std::string_view computer_id, std::string_view recording_id);
Result<std::string> manifest_signature_key(std::string_view computer_id, std::string_view recording_id);

// The recording prefix a stored key lies under ("recordings/<computer
// id>/<recording id>/"), or "" when it lies under none.
std::string_view recording_prefix_of(std::string_view key);

}  // namespace deskaudit::storage
