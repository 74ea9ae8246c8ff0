#pragma once
// The agent side: enrollment, heartbeats, policy delivery, recordings and
// the bookkeeping of segment uploads, and the silent-agent watchdog.
//
// What an agent may not bend: an agent touches only its own computer (a
// recording of another computer is not_found, exactly as a missing one); the
// server picks a recording's policy and retention; times ahead of the
// server's clock, uploads to finished recordings, more than
// max_open_recordings recent open recordings and more than
// upload_bytes_per_hour per computer are refused (the last two with
// too_many_requests and when to retry); text from agents is cut on
// character boundaries and held to the name rules.
//
// Segment bytes never pass through the service: the transport streams the
// body to a temp file while hashing it, and accept_segment gets the finished
// file, its size and its hash.
//
// Thread-safe as the catalog and object store are; the upload budget is kept
// in memory, per replica.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "media/fmp4.hpp"
#include "storage/object_store.hpp"
#include "common/rate_limit.hpp"
#include "common/time.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::service {

// The prefix of agent credentials (stored as sha256 hex).
inline constexpr std::string_view kAgentPrefix = "dag_";
// The oldest agent version the server supports (recording-status).
inline constexpr std::string_view kMinAgentVersion = "0.1.0";
// The highest segment number of a recording.
inline constexpr std::int64_t kMaxSegmentSeq = 10'000'000;

struct AgentSettings {
  std::int64_t offline_after_ms = 90'000;         // no heartbeat for longer: offline (silent)
  std::int64_t max_open_recordings = 32;          // recent open recordings per computer
  std::int64_t upload_bytes_per_hour = 8ll << 30;  // per computer, counted when admitted
};

// POST /agent/enroll, as sent: the service cuts and checks the text.
struct EnrollRequest {
  std::string enrollment_token;  // the secret
  std::string hostname;          // required
  std::string os;
  std::string agent_version;
  std::string name;  // empty: the hostname
  std::string public_key = {};  // the agent's Ed25519 public key (base64); empty from agents before evidence
};

struct Enrollment {
  catalog::Computer computer;
  std::string agent_token;  // the credential's secret, shown this once
};

// A heartbeat, as sent. capture and session: an object or null; set_aside:
// an array of objects or null (at most 20 kept, known fields only).
struct AgentReport {
  std::string agent_version;
  nlohmann::json capture;
  std::int64_t spool_bytes = 0;
  std::string last_error;
  nlohmann::json session;
  std::optional<std::int64_t> set_aside_count;
  nlohmann::json set_aside;
};

// The policy in force for the agent's computer, in the catalog's form, and
// the etag the heartbeat answers with ("none" without a policy; changes with
// the policy's source, id and version).
struct AgentPolicy {
  catalog::EffectivePolicy effective;
  std::string etag;
};

struct NewAgentRecording {
  std::string username;  // the session's user, required
  EpochMs start_time = 0;
};

struct FinishRequest {
  EpochMs end_time = 0;
  catalog::RecordingStatus status = catalog::RecordingStatus::complete;  // complete or interrupted
};

// A segment body already received whole into a private temp file.
struct ReceivedSegment {
  std::int64_t seq = 0;
  std::string claimed_sha256;  // what the agent said (X-Content-SHA256)
  std::string sha256;          // what arrived
  std::uint64_t size_bytes = 0;
  std::filesystem::path file;  // the caller removes it afterwards
  std::string object_key;      // where the object store keeps it (the storage layout)
  // X-Deskaudit-Events-SHA256: the segment's events document, uploaded
  // before it (EventService); absent for a segment without events.
  std::optional<std::string> events_sha256;
  // X-Deskaudit-Signature as sent (nullopt: absent): see docs/evidence.md.
  std::optional<std::string> signature = std::nullopt;
  // The segment's index (or why it has none) when the caller made it as the
  // body arrived (media::SegmentIndexer); nullopt: indexed from `file`.
  std::optional<Result<media::FragmentIndex>> index = std::nullopt;
  // Set when `file` holds what the store's encoder(object_key, size_bytes)
  // wrote (finished), not the segment's bytes: `index` must then be set.
  storage::ObjectEncoder* encoded_by = nullptr;
};

struct KeyRegistered {
  catalog::AgentKey key;
  bool inserted = false;  // false: it was the computer's current key already
};

struct SegmentAccepted {
  catalog::Segment segment;
  bool inserted = false;  // false: the same bytes were already stored
};

