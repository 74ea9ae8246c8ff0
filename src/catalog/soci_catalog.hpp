#pragma once
// The Catalog over SOCI: one implementation for SQLite and PostgreSQL.
// Thread-safe: every call leases one session from a connection pool of
// pool_size sessions for its duration (callers beyond pool_size wait).
// Writes that read-then-write run in a transaction; on SQLite it is BEGIN
// IMMEDIATE (serialised by the database file lock, up to the busy timeout),
// on PostgreSQL READ COMMITTED with statements written so that concurrent
// callers cannot both win (conditional UPDATEs, ON CONFLICT, advisory lock
// for the audit chain).
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "catalog/catalog.hpp"
#include "catalog/migrations.hpp"
#include "catalog/rows.hpp"
#include "catalog/sql.hpp"

namespace deskaudit::catalog {

struct SociOptions {
  sql::Backend backend = sql::Backend::sqlite;
  // SQLite: the database file; PostgreSQL: a libpq connection URI (holds a
  // password: never log it).
  std::string target;
  int pool_size = 8;
  int sqlite_busy_timeout_ms = 10000;
};

class SociCatalog final : public Catalog {
 public:
  // Opens pool_size connections; unavailable when the database cannot be
  // reached, invalid_argument for a bad option.
  static Result<std::unique_ptr<SociCatalog>> open(const SociOptions& options);
  ~SociCatalog() override;

  Status migrate() override;
  Result<int> schema_version() override;
  std::string backend() const override;

  Status create_pool(const Pool& pool) override;
  Result<Pool> get_pool(std::string_view id) override;
  Result<PageOf<Pool>> list_pools(std::string_view q, const std::optional<Scope>& scope, const Page& page) override;
  Status update_pool(const Pool& pool) override;
  Status delete_pool(std::string_view id) override;

  Status create_computer(const Computer& computer) override;
  Result<Computer> get_computer(std::string_view id) override;
  Result<PageOf<Computer>> list_computers(const ComputerFilter& filter, const Page& page) override;
  Status update_computer(const Computer& computer) override;
  Status delete_computer(std::string_view id) override;
  Status set_computer_pool(std::string_view computer_id, const std::optional<std::string>& pool_id) override;
  Status update_agent_heartbeat(std::string_view computer_id, const AgentState& state) override;
  Status note_upload(std::string_view computer_id, EpochMs at, std::string_view error) override;
  Status note_session_start(std::string_view computer_id, EpochMs at) override;
  Result<std::vector<SilentComputer>> list_newly_silent(EpochMs seen_before, int limit) override;
  Result<bool> note_silence(std::string_view computer_id, EpochMs last_seen_at) override;

  Status create_policy(const Policy& policy) override;
  Result<Policy> get_policy(std::string_view id) override;
  Result<PageOf<Policy>> list_policies(const Page& page) override;
  Result<Policy> update_policy(const Policy& policy) override;
  Status delete_policy(std::string_view id) override;
  Status assign_policy(const Assignment& assignment) override;
  Status unassign_policy(const Assignment& assignment) override;
  Result<std::vector<Assignment>> list_assignments(std::string_view policy_id) override;
  Result<EffectivePolicy> effective_policy(std::string_view computer_id) override;

  Status create_enrollment_token(const EnrollmentToken& token) override;
  Result<PageOf<EnrollmentToken>> list_enrollment_tokens(const Page& page) override;
  Result<EnrollmentToken> get_enrollment_token(std::string_view id) override;
  Status revoke_enrollment_token(std::string_view id) override;
  Result<Computer> enroll(std::string_view enrollment_token_sha256, Computer computer,
                          std::string_view agent_token_sha256, EpochMs now) override;
  Result<std::string> computer_for_agent_token(std::string_view agent_token_sha256) override;
  Result<bool> add_agent_key(const AgentKey& key) override;
  Result<AgentKey> get_agent_key(std::string_view key_id) override;
  Result<std::vector<AgentKey>> list_agent_keys(std::string_view computer_id) override;

  Status create_recording(const Recording& recording) override;
  Result<Recording> get_recording(std::string_view id) override;
  Result<PageOf<Recording>> list_recordings(const RecordingFilter& filter, const Page& page) override;
  Result<std::int64_t> count_recordings(const RecordingFilter& filter) override;
  Result<Recording> finish_recording(std::string_view id, EpochMs end_time, RecordingStatus status) override;
  Status set_legal_hold(std::string_view id, bool hold) override;
  Result<std::vector<Recording>> list_expired_recordings(EpochMs now, int limit) override;
  Status delete_recording(std::string_view id) override;
  Result<SegmentOutcome> add_segment(const Segment& segment) override;
  Result<Segment> get_segment(std::string_view recording_id, std::int64_t seq) override;
  Result<std::vector<Segment>> list_segments(std::string_view recording_id) override;

