#pragma once
// The server's manifest of a recording (docs/evidence.md): its metadata,
// every segment with its hash, size, media times, events digest and the
// agent's signature, and the agent public keys those signatures need. The
// manifest file is canonical JSON (manifest_json: object keys sorted, no
// whitespace, integers only, UTF-8 as is), and the server signs exactly its
// bytes with its Ed25519 key; manifest.sig holds that signature.
// Pure functions; thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "keys/key_service.hpp"

namespace deskaudit::evidence {

inline constexpr std::string_view kManifestFormat = "deskaudit-manifest/1";
inline constexpr std::string_view kManifestSignatureFormat = "deskaudit-manifest-signature/1";
inline constexpr std::string_view kKeysFormat = "deskaudit-keys/1";
// Names inside the evidence package.
inline constexpr std::string_view kRecordingFile = "recording.mp4";
inline constexpr std::string_view kManifestFile = "manifest.json";
inline constexpr std::string_view kManifestSigFile = "manifest.sig";
inline constexpr std::string_view kKeysFile = "keys.json";

struct ManifestSegment {
  std::int64_t seq = 0;
  std::string sha256;
  std::uint64_t size_bytes = 0;
  std::int64_t first_media_ms = 0;
  std::int64_t last_media_ms = 0;
  std::string events_sha256 = "-";  // as signed: "-" without an events document
  std::string agent_key_id;          // empty: unsigned (an agent that had no key)
  std::string agent_signature;       // base64
};

struct AgentKeyInfo {
  std::string key_id;
  std::string computer_id;
  std::string public_key;  // base64 of 32 bytes
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> retired_at_ms;
};

struct Manifest {
  std::string recording_id;
  std::string computer_id;
  std::string computer_name;
  std::optional<std::string> pool_id;
  std::optional<std::string> policy_id;
  std::string policy_name;
  std::string username;
  std::int64_t start_time_ms = 0;
  std::optional<std::int64_t> end_time_ms;
  std::string status;  // recording, complete, interrupted
  std::int64_t created_at_ms = 0;
  std::vector<ManifestSegment> segments;  // by seq
  std::vector<AgentKeyInfo> agent_keys;   // every key a segment names
};

// "segments/000003.m4s": the seq zero-padded to at least 6 digits.
std::string segment_file_name(std::int64_t seq);
// "events/000003.json": the segment's events document (same padding).
std::string events_file_name(std::int64_t seq);

// Canonical JSON text of the manifest (the signed bytes).
std::string manifest_json(const Manifest& manifest);
// Parses and checks a manifest (format, types, seq order, hash shapes);
// corrupt naming the field otherwise.
Result<Manifest> parse_manifest(std::string_view text);

// manifest.sig: {"algorithm":"ed25519","format":...,"key_id","signature"}.
std::string manifest_signature_json(const keys::Signature& signature);
Result<keys::Signature> parse_manifest_signature(std::string_view text);

// keys.json: the server's trusted public keys and the agent keys, for
// readers who want them in one place. Verification takes agent keys from
// the (signed) manifest and the server key from --server-key, or from here
// only when told to trust the package.
std::string keys_json(const keys::Keyring& server_keys, const std::vector<AgentKeyInfo>& agent_keys);
// The server keys of keys.json as a keyring; corrupt when malformed.
Result<keys::Keyring> parse_server_keys(std::string_view keys_json_text);

}  // namespace deskaudit::evidence