class AgentService {
 public:
  AgentService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
               std::shared_ptr<const Clock> clock, AgentSettings settings);

  // Enrolls with an enrollment token (no caller: the token is the
  // credential). unauthenticated for an unknown, revoked, expired or used-up
  // token; every attempt is audited (agent.enroll, agent.enroll_failed).
  // With a public key, it becomes the new computer's signing key
  // (invalid_argument when it is not the base64 of 32 bytes, conflict when
  // another computer registered it).
  Result<Enrollment> enroll(const EnrollRequest& request);
  // Makes public_key (base64 of 32 bytes) the agent's current signing key
  // and retires its others (they stay known for verification); audited as
  // agent.key_register when new. invalid_argument for a malformed key,
  // conflict for a key of another computer or a retired one.
  Result<KeyRegistered> register_key(const Caller& agent, std::string_view public_key_base64);
  // Stores the agent's report as its computer's state; returns the policy
  // the agent should hold (its etag tells the agent to fetch it).
  Result<AgentPolicy> heartbeat(const Caller& agent, const AgentReport& report);
  Result<AgentPolicy> policy(const Caller& agent);

  // Starts a recording of a user session with the policy in force now and
  // its retention (whatever policy the agent names is not asked for).
  Result<catalog::Recording> start_recording(const Caller& agent, const NewAgentRecording& recording);
  // Ends a recording; fixes its expiry (end time + retention).
  Result<catalog::Recording> finish_recording(const Caller& agent, std::string_view recording_id,
                                              const FinishRequest& finish);

  // Segment uploads, in three steps around the transport's streaming:
  // the agent's own recording (not_found otherwise) ...
  Result<catalog::Recording> own_recording(const Caller& agent, std::string_view recording_id);
  // ... admission of a body of claimed_bytes for segment seq: conflict when
  // the recording is finished; too_many_requests (with when to retry) when
  // the computer used its hourly upload budget. The bytes count against the
  // budget once admitted, whatever becomes of the body.
  Status admit_upload(const Caller& agent, const catalog::Recording& recording, std::int64_t seq,
                      std::uint64_t claimed_bytes);
  // ... then the received file: checked against the claimed hash and as a
  // fragmented MP4, its agent signature verified (below), stored (object
  // first, then the catalog row), idempotent by (recording, seq) with the
  // same bytes (and the same events document; a retry answers already
  // stored before any other check); conflict with other bytes.
  // events_missing when it names an events document the server does not
  // hold with that hash. The outcome is noted on the computer's upload
  // state.
  // Signature (docs/evidence.md): over evidence::signed_bytes() of the
  // recording, computer, seq, hash, size, the media times the server reads
  // from the segment and the events digest. Refused, with error.code:
  //   422 signature_malformed   the header is not <key id>:<base64>
  //   422 signature_missing     no header while the computer has a key
  //   422 signature_key_unknown a key id no computer registered
  //   403 signature_key_foreign a key of another computer
  //   403 signature_key_retired a key the computer replaced
  //   422 signature_invalid     the signature does not verify
  // Computers without any key (agents from before) are accepted unsigned.
  Result<SegmentAccepted> accept_segment(const Caller& agent, const catalog::Recording& recording,
                                         const ReceivedSegment& segment);

  // One pass of the silent-agent watchdog (run by one replica at a time):
  // audits agent.silent once per silence for computers silent during a
  // recorded session, and notes every silence seen. Returns how many it
  // audited.
  Result<int> note_silent_agents();

 private:
  Status check_open_recordings(const std::string& computer_id);
  Result<std::optional<catalog::AgentKey>> signing_key_of(const Caller& agent, const catalog::Recording& rec,
                                                          const ReceivedSegment& in);

  catalog::Catalog& catalog_;
  storage::ObjectStore& store_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  AgentSettings settings_;
  RateLimiter upload_bytes_;
};

// The reason code of a refused agent signature (signature_missing, ...; see
// accept_segment), which leads such an error's message ("<code>: ..."), or
// empty for any other error. The API answers it as error.code.
std::string_view signature_refusal(const Error& error);

// Why the computer should be recording while its agent is silent, or nullopt
// when it is reporting (heard within offline_after_ms of now), never
// reported, its policy records nothing, or it had no session and no open
// recording at its last heartbeat.
Result<std::optional<std::string>> silent_during_session(catalog::Catalog& catalog, const catalog::Computer& computer,
                                                         const catalog::EffectivePolicy& policy, EpochMs now,
                                                         std::int64_t offline_after_ms);

}  // namespace deskaudit::service
