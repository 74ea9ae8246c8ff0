#pragma once
// The catalog: all metadata (computers, pools, policies, recordings, segments,
// administrators, tokens, audit log). One implementation over SOCI serves
// both SQLite (embedded default) and PostgreSQL (scale-out); SQL is kept
// portable between the two. Chosen by URL in make_catalog().
//
// Contract for every method:
//  - Thread-safe: callable from many threads at once (a connection pool
//    inside; SQLite runs in WAL mode with a busy timeout).
//  - Expected failures are values: not_found for a missing id, conflict for a
//    uniqueness or state clash (message names it), unavailable when the
//    database cannot be reached, internal for anything else. SQL text and
//    driver messages go to the log, not into Error::message for not_found.
//  - IDs are chosen by the caller (the server) and stored as given.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/types.hpp"
#include "common/error.hpp"

namespace deskaudit::catalog {

enum class SegmentOutcome { inserted, already_present };

struct Assignment {
  std::string policy_id;
  TargetType target_type = TargetType::computer;
  std::string target_id;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Applies numbered migrations not yet applied (idempotent; run at start).
  virtual Status migrate() = 0;
  virtual Result<int> schema_version() = 0;
  // "sqlite" or "postgresql".
  virtual std::string backend() const = 0;

  // --- pools -------------------------------------------------------------
  virtual Status create_pool(const Pool& pool) = 0;  // conflict: same name exists
  virtual Result<Pool> get_pool(std::string_view id) = 0;
  virtual Result<PageOf<Pool>> list_pools(std::string_view q, const std::optional<Scope>& scope,
                                          const Page& page) = 0;  // by name, then id
  virtual Status update_pool(const Pool& pool) = 0;  // name, description
  // conflict while the pool still has computers.
  virtual Status delete_pool(std::string_view id) = 0;

  // --- computers ---------------------------------------------------------
  virtual Status create_computer(const Computer& computer) = 0;
  virtual Result<Computer> get_computer(std::string_view id) = 0;
  virtual Result<PageOf<Computer>> list_computers(const ComputerFilter& filter,
                                                  const Page& page) = 0;  // by name, then id
  virtual Status update_computer(const Computer& computer) = 0;  // name, hostname, os
  // Removes the computer, its agent credential and its own policy
  // assignment. Its recordings stay until their expiry.
  virtual Status delete_computer(std::string_view id) = 0;
  // Moves a computer into a pool (or out of any with nullopt).
  virtual Status set_computer_pool(std::string_view computer_id,
                                   const std::optional<std::string>& pool_id) = 0;
  // Heartbeat: agent_version, capture_json, spool_bytes, last_error,
  // session_json, set_aside_json, last_seen_at. Leaves last_upload_* and last_session_at alone.
  virtual Status update_agent_heartbeat(std::string_view computer_id, const AgentState& state) = 0;
  // After an upload attempt: error empty = success (sets last_upload_at).
  virtual Status note_upload(std::string_view computer_id, EpochMs at, std::string_view error) = 0;
  virtual Status note_session_start(std::string_view computer_id, EpochMs at) = 0;
  // Computers whose last heartbeat is older than seen_before and whose
  // silence has not been noted yet (note_silence), oldest first, at most limit.
  virtual Result<std::vector<SilentComputer>> list_newly_silent(EpochMs seen_before, int limit) = 0;
  // Marks the silence that began after the heartbeat at last_seen_at as
  // noted. false when a newer heartbeat came in meanwhile (nothing changed).
  virtual Result<bool> note_silence(std::string_view computer_id, EpochMs last_seen_at) = 0;

  // --- policies and assignments -------------------------------------------
  virtual Status create_policy(const Policy& policy) = 0;  // conflict: same name
  virtual Result<Policy> get_policy(std::string_view id) = 0;
  virtual Result<PageOf<Policy>> list_policies(const Page& page) = 0;  // by name, then id
  // Replaces name and rule, bumps version, sets updated_at; returns the new row.
  virtual Result<Policy> update_policy(const Policy& policy) = 0;
  // Deletes the policy and its assignments; recordings keep their snapshot.
  virtual Status delete_policy(std::string_view id) = 0;
  // A target has at most one policy of its own: assigning replaces it.
  // not_found when the policy or the target does not exist.
  virtual Status assign_policy(const Assignment& assignment) = 0;
  // not_found when that assignment does not exist.
  virtual Status unassign_policy(const Assignment& assignment) = 0;
  virtual Result<std::vector<Assignment>> list_assignments(std::string_view policy_id) = 0;
  // The computer's own policy, else its pool's, else none.
  virtual Result<EffectivePolicy> effective_policy(std::string_view computer_id) = 0;

