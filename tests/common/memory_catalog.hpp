#pragma once
// An in-memory catalog::Catalog for unit tests of the services: the same
// contract as the SOCI catalog (ordering, keyset paging with the same page
// tokens, filters and scopes, not_found/conflict errors and their messages,
// the audit hash chain and its checkpoints, lockout counters, leases), kept
// honest by running the catalog conformance suite (tests/unit/catalog)
// against it as backend "memory".
//
// Thread-safe: one mutex serialises every call, so each call is atomic as
// the SQL backends' transactions are.
//
// Failure injection, so tests reach the error paths of their callers:
//  - fail_next("append_audit", error) makes the next call of that method
//    (named as in catalog.hpp) return `error` without touching the data;
//    several queued for one method fire in order, one per call.
//  - set_unavailable(true) makes every call fail with Errc::unavailable, as a
//    lost database does, until set_unavailable(false).
// calls("method") counts the calls of a method (injected failures included).
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "catalog/catalog.hpp"

namespace deskaudit::testing {

class MemoryCatalog final : public catalog::Catalog {
 public:
  MemoryCatalog() = default;

  // --- failure injection ---------------------------------------------------
  void fail_next(std::string method, Error error);
  void set_unavailable(bool unavailable);
  int calls(std::string_view method) const;

  Status migrate() override;
  Result<int> schema_version() override;
  std::string backend() const override;  // "memory"

  Status create_pool(const catalog::Pool& pool) override;
  Result<catalog::Pool> get_pool(std::string_view id) override;
  Result<catalog::PageOf<catalog::Pool>> list_pools(std::string_view q, const std::optional<catalog::Scope>& scope,
                                                    const catalog::Page& page) override;
  Status update_pool(const catalog::Pool& pool) override;
  Status delete_pool(std::string_view id) override;

  Status create_computer(const catalog::Computer& computer) override;
  Result<catalog::Computer> get_computer(std::string_view id) override;
  Result<catalog::PageOf<catalog::Computer>> list_computers(const catalog::ComputerFilter& filter,
                                                            const catalog::Page& page) override;
  Status update_computer(const catalog::Computer& computer) override;
  Status delete_computer(std::string_view id) override;
  Status set_computer_pool(std::string_view computer_id, const std::optional<std::string>& pool_id) override;
  Status update_agent_heartbeat(std::string_view computer_id, const catalog::AgentState& state) override;
  Status note_upload(std::string_view computer_id, EpochMs at, std::string_view error) override;
  Status note_session_start(std::string_view computer_id, EpochMs at) override;
  Result<std::vector<catalog::SilentComputer>> list_newly_silent(EpochMs seen_before, int limit) override;
  Result<bool> note_silence(std::string_view computer_id, EpochMs last_seen_at) override;

  Status create_policy(const catalog::Policy& policy) override;
  Result<catalog::Policy> get_policy(std::string_view id) override;
  Result<catalog::PageOf<catalog::Policy>> list_policies(const catalog::Page& page) override;
  Result<catalog::Policy> update_policy(const catalog::Policy& policy) override;
  Status delete_policy(std::string_view id) override;
  Status assign_policy(const catalog::Assignment& assignment) override;
  Status unassign_policy(const catalog::Assignment& assignment) override;
  Result<std::vector<catalog::Assignment>> list_assignments(std::string_view policy_id) override;
  Result<catalog::EffectivePolicy> effective_policy(std::string_view computer_id) override;

  Status create_enrollment_token(const catalog::EnrollmentToken& token) override;
  Result<catalog::PageOf<catalog::EnrollmentToken>> list_enrollment_tokens(const catalog::Page& page) override;
  Result<catalog::EnrollmentToken> get_enrollment_token(std::string_view id) override;
  Status revoke_enrollment_token(std::string_view id) override;
  Result<catalog::Computer> enroll(std::string_view enrollment_token_sha256, catalog::Computer computer,
                                   std::string_view agent_token_sha256, EpochMs now) override;
  Result<std::string> computer_for_agent_token(std::string_view agent_token_sha256) override;
  Result<bool> add_agent_key(const catalog::AgentKey& key) override;
  Result<catalog::AgentKey> get_agent_key(std::string_view key_id) override;
  Result<std::vector<catalog::AgentKey>> list_agent_keys(std::string_view computer_id) override;