  Result<SegmentOutcome> add_event_document(const EventDocument& document,
                                            const std::vector<events::Event>& events) override;
  Result<EventDocument> get_event_document(std::string_view recording_id, std::int64_t seq) override;
  Result<PageOf<RecordingEvent>> list_recording_events(std::string_view recording_id, const EventFilter& filter,
                                                       const Page& page) override;
  Result<PageOf<EventHit>> search_events(const EventSearch& search, const Page& page) override;

  Status create_user(const User& user) override;
  Result<User> get_user(std::string_view id) override;
  Result<User> find_user(std::string_view username) override;
  Result<std::vector<User>> list_users() override;
  Status update_user(const User& user) override;
  Result<LoginFailures> note_failed_login(std::string_view user_id, EpochMs now, const LockoutRule& rule) override;
  Status clear_failed_logins(std::string_view user_id) override;
  Status set_password(std::string_view user_id, std::string_view password_hash, EpochMs changed_at,
                      bool must_change) override;
  Status delete_user(std::string_view id) override;
  Result<std::int64_t> count_users() override;

  Status upsert_role(const Role& role) override;
  Result<Role> get_role(std::string_view id) override;
  Result<std::vector<Role>> list_roles() override;
  Status delete_role(std::string_view id) override;
  Status grant_role(const RoleGrant& grant) override;
  Status revoke_role(const RoleGrant& grant) override;
  Result<std::vector<RoleGrant>> list_grants(std::string_view user_id) override;

  Status create_token(const ApiToken& token) override;
  Result<ApiToken> find_token(std::string_view token_sha256) override;
  Result<ApiToken> get_token(std::string_view id) override;
  Result<std::vector<ApiToken>> list_tokens(std::string_view user_id) override;
  Status revoke_token(std::string_view id) override;
  Result<std::int64_t> revoke_user_tokens(std::string_view user_id, std::optional<TokenKind> kind,
                                          std::string_view keep_id) override;
  Status touch_token(std::string_view id, EpochMs at) override;

  Result<AuditEntry> append_audit(AuditEntry entry) override;
  Result<PageOf<AuditEntry>> list_audit(const AuditFilter& filter, const Page& page) override;
  Result<std::vector<AuditEntry>> audit_after(std::int64_t after_seq, int limit) override;
  Result<AuditCheckpoint> sign_audit_head(std::string_view key_id, const CheckpointSigner& sign, std::string_view kind,
                                          std::string_view replica, EpochMs now) override;
  Result<std::vector<AuditCheckpoint>> audit_checkpoints_after(std::int64_t after_n, int limit) override;
  Status publish_key(const PublishedKey& key) override;
  Result<std::vector<PublishedKey>> list_published_keys() override;

  Result<bool> acquire_lease(std::string_view name, std::string_view holder, EpochMs now, std::int64_t ttl_ms) override;

 private:
  SociCatalog(sql::Backend backend, std::unique_ptr<soci::connection_pool> pool);

  // Runs f(session) on a leased session and maps driver exceptions to
  // errors. f returns a Result/Status. `conflict_message` is the text for a
  // uniqueness or foreign-key clash (empty: a generic one).
  template <class F>
  auto run(std::string_view what, std::string_view conflict_message, F&& f) -> std::invoke_result_t<F, sql::Session&> {
    try {
      sql::Session s(*pool_, backend_);
      try {
        return f(s);
      } catch (const soci::soci_error& e) {
        return std::unexpected(sql::map_error(e, backend_, &*s, what, conflict_message));
      }
    } catch (const soci::soci_error& e) {
      return std::unexpected(sql::map_error(e, backend_, nullptr, what, conflict_message));
    } catch (const std::exception& e) {
      spdlog::error("catalog: {}: {}", what, e.what());
      return std::unexpected(Error{Errc::internal, std::string(what) + ": " + e.what(), {}});
    }
  }

  // The single row of q through Row, or not_found with `missing`.
  template <class Row>
  auto fetch_required(std::string_view what, sql::Sql q, std::string missing) -> Result<decltype(Row{}.get())> {
    return run(what, "", [&](sql::Session& s) -> Result<decltype(Row{}.get())> {
      auto row = rows::fetch_one<Row>(*s, q);
      if (!row) return fail(Errc::not_found, std::move(missing));
      return std::move(*row);
    });
  }

  Status migrate_one(const Migration& migration);

  sql::Backend backend_;
  std::unique_ptr<soci::connection_pool> pool_;
};

}  // namespace deskaudit::catalog