  // --- enrollment and agent credentials -----------------------------------
  virtual Status create_enrollment_token(const EnrollmentToken& token) = 0;
  virtual Result<PageOf<EnrollmentToken>> list_enrollment_tokens(const Page& page) = 0;  // newest first
  virtual Result<EnrollmentToken> get_enrollment_token(std::string_view id) = 0;  // not_found
  virtual Status revoke_enrollment_token(std::string_view id) = 0;
  // In one transaction: finds the enrollment token by hash; refuses
  // (unauthenticated) an unknown, revoked, expired or used-up one; counts the
  // use; creates `computer` (pool from the token when it names one) with the
  // agent credential hash. Returns the stored computer.
  virtual Result<Computer> enroll(std::string_view enrollment_token_sha256, Computer computer,
                                  std::string_view agent_token_sha256, EpochMs now) = 0;
  // The computer id owning this agent credential; unauthenticated if none.
  virtual Result<std::string> computer_for_agent_token(std::string_view agent_token_sha256) = 0;

  // --- agent signing keys -----------------------------------------------------
  // Makes key the computer's current key in one transaction: its other keys
  // are retired (retired_at = key.created_at), none is deleted. already
  // current -> false (nothing changes); inserted -> true. conflict when the
  // key id is registered for another computer or was retired.
  virtual Result<bool> add_agent_key(const AgentKey& key) = 0;
  // not_found for an unknown key id.
  virtual Result<AgentKey> get_agent_key(std::string_view key_id) = 0;
  // Every key of the computer, oldest first.
  virtual Result<std::vector<AgentKey>> list_agent_keys(std::string_view computer_id) = 0;

  // --- recordings and segments ---------------------------------------------
  virtual Status create_recording(const Recording& recording) = 0;
  virtual Result<Recording> get_recording(std::string_view id) = 0;
  // Newest first (start_time desc, id desc).
  virtual Result<PageOf<Recording>> list_recordings(const RecordingFilter& filter, const Page& page) = 0;
  virtual Result<std::int64_t> count_recordings(const RecordingFilter& filter) = 0;
  // Sets end_time, status and expires_at (= end_time + retention_days).
  // conflict when the recording is already finished with another end.
  virtual Result<Recording> finish_recording(std::string_view id, EpochMs end_time, RecordingStatus status) = 0;
  virtual Status set_legal_hold(std::string_view id, bool hold) = 0;
  // Recordings with expires_at <= now and no legal hold, oldest expiry first.
  virtual Result<std::vector<Recording>> list_expired_recordings(EpochMs now, int limit) = 0;
  // Removes the recording's rows, its segments' rows and its events (rows
  // and documents; objects are the caller's, deleted before). Absent id is
  // success (idempotent).
  virtual Status delete_recording(std::string_view id) = 0;
  // Idempotent by (recording_id, seq): same sha256 -> already_present;
  // different sha256 -> conflict. Updates the recording's size, count and
  // duration in the same transaction. events_sha256 is stored as given (the
  // caller checks the document first: documents are never replaced); an
  // already stored segment with the same sha256 but another events_sha256
  // is a conflict.
  virtual Result<SegmentOutcome> add_segment(const Segment& segment) = 0;
  virtual Result<Segment> get_segment(std::string_view recording_id, std::int64_t seq) = 0;
  virtual Result<std::vector<Segment>> list_segments(std::string_view recording_id) = 0;  // by seq

  // --- activity events --------------------------------------------------------
  // Stores a segment's events document row and its events (rows idx 0..n-1)
  // in one transaction. Idempotent by (recording_id, seq): the same sha256 ->
  // already_present (nothing written); another sha256 -> conflict. not_found
  // when the recording does not exist; conflict when segment seq is already
  // stored without this document (events_sha256 absent or another hash).
  // Each event's wall time is taken as the recording's start_time + t_ms.
  virtual Result<SegmentOutcome> add_event_document(const EventDocument& document,
                                                    const std::vector<events::Event>& events) = 0;
  virtual Result<EventDocument> get_event_document(std::string_view recording_id, std::int64_t seq) = 0;
  // Events of a recording (see EventFilter); page.limit clamped to 1..1000.
  virtual Result<PageOf<RecordingEvent>> list_recording_events(std::string_view recording_id,
                                                               const EventFilter& filter, const Page& page) = 0;
  // Events across recordings (see EventSearch); page.limit clamped to 1..1000.
  virtual Result<PageOf<EventHit>> search_events(const EventSearch& search, const Page& page) = 0;

