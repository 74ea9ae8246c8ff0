#pragma once
// Offline verification of an unpacked evidence package (docs/evidence.md):
// no server, no credentials. Checks, in order:
//  1. manifest.sig over the exact bytes of manifest.json, with a server key
//     from the keyring file given (--server-key), else from keys.json (trust
//     on package: weaker, reported as a warning);
//  2. each manifest segment: segments/NNNNNN.m4s present, its size and
//     SHA-256 as listed, its media times as listed, and the agent's signature
//     over the signed statement with the agent key the manifest lists;
//     unsigned segments (agents without a key) are warnings; files under
//     segments/ the manifest does not list are failures;
//     events/NNNNNN.json, when present, must have the SHA-256 its segment's
//     signed events digest names; a missing one is a warning, one for a
//     segment without a digest is a failure;
//  3. recording.mp4 equals, byte for byte, the one-file MP4 rebuilt from
//     those segments in manifest order by the server's own assembler
//     (media::build_download_plan), only when every segment passed.
// Thread safety: none needed (pure over the files).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace deskaudit::evidence {

struct VerifyOptions {
  std::filesystem::path dir;
  std::optional<std::filesystem::path> server_key_file;  // keyring text (deskaudit audit keys -o)
};

// One named problem. code (docs/evidence.md): manifest_missing,
// manifest_invalid, manifest_signature_missing, manifest_signature_invalid,
// server_key_untrusted, keys_invalid, segment_missing, segment_size_mismatch,
// segment_hash_mismatch, segments_swapped, segment_extra,
// segment_media_invalid, segment_media_times_mismatch, agent_key_unknown,
// agent_signature_invalid, events_hash_mismatch,
// events_missing, events_extra, mp4_missing, mp4_mismatch, mp4_not_checked.
struct Finding {
  std::string code;
  std::string file;  // the file at fault, relative to the package ("" for none)
  std::string message;
};

struct VerifyReport {
  bool ok = false;                    // no failure
  bool trusted_on_package = false;    // the server key came from keys.json
  std::string server_key_id;
  std::string recording_id;
  std::int64_t segments = 0;
  std::int64_t unsigned_segments = 0;
  std::int64_t event_documents = 0;  // events documents checked
  std::uint64_t mp4_bytes = 0;
  std::vector<Finding> failures;
  std::vector<std::string> warnings;
};

// Errors only when the package cannot be judged at all (dir unreadable, the
// --server-key file missing or malformed): invalid_argument / io.
Result<VerifyReport> verify_package(const VerifyOptions& options);

nlohmann::json to_json(const VerifyReport& report);

}  // namespace deskaudit::evidence
