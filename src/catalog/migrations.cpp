#include "catalog/migrations.hpp"

namespace deskaudit::catalog {

namespace {

// Foreign keys: rows that die with their parent cascade (segments, agent
// credentials, assignments, grants, tokens); recordings reference neither
// computers nor policies because they outlive both (snapshot columns keep
// the names). Pool membership restricts pool deletion.
const std::vector<Migration> kMigrations = {
    {1,
     "0001_initial",
     {
         R"sql(CREATE TABLE pools (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL
))sql",
         R"sql(CREATE TABLE computers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  pool_id TEXT REFERENCES pools(id),
  created_at BIGINT NOT NULL,
  agent_version TEXT NOT NULL DEFAULT '',
  capture_json TEXT NOT NULL DEFAULT 'null',
  spool_bytes BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  session_json TEXT NOT NULL DEFAULT 'null',
  last_seen_at BIGINT NOT NULL DEFAULT 0,
  last_upload_at BIGINT NOT NULL DEFAULT 0,
  last_upload_error TEXT NOT NULL DEFAULT '',
  last_session_at BIGINT NOT NULL DEFAULT 0
))sql",
         "CREATE INDEX computers_pool ON computers (pool_id)",
         "CREATE INDEX computers_name ON computers (name, id)",
         R"sql(CREATE TABLE agent_credentials (
  token_sha256 TEXT PRIMARY KEY,
  computer_id TEXT NOT NULL UNIQUE REFERENCES computers(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL
))sql",
         R"sql(CREATE TABLE policies (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  mode TEXT NOT NULL,
  period_start TEXT NOT NULL,
  period_end TEXT NOT NULL,
  fps INTEGER NOT NULL,
  audio INTEGER NOT NULL,
  segment_max_bytes BIGINT NOT NULL,
  segment_max_minutes INTEGER NOT NULL,
  retention_days INTEGER NOT NULL,
  user_notice INTEGER NOT NULL,
  user_notice_message TEXT NOT NULL DEFAULT '',
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
))sql",
         R"sql(CREATE TABLE policy_assignments (
  target_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
  PRIMARY KEY (target_type, target_id)
))sql",
         "CREATE INDEX policy_assignments_policy ON policy_assignments (policy_id)",
         R"sql(CREATE TABLE enrollment_tokens (
  id TEXT PRIMARY KEY,
  token_sha256 TEXT NOT NULL UNIQUE,
  pool_id TEXT,
  expires_at BIGINT,
  max_uses BIGINT,
  uses BIGINT NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
))sql",
         "CREATE INDEX enrollment_tokens_created ON enrollment_tokens (created_at, id)",
         R"sql(CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  computer_id TEXT NOT NULL,
  computer_name TEXT NOT NULL DEFAULT '',
  policy_id TEXT,
  policy_name TEXT NOT NULL DEFAULT '',
  username TEXT NOT NULL DEFAULT '',
  start_time BIGINT NOT NULL,
  end_time BIGINT,
  status TEXT NOT NULL,
  size_bytes BIGINT NOT NULL DEFAULT 0,
  segment_count BIGINT NOT NULL DEFAULT 0,
  duration_ms BIGINT NOT NULL DEFAULT 0,
  retention_days INTEGER NOT NULL,
  expires_at BIGINT,
  legal_hold INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
))sql",
         "CREATE INDEX recordings_start ON recordings (start_time DESC, id DESC)",
         "CREATE INDEX recordings_computer ON recordings (computer_id, start_time DESC, id DESC)",
         "CREATE INDEX recordings_user ON recordings (username, start_time DESC, id DESC)",
         "CREATE INDEX recordings_policy ON recordings (policy_id)",
         "CREATE INDEX recordings_expires ON recordings (expires_at)",
         R"sql(CREATE TABLE segments (
  recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  object_key TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  start_offset_ms BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  index_json TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (recording_id, seq)
))sql",
         R"sql(CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  password_changed_at BIGINT NOT NULL DEFAULT 0,
  failed_logins BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0
))sql",
         R"sql(CREATE TABLE roles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  builtin INTEGER NOT NULL DEFAULT 0
))sql",
         R"sql(CREATE TABLE role_permissions (
  role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  permission TEXT NOT NULL,
  PRIMARY KEY (role_id, permission)
))sql",
         // '' stands for "no scope" so the primary key can hold every grant.
         R"sql(CREATE TABLE role_grants (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles(id),
  scope_type TEXT NOT NULL DEFAULT '',
  scope_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (user_id, role_id, scope_type, scope_id)
))sql",
         "CREATE INDEX role_grants_role ON role_grants (role_id)",
         R"sql(CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  last_used_at BIGINT NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0
))sql",
         "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
         R"sql(CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  entry_time BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  details_json TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
))sql",
         "CREATE INDEX audit_log_time ON audit_log (entry_time)",
         R"sql(CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL
))sql",
     }},
    // A recording keeps the pool it was made in: scoped visibility must not
    // follow a computer moved to another pool. Existing rows take their
    // computer's pool at upgrade time, the best record there is.
    {2,
     "0002_recording_pool",
     {
         "ALTER TABLE recordings ADD COLUMN pool_id TEXT",
         "UPDATE recordings SET pool_id = (SELECT c.pool_id FROM computers c WHERE c.id = recordings.computer_id)",
         "CREATE INDEX recordings_pool ON recordings (pool_id, start_time DESC, id DESC)",
     }},
    // 2, 4 and 5 are other changes of the same release.
    {3,
     "0003_sign_in_and_agent_silence",
     {
         // A generated first password must be replaced at the first sign-in.
         "ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0",
         // last_seen_at of the silence already reported (agent.silent), so
         // each silence is reported once.
         "ALTER TABLE computers ADD COLUMN silence_noted_at BIGINT NOT NULL DEFAULT 0",
     }},
    // 4: signed checkpoints of the audit chain (see audit/chain.hpp) and the
    // public keys servers announce (informational: trust comes from the
    // keyring file outside the catalog).
    {4,
     "0004_audit_checkpoints",
     {
         R"sql(CREATE TABLE audit_checkpoints (
  n BIGINT PRIMARY KEY,
  seq BIGINT NOT NULL,
  entry_hash TEXT NOT NULL,
  prev_signature TEXT NOT NULL,
  signed_at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  replica TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
))sql",
         R"sql(CREATE TABLE signing_keys (
  key_id TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,
  public_key TEXT NOT NULL,
  first_seen_at BIGINT NOT NULL
))sql",
     }},
    // What the agent set aside (recordings the server refused for good), as
    // its heartbeat reports them: {"count", "items": [...]} or null.
    {5,
     "0005_agent_set_aside",
     {
         "ALTER TABLE computers ADD COLUMN set_aside_json TEXT NOT NULL DEFAULT 'null'",
     }},
    // 13 (reserved for issue 13, activity events): each segment's events
    // document and its events. event_time (the recording's start_time +
    // t_ms, fixed when stored) orders the search across recordings; window
    // titles are matched by substring, which no B-tree index serves, so the
    // search narrows by time, recording and type first.
    {13,
     "0013_activity_events",
     {
         "ALTER TABLE segments ADD COLUMN events_sha256 TEXT",
         R"sql(CREATE TABLE event_documents (
  recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  object_key TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  event_count BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (recording_id, seq)
))sql",
         R"sql(CREATE TABLE recording_events (
  recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  t_ms BIGINT NOT NULL,
  event_time BIGINT NOT NULL,
  type TEXT NOT NULL,
  title TEXT,
  app TEXT,
  process TEXT,
  pid BIGINT,
  width BIGINT,
  height BIGINT,
  PRIMARY KEY (recording_id, seq, idx)
))sql",
         "CREATE INDEX recording_events_media ON recording_events (recording_id, t_ms, seq, idx)",
         "CREATE INDEX recording_events_time ON recording_events (event_time DESC, recording_id DESC, seq DESC, idx DESC)",
         "CREATE INDEX recording_events_type ON recording_events (type, event_time DESC)",
         // The policy's idle_seconds: after this long without input and
         // screen change the agent marks the session idle.
         "ALTER TABLE policies ADD COLUMN idle_seconds INTEGER NOT NULL DEFAULT 30",
     }},
    // 14, evidence (docs/evidence.md): agents' Ed25519 public keys (no foreign
    // key: recordings outlive their computer and stay verifiable) and each
    // segment's agent signature ('' for segments of agents without a key).
    {14,
     "0014_agent_keys_and_segment_signatures",
     {
         R"sql(CREATE TABLE agent_keys (
  key_id TEXT PRIMARY KEY,
  computer_id TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT
))sql",
         "CREATE INDEX agent_keys_computer ON agent_keys (computer_id, created_at)",
         "ALTER TABLE segments ADD COLUMN signature_key_id TEXT NOT NULL DEFAULT ''",
         "ALTER TABLE segments ADD COLUMN signature TEXT NOT NULL DEFAULT ''",
     }},
    // Event-triggered recording (mode "events"): the triggers as the JSON
    // list of the API (policy::triggers_to_json; read back with its codec),
    // minutes recorded after the last trigger ends, seconds kept before it.
    {15,
     "0015_event_triggers",
     {
         "ALTER TABLE policies ADD COLUMN triggers_json TEXT NOT NULL DEFAULT '[]'",
         "ALTER TABLE policies ADD COLUMN post_event_minutes INTEGER NOT NULL DEFAULT 10",
         "ALTER TABLE policies ADD COLUMN pre_event_seconds INTEGER NOT NULL DEFAULT 30",
     }},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace deskaudit::catalog