  // --- administrators, roles, tokens ----------------------------------------
  virtual Status create_user(const User& user) = 0;  // conflict: username taken
  virtual Result<User> get_user(std::string_view id) = 0;
  virtual Result<User> find_user(std::string_view username) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // password_hash, password_changed_at, disabled, must_change_password,
  // failed_logins, locked_until (all from `user`: a copy read earlier undoes
  // what others changed since; sign-in uses the methods below instead).
  virtual Status update_user(const User& user) = 0;
  // Counts one failed sign-in in a single statement that touches only
  // failed_logins and locked_until (so parallel failures all count and none
  // undoes a concurrent disable or password change); locks per `rule`.
  // Returns the new values; not_found for an unknown id.
  virtual Result<LoginFailures> note_failed_login(std::string_view user_id, EpochMs now, const LockoutRule& rule) = 0;
  // Sets failed_logins and locked_until to 0 (a successful sign-in, an unlock).
  virtual Status clear_failed_logins(std::string_view user_id) = 0;
  // Sets password_hash, password_changed_at and must_change_password only.
  virtual Status set_password(std::string_view user_id, std::string_view password_hash, EpochMs changed_at,
                              bool must_change) = 0;
  virtual Status delete_user(std::string_view id) = 0;  // with grants and tokens
  virtual Result<std::int64_t> count_users() = 0;

  virtual Status upsert_role(const Role& role) = 0;
  virtual Result<Role> get_role(std::string_view id) = 0;
  virtual Result<std::vector<Role>> list_roles() = 0;
  virtual Status delete_role(std::string_view id) = 0;  // conflict while granted or builtin
  virtual Status grant_role(const RoleGrant& grant) = 0;  // idempotent
  virtual Status revoke_role(const RoleGrant& grant) = 0;  // not_found if absent
  virtual Result<std::vector<RoleGrant>> list_grants(std::string_view user_id) = 0;

  virtual Status create_token(const ApiToken& token) = 0;
  virtual Result<ApiToken> find_token(std::string_view token_sha256) = 0;  // not_found
  virtual Result<ApiToken> get_token(std::string_view id) = 0;
  virtual Result<std::vector<ApiToken>> list_tokens(std::string_view user_id) = 0;  // empty id = all
  virtual Status revoke_token(std::string_view id) = 0;
  // Revokes the user's tokens of `kind` (every kind when nullopt) except the
  // one with id `keep_id` (none kept when empty). Returns how many it revoked.
  virtual Result<std::int64_t> revoke_user_tokens(std::string_view user_id, std::optional<TokenKind> kind,
                                                  std::string_view keep_id) = 0;
  virtual Status touch_token(std::string_view id, EpochMs at) = 0;

  // --- audit log -------------------------------------------------------------
  // Appends atomically: assigns seq, prev_hash (the last entry's hash) and
  // hash = audit_entry_hash(entry). Serialised across threads and replicas.
  virtual Result<AuditEntry> append_audit(AuditEntry entry) = 0;
  virtual Result<PageOf<AuditEntry>> list_audit(const AuditFilter& filter, const Page& page) = 0;  // newest first
  // Entries with seq > after_seq in ascending order, at most limit.
  virtual Result<std::vector<AuditEntry>> audit_after(std::int64_t after_seq, int limit) = 0;
  // Signs the chain head as checkpoint n = newest + 1 with prev_signature =
  // the newest checkpoint's signature, under the same lock as append_audit
  // (so replicas signing at once still form one checkpoint chain). `sign`
  // gets audit::signed_message(checkpoint) with key_id already set by
  // `key_id`. When the newest checkpoint already covers the head nothing is
  // written and that checkpoint is returned. not_found when the log is empty.
  using CheckpointSigner = std::function<std::string(std::string_view message)>;  // -> base64 signature
  virtual Result<AuditCheckpoint> sign_audit_head(std::string_view key_id, const CheckpointSigner& sign,
                                                  std::string_view kind, std::string_view replica, EpochMs now) = 0;
  // Checkpoints with n > after_n in ascending order, at most limit.
  virtual Result<std::vector<AuditCheckpoint>> audit_checkpoints_after(std::int64_t after_n, int limit) = 0;
  // Records a server's public key (idempotent by key id); see PublishedKey.
  virtual Status publish_key(const PublishedKey& key) = 0;
  virtual Result<std::vector<PublishedKey>> list_published_keys() = 0;

  // --- leases (one replica runs the sweeper) ---------------------------------
  // Takes or renews the named lease for holder until now + ttl_ms when it is
  // free, expired or already held by holder. true = held by the caller.
  virtual Result<bool> acquire_lease(std::string_view name, std::string_view holder, EpochMs now,
                                     std::int64_t ttl_ms) = 0;
};

// "sqlite:///abs/path/catalog.db" (or "sqlite://relative.db", or a plain path
// ending in .db) -> SQLite; "postgresql://user:pass@host:port/db" (or
// "postgres://") -> PostgreSQL. Connects (pool_size connections) but does not
// migrate. invalid_argument for another scheme, unavailable when unreachable.
Result<std::unique_ptr<Catalog>> make_catalog(std::string_view url, int pool_size = 8);

// sha256 hex over prev_hash and the entry's canonical text (seq, time, actor,
// action, target, details_json), the audit chain's link.
inline std::string audit_entry_hash(const AuditEntry& entry) { return audit::entry_hash(entry); }

}  // namespace deskaudit::catalog