  Status create_recording(const catalog::Recording& recording) override;
  Result<catalog::Recording> get_recording(std::string_view id) override;
  Result<catalog::PageOf<catalog::Recording>> list_recordings(const catalog::RecordingFilter& filter,
                                                              const catalog::Page& page) override;
  Result<std::int64_t> count_recordings(const catalog::RecordingFilter& filter) override;
  Result<catalog::Recording> finish_recording(std::string_view id, EpochMs end_time,
                                              catalog::RecordingStatus status) override;
  Status set_legal_hold(std::string_view id, bool hold) override;
  Result<std::vector<catalog::Recording>> list_expired_recordings(EpochMs now, int limit) override;
  Status delete_recording(std::string_view id) override;
  Result<catalog::SegmentOutcome> add_segment(const catalog::Segment& segment) override;
  Result<catalog::Segment> get_segment(std::string_view recording_id, std::int64_t seq) override;
  Result<std::vector<catalog::Segment>> list_segments(std::string_view recording_id) override;

  Result<catalog::SegmentOutcome> add_event_document(const catalog::EventDocument& document,
                                                     const std::vector<events::Event>& events) override;
  Result<catalog::EventDocument> get_event_document(std::string_view recording_id, std::int64_t seq) override;
  Result<catalog::PageOf<catalog::RecordingEvent>> list_recording_events(std::string_view recording_id,
                                                                         const catalog::EventFilter& filter,
                                                                         const catalog::Page& page) override;
  Result<catalog::PageOf<catalog::EventHit>> search_events(const catalog::EventSearch& search,
                                                           const catalog::Page& page) override;

  Status create_user(const catalog::User& user) override;
  Result<catalog::User> get_user(std::string_view id) override;
  Result<catalog::User> find_user(std::string_view username) override;
  Result<std::vector<catalog::User>> list_users() override;
  Status update_user(const catalog::User& user) override;
  Result<catalog::LoginFailures> note_failed_login(std::string_view user_id, EpochMs now,
                                                   const catalog::LockoutRule& rule) override;
  Status clear_failed_logins(std::string_view user_id) override;
  Status set_password(std::string_view user_id, std::string_view password_hash, EpochMs changed_at,
                      bool must_change) override;
  Status delete_user(std::string_view id) override;
  Result<std::int64_t> count_users() override;

  Status upsert_role(const catalog::Role& role) override;
  Result<catalog::Role> get_role(std::string_view id) override;
  Result<std::vector<catalog::Role>> list_roles() override;
  Status delete_role(std::string_view id) override;
  Status grant_role(const catalog::RoleGrant& grant) override;
  Status revoke_role(const catalog::RoleGrant& grant) override;
  Result<std::vector<catalog::RoleGrant>> list_grants(std::string_view user_id) override;

  Status create_token(const catalog::ApiToken& token) override;
  Result<catalog::ApiToken> find_token(std::string_view token_sha256) override;
  Result<catalog::ApiToken> get_token(std::string_view id) override;
  Result<std::vector<catalog::ApiToken>> list_tokens(std::string_view user_id) override;
  Status revoke_token(std::string_view id) override;
  Result<std::int64_t> revoke_user_tokens(std::string_view user_id, std::optional<catalog::TokenKind> kind,
                                          std::string_view keep_id) override;
  Status touch_token(std::string_view id, EpochMs at) override;

