#pragma once
// Catalog records. Times are EpochMs (UTC milliseconds). Secrets are never
// stored in clear: tokens as SHA-256 hex of the token, passwords as argon2id.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/chain.hpp"
#include "common/time.hpp"
#include "events/events.hpp"
#include "policy/policy.hpp"

namespace deskaudit::catalog {

// The policy codec (src/policy) defines the rule; the catalog stores it.
using policy::RecordingMode;
using policy::RecordingRule;
using policy::recording_mode_from;
using policy::to_string;

enum class RecordingStatus { recording, complete, interrupted };
enum class PolicySource { none, computer, pool };
enum class TargetType { computer, pool };

std::string_view to_string(RecordingStatus);
std::string_view to_string(PolicySource);
std::string_view to_string(TargetType);
std::optional<RecordingStatus> recording_status_from(std::string_view);

struct Policy {
  std::string id;  // "pol-..."
  std::string name;
  RecordingRule recording;
  std::int64_t version = 1;  // bumped on every change; the agent's etag
  EpochMs created_at = 0;
  EpochMs updated_at = 0;
};

struct Pool {
  std::string id;  // "pool-..."
  std::string name;
  std::string description;
  EpochMs created_at = 0;
};

// What the agent last reported (heartbeat), stored as JSON text where noted.
struct AgentState {
  std::string agent_version;
  std::string capture_json = "null";  // {"backend","width","height","ok","error"}
  std::int64_t spool_bytes = 0;
  std::string last_error;
  std::string session_json = "null";  // current session or null
  std::string set_aside_json = "null";  // {"count", "items"}: recordings the server refused for good, or null
  EpochMs last_seen_at = 0;           // 0 = never
  EpochMs last_upload_at = 0;         // last accepted segment, 0 = never
  std::string last_upload_error;
  EpochMs last_session_at = 0;        // last time a user session started
};

struct Computer {
  std::string id;  // "cc-..."
  std::string name;
  std::string hostname;
  std::string os;
  std::optional<std::string> pool_id;
  bool enrolled = false;  // holds an agent credential
  EpochMs created_at = 0;
  AgentState agent;
};

struct EffectivePolicy {
  PolicySource source = PolicySource::none;
  std::optional<Policy> policy;  // absent when source == none
};

struct EnrollmentToken {
  std::string id;  // "enr-..."
  std::string token_sha256;
  std::optional<std::string> pool_id;  // enrolled computers join this pool
  std::optional<EpochMs> expires_at;
  std::optional<std::int64_t> max_uses;
  std::int64_t uses = 0;
  std::string created_by;  // user id
  EpochMs created_at = 0;
  bool revoked = false;
};

struct Recording {
  std::string id;  // "rec-..."
  std::string computer_id;
  std::string computer_name;          // joined from computers
  std::optional<std::string> pool_id; // the pool the computer was in when the recording was made
  std::optional<std::string> policy_id;
  std::string policy_name;            // snapshot at creation
  std::string username;
  EpochMs start_time = 0;
  std::optional<EpochMs> end_time;    // absent while recording
  RecordingStatus status = RecordingStatus::recording;
  std::int64_t size_bytes = 0;        // sum of segment sizes
  std::int64_t segment_count = 0;
  std::int64_t duration_ms = 0;       // sum of segment durations
  int retention_days = 30;            // snapshot of the policy at creation
  std::optional<EpochMs> expires_at;  // end_time + retention; set when finished
  bool legal_hold = false;
  EpochMs created_at = 0;
  // Set only by list_recordings with an event filter (app, window_title):
  // the media time of the recording's first matching event.
  std::optional<std::int64_t> first_match_ms;
};

struct Segment {
  std::string recording_id;
  std::int64_t seq = 0;               // 0, 1, 2, ...
  std::string object_key;
  std::int64_t size_bytes = 0;
  std::string sha256;                 // lowercase hex
  std::int64_t start_offset_ms = 0;   // from the recording's start
  std::int64_t duration_ms = 0;
  std::string index_json = "{}";      // media::FragmentIndex as JSON (for HLS/download)
  EpochMs created_at = 0;
  // The SHA-256 of the segment's events document, when it has one (the
  // document was stored with this hash before the segment).
  std::optional<std::string> events_sha256;
  // The agent's signature over the segment's statement (docs/evidence.md);
  // both empty for an unsigned segment (an agent that had no key).
  std::string signature_key_id = {};
  std::string signature = {};  // base64 of the 64-byte Ed25519 signature
};

// An agent's Ed25519 public key. Kept after its computer is deleted and
// after it is retired: recordings outlive both and stay verifiable.
struct AgentKey {
  std::string key_id;  // first 16 hex of SHA-256(public key)
  std::string computer_id;
  std::string public_key;  // base64 of 32 bytes
  EpochMs created_at = 0;
  std::optional<EpochMs> retired_at;  // set when a newer key of the computer replaced it
};

// A segment's events document as stored (the object at
// storage::events_key); its events are rows of their own.
struct EventDocument {
  std::string recording_id;
  std::int64_t seq = 0;
  std::string object_key;
  std::string sha256;  // lowercase hex of the document's bytes
  std::int64_t size_bytes = 0;
  std::int64_t event_count = 0;
  EpochMs created_at = 0;
};

// One activity event of a recording: (recording_id, seq, idx) names it,
// idx being its place in its segment's document.
struct RecordingEvent {
  std::string recording_id;
  std::int64_t seq = 0;
  std::int64_t idx = 0;
  events::Event event;
};

// An event found across recordings, with what the listing shows of its
// recording.
struct EventHit {
  RecordingEvent event;
  std::string computer_id;
  std::string computer_name;
  std::optional<std::string> pool_id;
  std::string username;
  EpochMs recording_start = 0;  // the event's wall time is recording_start + t_ms
};

struct User {
  std::string id;  // "usr-..."
  std::string username;
  std::string password_hash;  // argon2id string (crypto_pwhash_str)
  bool disabled = false;
  EpochMs created_at = 0;
  EpochMs password_changed_at = 0;
  std::int64_t failed_logins = 0;
  EpochMs locked_until = 0;
  // Set for a generated password: only changing it is allowed until then.
  bool must_change_password = false;
};

// How failed sign-ins lock an account: after max_failures in a row, each
// further failure locks it for base_ms << (failures - max_failures), at most
// max_ms.
struct LockoutRule {
  std::int64_t max_failures = 5;
  std::int64_t base_ms = 30'000;
  std::int64_t max_ms = 15 * 60'000;
};

// The lockout columns after a failed sign-in was counted.
struct LoginFailures {
  std::int64_t failed_logins = 0;
  EpochMs locked_until = 0;
};

// A computer that stopped sending heartbeats (see list_newly_silent).
struct SilentComputer {
  std::string computer_id;
  EpochMs last_seen_at = 0;
};

// A role: a named set of permissions ("policy:read", "recording:play", ...).
struct Role {
  std::string id;  // "role-..." or a built-in id such as "administrator"
  std::string name;
  std::string description;
  std::vector<std::string> permissions;
  bool builtin = false;
};

// A role granted to a user, optionally limited to pools/computers.
struct RoleGrant {
  std::string user_id;
  std::string role_id;
  std::optional<TargetType> scope_type;  // absent = everything
  std::optional<std::string> scope_id;
};

// Bearer credentials of administrators: console sessions and API tokens.
enum class TokenKind { session, api };
struct ApiToken {
  std::string id;  // "tok-..."
  std::string user_id;
  TokenKind kind = TokenKind::api;
  std::string name;
  std::string token_sha256;
  EpochMs created_at = 0;
  std::optional<EpochMs> expires_at;
  EpochMs last_used_at = 0;
  bool revoked = false;
};

// The audit log's rows and signed checkpoints (defined with their hash and
// verification in audit/chain.hpp).
using AuditEntry = audit::Entry;
using AuditCheckpoint = audit::Checkpoint;

// A public key a server announced in the catalog. Informational only: a
// database editor can add rows here, so verification trusts the keyring
// file, never this table.
struct PublishedKey {
  std::string key_id;
  std::string algorithm;   // "ed25519"
  std::string public_key;  // base64
  EpochMs first_seen_at = 0;
};

// --- list queries -------------------------------------------------------
// Paging: limit rows plus an opaque next_token (keyset, stable under inserts:
// no duplicates, no gaps). Filters left empty do not apply.

struct Page {
  int limit = 50;
  std::string next_token;  // from a previous page; empty = first page
};

template <class T>
struct PageOf {
  std::vector<T> items;
  std::string next_token;  // empty on the last page
};

// Limits a query to what a scoped administrator may see: when set, only
// computers in `computer_ids` or in one of `pool_ids`.
struct Scope {
  std::vector<std::string> computer_ids;
  std::vector<std::string> pool_ids;
};

struct RecordingFilter {
  std::string computer_id;
  std::string pool_id;        // via the computer's current membership
  std::string policy_id;
  std::string username;       // exact match
  std::optional<EpochMs> start_time;  // overlap: recording.end (or now/open) >= start_time
  std::optional<EpochMs> end_time;    //          and recording.start <= end_time
  std::optional<RecordingStatus> status;
  std::optional<Scope> scope;
  // Activity events (substring, case-insensitive): only recordings with an
  // event whose app or process contains `app` and (for window events) whose
  // title contains `window_title`, both in the same event when both are
  // given; each listed with first_match_ms.
  std::string app;
  std::string window_title;
  bool has_event_filter() const { return !app.empty() || !window_title.empty(); }
};

// Events of one recording, ascending by (t_ms, seq, idx). Only events of
// stored segments are listed (a document whose segment has not arrived yet
// is not part of the recording).
struct EventFilter {
  std::vector<std::string> types;  // any of these; empty = every type
  std::optional<std::int64_t> from_ms;  // t_ms >= from_ms
  std::optional<std::int64_t> to_ms;    // t_ms <= to_ms
};

// Events across recordings, newest first by wall time (recording start +
// t_ms), then recording id, seq, idx descending.
struct EventSearch {
  std::string computer_id;
  std::string pool_id;   // the recording's pool
  std::string username;  // exact
  std::string app;           // as RecordingFilter::app
  std::string window_title;  // as RecordingFilter::window_title
  std::vector<std::string> types;
  std::optional<EpochMs> start_time;  // wall time of the event >= start_time
  std::optional<EpochMs> end_time;    // wall time of the event <= end_time
  std::optional<Scope> scope;
};

struct ComputerFilter {
  std::string pool_id;
  std::string q;  // substring of id or name
  std::optional<Scope> scope;
};

struct AuditFilter {
  std::string actor;
  std::string action;  // exact, or a prefix ending in '.' ("policy.")
  std::string target;
  std::optional<EpochMs> start_time;
  std::optional<EpochMs> end_time;
};

}  // namespace deskaudit::catalog