  Result<catalog::AuditEntry> append_audit(catalog::AuditEntry entry) override;
  Result<catalog::PageOf<catalog::AuditEntry>> list_audit(const catalog::AuditFilter& filter,
                                                          const catalog::Page& page) override;
  Result<std::vector<catalog::AuditEntry>> audit_after(std::int64_t after_seq, int limit) override;
  Result<catalog::AuditCheckpoint> sign_audit_head(std::string_view key_id, const CheckpointSigner& sign,
                                                   std::string_view kind, std::string_view replica,
                                                   EpochMs now) override;
  Result<std::vector<catalog::AuditCheckpoint>> audit_checkpoints_after(std::int64_t after_n, int limit) override;
  Status publish_key(const catalog::PublishedKey& key) override;
  Result<std::vector<catalog::PublishedKey>> list_published_keys() override;

  Result<bool> acquire_lease(std::string_view name, std::string_view holder, EpochMs now, std::int64_t ttl_ms) override;

  // --- for tests that play a database editor ----------------------------------
  // Replaces the stored audit entry with the same seq as is (no rehash), as
  // someone editing the table by hand would; not_found when absent.
  Status overwrite_audit_entry(const catalog::AuditEntry& entry);

 private:
  struct ComputerRow {
    catalog::Computer computer;  // `enrolled` is derived from credentials_
    EpochMs silence_noted_at = 0;
  };
  struct RecordingRow {
    catalog::Recording recording;  // computer_name: the snapshot
  };
  struct Lease {
    std::string holder;
    EpochMs expires_at = 0;
  };
  // (target type text, target id) -> policy id, ordered as the SQL list is.
  using AssignmentKey = std::pair<std::string, std::string>;
  // (user id, role id, scope type text or "", scope id or "").
  using GrantKey = std::tuple<std::string, std::string, std::string, std::string>;

  // Counts the call, then returns the injected failure if any. Caller holds mu_.
  Status gate(std::string_view method);
  catalog::Computer computer_view(const ComputerRow& row) const;
  catalog::Recording recording_view(const catalog::Recording& stored) const;
  bool recording_matches(const catalog::Recording& r, const catalog::RecordingFilter& f) const;
  // The recording's events that are part of it (their segment is stored
  // with events), in (t_ms, seq, idx) order.
  std::vector<catalog::RecordingEvent> stored_events(const std::string& recording_id) const;
  // The media time of the first event matching the filter's app/window_title.
  std::optional<std::int64_t> first_match(const std::string& recording_id, std::string_view app,
                                          std::string_view window_title) const;
  std::optional<catalog::Policy> assigned_policy(std::string_view type, std::string_view target) const;

  mutable std::mutex mu_;
  bool unavailable_ = false;
  std::map<std::string, std::deque<Error>, std::less<>> injected_;
  std::map<std::string, int, std::less<>> calls_;
  int schema_version_ = 0;

  std::map<std::string, catalog::Pool, std::less<>> pools_;
  std::map<std::string, ComputerRow, std::less<>> computers_;
  std::map<std::string, std::string, std::less<>> credentials_;  // agent token sha256 -> computer id
  std::map<std::string, catalog::Policy, std::less<>> policies_;
  std::map<AssignmentKey, std::string> assignments_;
  std::map<std::string, catalog::EnrollmentToken, std::less<>> enrollment_tokens_;
  std::map<std::string, RecordingRow, std::less<>> recordings_;
  std::map<std::pair<std::string, std::int64_t>, catalog::Segment> segments_;
  std::map<std::pair<std::string, std::int64_t>, catalog::EventDocument> event_documents_;
  // (recording id, seq, idx) -> event
  std::map<std::tuple<std::string, std::int64_t, std::int64_t>, catalog::RecordingEvent> events_;
  std::map<std::string, catalog::User, std::less<>> users_;
  std::map<std::string, catalog::Role, std::less<>> roles_;
  std::set<GrantKey> grants_;
  std::map<std::string, catalog::ApiToken, std::less<>> tokens_;
  std::vector<catalog::AuditEntry> audit_;  // seq i + 1 at index i
  std::vector<catalog::AuditCheckpoint> checkpoints_;
  std::map<std::string, catalog::PublishedKey, std::less<>> published_keys_;
  std::map<std::string, catalog::AgentKey, std::less<>> agent_keys_;  // by key id
  std::map<std::string, Lease, std::less<>> leases_;
};

}  // namespace deskaudit::testing
