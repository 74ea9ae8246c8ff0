// Administrators, roles, tokens, the audit log and leases of SociCatalog.
#include <map>
#include <set>

#include "catalog/page_token.hpp"
#include "catalog/rows.hpp"
#include "catalog/soci_catalog.hpp"
#include "common/crypto.hpp"

namespace deskaudit::catalog {

using sql::Backend;
using sql::Sql;

namespace {

// Serialises audit appends across every replica sharing the database
// ("dskadu"; the migration lock is "dskadt").
constexpr std::string_view kAuditLockSql = "SELECT pg_advisory_xact_lock(110446885561461)";

std::string_view token_kind_text(TokenKind k) { return k == TokenKind::session ? "session" : "api"; }

}  // namespace

// --- users ---------------------------------------------------------------------

Status SociCatalog::create_user(const User& u) {
  if (u.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (u.username.empty()) return fail(Errc::invalid_argument, "username must not be empty", "username");
  return run("create_user", "the username " + rows::quote_id(u.username) + " is taken", [&](sql::Session& s) -> Status {
    Sql q(
        "INSERT INTO users (id, username, password_hash, disabled, created_at, password_changed_at, "
        "failed_logins, locked_until, must_change_password) VALUES (");
    q.bind(u.id)(", ").bind(u.username)(", ").bind(u.password_hash)(", ").bind(u.disabled)(", ").bind(u.created_at);
    q(", ").bind(u.password_changed_at)(", ").bind(u.failed_logins)(", ").bind(u.locked_until)(", ");
    q.bind(u.must_change_password)(")");
    sql::exec(*s, q);
    return {};
  });
}

Result<User> SociCatalog::get_user(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kUserColumns)(" FROM users u WHERE u.id = ").bind(id);
  return fetch_required<rows::UserRow>("get_user", std::move(q), "user " + rows::quote_id(id) + " not found");
}

Result<User> SociCatalog::find_user(std::string_view username) {
  Sql q("SELECT ");
  q(rows::kUserColumns)(" FROM users u WHERE u.username = ").bind(username);
  return fetch_required<rows::UserRow>("find_user", std::move(q), "user " + rows::quote_id(username) + " not found");
}

Result<std::vector<User>> SociCatalog::list_users() {
  return run("list_users", "", [&](sql::Session& s) -> Result<std::vector<User>> {
    Sql q("SELECT ");
    q(rows::kUserColumns)(" FROM users u ORDER BY u.username, u.id");
    return rows::fetch_all<rows::UserRow>(*s, q);
  });
}

Status SociCatalog::update_user(const User& u) {
  return run("update_user", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE users SET password_hash = ");
    q.bind(u.password_hash)(", password_changed_at = ").bind(u.password_changed_at)(", disabled = ").bind(u.disabled);
    q(", must_change_password = ").bind(u.must_change_password);
    q(", failed_logins = ").bind(u.failed_logins)(", locked_until = ").bind(u.locked_until)(" WHERE id = ").bind(u.id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "user " + rows::quote_id(u.id) + " not found");
    return {};
  });
}

Result<LoginFailures> SociCatalog::note_failed_login(std::string_view user_id, EpochMs now, const LockoutRule& rule) {
  if (rule.max_failures < 1 || rule.base_ms < 1 || rule.max_ms < rule.base_ms) {
    return fail(Errc::invalid_argument, "lockout rule: max_failures and base_ms must be positive, max_ms >= base_ms");
  }
  // The smallest shift at which the lock reaches max_ms: below it
  // base_ms << shift stays under max_ms, so the SQL shift never overflows.
  std::int64_t full_shift = 0;
  while (full_shift < 62 && (rule.base_ms << full_shift) < rule.max_ms) ++full_shift;
  return run("note_failed_login", "", [&](sql::Session& s) -> Result<LoginFailures> {
    // One statement: the row lock (PostgreSQL) or the write lock (SQLite)
    // orders parallel failures, and each sees the count of the one before.
    // Expressions read the row's values from before this update.
    // Bound values are cast: PostgreSQL cannot type "$1 + $2" by itself.
    Sql q("UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 < CAST(");
    q.bind(rule.max_failures)(" AS BIGINT) THEN locked_until WHEN failed_logins + 1 - CAST(").bind(rule.max_failures);
    q(" AS BIGINT) >= CAST(").bind(full_shift)(" AS BIGINT) THEN CAST(").bind(now)(" AS BIGINT) + CAST(");
    q.bind(rule.max_ms)(" AS BIGINT) ELSE CAST(").bind(now)(" AS BIGINT) + (CAST(").bind(rule.base_ms);
    q(" AS BIGINT) << CAST(failed_logins + 1 - CAST(").bind(rule.max_failures)(" AS BIGINT) AS INTEGER)) END WHERE id = ");
    q.bind(user_id)(" RETURNING failed_logins, locked_until");
    std::optional<LoginFailures> out;
    long long failures = 0, locked = 0;
    sql::query(
        *s, q,
        [&](soci::statement& st) {
          st.exchange(soci::into(failures));
          st.exchange(soci::into(locked));
        },
        [&] { out = LoginFailures{failures, locked}; });
    if (!out) return fail(Errc::not_found, "user " + rows::quote_id(user_id) + " not found");
    return *out;
  });
}

Status SociCatalog::clear_failed_logins(std::string_view user_id) {
  return run("clear_failed_logins", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ");
    q.bind(user_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "user " + rows::quote_id(user_id) + " not found");
    return {};
  });
}

Status SociCatalog::set_password(std::string_view user_id, std::string_view password_hash, EpochMs changed_at,
                                 bool must_change) {
  return run("set_password", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE users SET password_hash = ");
    q.bind(password_hash)(", password_changed_at = ").bind(changed_at)(", must_change_password = ").bind(must_change);
    q(" WHERE id = ").bind(user_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "user " + rows::quote_id(user_id) + " not found");
    return {};
  });
}

Status SociCatalog::delete_user(std::string_view id) {
  return run("delete_user", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    sql::exec(*s, "DELETE FROM role_grants WHERE user_id = ", id);
    sql::exec(*s, "DELETE FROM api_tokens WHERE user_id = ", id);
    if (sql::exec(*s, "DELETE FROM users WHERE id = ", id) == 0)
      return fail(Errc::not_found, "user " + rows::quote_id(id) + " not found");
    tx.commit();
    return {};
  });
}

Result<std::int64_t> SociCatalog::count_users() {
  return run("count_users", "", [&](sql::Session& s) -> Result<std::int64_t> {
    Sql q("SELECT COUNT(*) FROM users");
    return sql::query_int(*s, q).value_or(0);
  });
}

// --- roles ---------------------------------------------------------------------

Status SociCatalog::upsert_role(const Role& role) {
  if (role.id.empty()) return fail(Errc::invalid_argument, "role id must not be empty", "id");
  return run("upsert_role", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    Sql q("INSERT INTO roles (id, name, description, builtin) VALUES (");
    q.bind(role.id)(", ").bind(role.name)(", ").bind(role.description)(", ").bind(role.builtin)(")");
    q(" ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, "
      "builtin = excluded.builtin");
    sql::exec(*s, q);
    sql::exec(*s, "DELETE FROM role_permissions WHERE role_id = ", role.id);
    for (const auto& permission : std::set<std::string>(role.permissions.begin(), role.permissions.end())) {
      Sql add("INSERT INTO role_permissions (role_id, permission) VALUES (");
      add.bind(role.id)(", ").bind(permission)(")");
      sql::exec(*s, add);
    }
    tx.commit();
    return {};
  });
}

namespace {

std::vector<Role> load_roles(soci::session& s, std::optional<std::string_view> id) {
  Sql q("SELECT id, name, description, builtin FROM roles");
  if (id) q(" WHERE id = ").bind(*id);
  q(" ORDER BY id");
  std::string rid, name, description;
  int builtin = 0;
  std::vector<Role> roles;
  sql::query(
      s, q,
      [&](soci::statement& st) {
        st.exchange(soci::into(rid));
        st.exchange(soci::into(name));
        st.exchange(soci::into(description));
        st.exchange(soci::into(builtin));
      },
      [&] {
        roles.push_back(Role{rid, name, description, {}, builtin != 0});
      });
  if (roles.empty()) return roles;
  Sql p("SELECT role_id, permission FROM role_permissions");
  if (id) p(" WHERE role_id = ").bind(*id);
  p(" ORDER BY role_id, permission");
  std::map<std::string, std::vector<std::string>> perms;
  std::string permission;
  sql::query(
      s, p,
      [&](soci::statement& st) {
        st.exchange(soci::into(rid));
        st.exchange(soci::into(permission));
      },
      [&] { perms[rid].push_back(permission); });
  for (auto& r : roles) {
    if (auto it = perms.find(r.id); it != perms.end()) r.permissions = std::move(it->second);
  }
  return roles;
}

}  // namespace

Result<Role> SociCatalog::get_role(std::string_view id) {
  return run("get_role", "", [&](sql::Session& s) -> Result<Role> {
    auto roles = load_roles(*s, id);
    if (roles.empty()) return fail(Errc::not_found, "role " + rows::quote_id(id) + " not found");
    return std::move(roles.front());
  });
}

Result<std::vector<Role>> SociCatalog::list_roles() {
  return run("list_roles", "",
             [&](sql::Session& s) -> Result<std::vector<Role>> { return load_roles(*s, std::nullopt); });
}

Status SociCatalog::delete_role(std::string_view id) {
  return run("delete_role", "role " + rows::quote_id(id) + " is still granted", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    Sql builtin("SELECT builtin FROM roles WHERE id = ");
    builtin.bind(id);
    const auto flag = sql::query_int(*s, builtin);
    if (!flag) return fail(Errc::not_found, "role " + rows::quote_id(id) + " not found");
    if (*flag != 0) return fail(Errc::conflict, "role " + rows::quote_id(id) + " is built in and cannot be deleted");
    Sql grants("SELECT COUNT(*) FROM role_grants WHERE role_id = ");
    grants.bind(id);
    if (const auto n = sql::query_int(*s, grants).value_or(0); n > 0) {
      return fail(Errc::conflict,
                  "role " + rows::quote_id(id) + " is still granted to " + std::to_string(n) + " user(s)");
    }
    sql::exec(*s, "DELETE FROM roles WHERE id = ", id);
    tx.commit();
    return {};
  });
}

namespace {

Status check_grant_scope(const RoleGrant& g) {
  if (g.scope_type.has_value() != g.scope_id.has_value() || (g.scope_id && g.scope_id->empty())) {
    return fail(Errc::invalid_argument, "a grant's scope needs both a type and a non-empty id, or neither", "scope");
  }
  return {};
}

void bind_grant_key(Sql& q, const RoleGrant& g) {
  q(" user_id = ").bind(g.user_id)(" AND role_id = ").bind(g.role_id)(" AND scope_type = ");
  q.bind(g.scope_type ? to_string(*g.scope_type) : std::string_view())(" AND scope_id = ")
      .bind(g.scope_id.value_or(""));
}

}  // namespace

Status SociCatalog::grant_role(const RoleGrant& g) {
  if (auto st = check_grant_scope(g); !st) return st;
  return run("grant_role", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    if (!rows::row_exists(*s, "users", g.user_id)) {
      return fail(Errc::not_found, "user " + rows::quote_id(g.user_id) + " not found", "user_id");
    }
    if (!rows::row_exists(*s, "roles", g.role_id)) {
      return fail(Errc::not_found, "role " + rows::quote_id(g.role_id) + " not found", "role_id");
    }
    Sql q("INSERT INTO role_grants (user_id, role_id, scope_type, scope_id) VALUES (");
    q.bind(g.user_id)(", ").bind(g.role_id)(", ").bind(g.scope_type ? to_string(*g.scope_type) : std::string_view());
    q(", ").bind(g.scope_id.value_or(""))(") ON CONFLICT (user_id, role_id, scope_type, scope_id) DO NOTHING");
    sql::exec(*s, q);
    tx.commit();
    return {};
  });
}

Status SociCatalog::revoke_role(const RoleGrant& g) {
  if (auto st = check_grant_scope(g); !st) return st;
  return run("revoke_role", "", [&](sql::Session& s) -> Status {
    Sql q("DELETE FROM role_grants WHERE");
    bind_grant_key(q, g);
    if (sql::exec(*s, q) == 0) {
      return fail(Errc::not_found, "role " + rows::quote_id(g.role_id) + " is not granted to user " +
                                       rows::quote_id(g.user_id) + " with that scope");
    }
    return {};
  });
}

Result<std::vector<RoleGrant>> SociCatalog::list_grants(std::string_view user_id) {
  return run("list_grants", "", [&](sql::Session& s) -> Result<std::vector<RoleGrant>> {
    Sql q("SELECT user_id, role_id, scope_type, scope_id FROM role_grants WHERE user_id = ");
    q.bind(user_id)(" ORDER BY role_id, scope_type, scope_id");
    std::string uid, rid, type, sid;
    std::vector<RoleGrant> out;
    sql::query(
        *s, q,
        [&](soci::statement& st) {
          st.exchange(soci::into(uid));
          st.exchange(soci::into(rid));
          st.exchange(soci::into(type));
          st.exchange(soci::into(sid));
        },
        [&] {
          RoleGrant g{uid, rid, std::nullopt, std::nullopt};
          if (!type.empty()) {
            g.scope_type = type == "pool" ? TargetType::pool : TargetType::computer;
            g.scope_id = sid;
          }
          out.push_back(std::move(g));
        });
    return out;
  });
}

// --- tokens --------------------------------------------------------------------

Status SociCatalog::create_token(const ApiToken& t) {
  if (t.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (!is_sha256_hex(t.token_sha256)) {
    return fail(Errc::invalid_argument, "token_sha256 must be 64 lowercase hex characters", "token_sha256");
  }
  return run("create_token", "a token with this id or secret already exists", [&](sql::Session& s) -> Status {
    if (!rows::row_exists(*s, "users", t.user_id)) {
      return fail(Errc::not_found, "user " + rows::quote_id(t.user_id) + " not found", "user_id");
    }
    Sql q(
        "INSERT INTO api_tokens (id, user_id, kind, name, token_sha256, created_at, expires_at, last_used_at, "
        "revoked) VALUES (");
    q.bind(t.id)(", ").bind(t.user_id)(", ").bind(token_kind_text(t.kind))(", ").bind(t.name)(", ");
    q.bind(t.token_sha256)(", ").bind(t.created_at)(", ").bind(t.expires_at)(", ").bind(t.last_used_at)(", ");
    q.bind(t.revoked)(")");
    sql::exec(*s, q);
    return {};
  });
}

Result<ApiToken> SociCatalog::find_token(std::string_view token_sha256) {
  Sql q("SELECT ");
  q(rows::kTokenColumns)(" FROM api_tokens t WHERE t.token_sha256 = ").bind(token_sha256);
  return fetch_required<rows::TokenRow>("find_token", std::move(q), "token not found");
}

Result<ApiToken> SociCatalog::get_token(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kTokenColumns)(" FROM api_tokens t WHERE t.id = ").bind(id);
  return fetch_required<rows::TokenRow>("get_token", std::move(q), "token " + rows::quote_id(id) + " not found");
}

Result<std::vector<ApiToken>> SociCatalog::list_tokens(std::string_view user_id) {
  return run("list_tokens", "", [&](sql::Session& s) -> Result<std::vector<ApiToken>> {
    Sql q("SELECT ");
    q(rows::kTokenColumns)(" FROM api_tokens t");
    if (!user_id.empty()) q(" WHERE t.user_id = ").bind(user_id);
    q(" ORDER BY t.created_at, t.id");
    return rows::fetch_all<rows::TokenRow>(*s, q);
  });
}

Status SociCatalog::revoke_token(std::string_view id) {
  return run("revoke_token", "", [&](sql::Session& s) -> Status {
    if (sql::exec(*s, "UPDATE api_tokens SET revoked = 1 WHERE id = ", id) == 0)
      return fail(Errc::not_found, "token " + rows::quote_id(id) + " not found");
    return {};
  });
}

Result<std::int64_t> SociCatalog::revoke_user_tokens(std::string_view user_id, std::optional<TokenKind> kind,
                                                     std::string_view keep_id) {
  return run("revoke_user_tokens", "", [&](sql::Session& s) -> Result<std::int64_t> {
    Sql q("UPDATE api_tokens SET revoked = 1 WHERE revoked = 0 AND user_id = ");
    q.bind(user_id);
    if (kind) q(" AND kind = ").bind(token_kind_text(*kind));
    if (!keep_id.empty()) q(" AND id <> ").bind(keep_id);
    return sql::exec(*s, q);
  });
}

Status SociCatalog::touch_token(std::string_view id, EpochMs at) {
  return run("touch_token", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE api_tokens SET last_used_at = ");
    q.bind(at)(" WHERE id = ").bind(id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "token " + rows::quote_id(id) + " not found");
    return {};
  });
}

// --- audit log -----------------------------------------------------------------

Result<AuditEntry> SociCatalog::append_audit(AuditEntry entry) {
  if (entry.action.empty()) return fail(Errc::invalid_argument, "audit action must not be empty", "action");
  return run("append_audit", "", [&](sql::Session& s) -> Result<AuditEntry> {
    // SQLite: BEGIN IMMEDIATE already holds the database's single write lock.
    sql::Tx tx(*s, backend_);
    if (backend_ == Backend::postgresql) sql::exec(*s, kAuditLockSql);
    Sql last("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    long long seq = 0;
    std::string hash;
    sql::query(
        *s, last,
        [&](soci::statement& st) {
          st.exchange(soci::into(seq));
          st.exchange(soci::into(hash));
        },
        [] {});
    entry.seq = seq + 1;
    entry.prev_hash = hash;
    entry.hash = audit_entry_hash(entry);
    Sql q("INSERT INTO audit_log (seq, entry_time, actor, action, target, details_json, prev_hash, hash) VALUES (");
    q.bind(entry.seq)(", ").bind(entry.time)(", ").bind(entry.actor)(", ").bind(entry.action)(", ");
    q.bind(entry.target)(", ").bind(entry.details_json)(", ").bind(entry.prev_hash)(", ").bind(entry.hash)(")");
    sql::exec(*s, q);
    tx.commit();
    return entry;
  });
}

Result<PageOf<AuditEntry>> SociCatalog::list_audit(const AuditFilter& f, const Page& page) {
  const int limit = clamp_limit(page.limit);
  std::optional<std::int64_t> before;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "a", 1);
    if (!fields) return std::unexpected(fields.error());
    auto seq = page_token_int((*fields)[0]);
    if (!seq) return std::unexpected(seq.error());
    before = *seq;
  }
  return run("list_audit", "", [&](sql::Session& s) -> Result<PageOf<AuditEntry>> {
    Sql q("SELECT ");
    q(rows::kAuditColumns)(" FROM audit_log l WHERE 1 = 1");
    if (!f.actor.empty()) q(" AND l.actor = ").bind(f.actor);
    if (!f.action.empty()) {
      if (f.action.ends_with('.')) {
        q(" AND l.action LIKE ").bind(sql::like_prefix(f.action))(" ESCAPE '!'");
      } else {
        q(" AND l.action = ").bind(f.action);
      }
    }
    if (!f.target.empty()) q(" AND l.target = ").bind(f.target);
    if (f.start_time) q(" AND l.entry_time >= ").bind(*f.start_time);
    if (f.end_time) q(" AND l.entry_time <= ").bind(*f.end_time);
    if (before) q(" AND l.seq < ").bind(*before);
    q(" ORDER BY l.seq DESC LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::AuditRow>(*s, q), limit,
                           [](const AuditEntry& e) { return encode_page_token("a", {std::to_string(e.seq)}); });
  });
}

Result<std::vector<AuditEntry>> SociCatalog::audit_after(std::int64_t after_seq, int limit) {
  const int n = std::clamp(limit, 1, 5000);
  return run("audit_after", "", [&](sql::Session& s) -> Result<std::vector<AuditEntry>> {
    Sql q("SELECT ");
    q(rows::kAuditColumns)(" FROM audit_log l WHERE l.seq > ")
        .bind(after_seq)(" ORDER BY l.seq LIMIT " + std::to_string(n));
    return rows::fetch_all<rows::AuditRow>(*s, q);
  });
}

Result<AuditCheckpoint> SociCatalog::sign_audit_head(std::string_view key_id, const CheckpointSigner& sign,
                                                     std::string_view kind, std::string_view replica, EpochMs now) {
  if (key_id.empty() || kind.empty()) return fail(Errc::invalid_argument, "checkpoint key id and kind must not be empty");
  return run("sign_audit_head", "", [&](sql::Session& s) -> Result<AuditCheckpoint> {
    sql::Tx tx(*s, backend_);
    if (backend_ == Backend::postgresql) sql::exec(*s, kAuditLockSql);
    Sql head_q("SELECT ");
    head_q(rows::kAuditColumns)(" FROM audit_log l ORDER BY l.seq DESC LIMIT 1");
    auto head = rows::fetch_one<rows::AuditRow>(*s, head_q);
    if (!head) return fail(Errc::not_found, "the audit log is empty: nothing to sign");
    Sql last_q("SELECT ");
    last_q(rows::kCheckpointColumns)(" FROM audit_checkpoints k ORDER BY k.n DESC LIMIT 1");
    auto last = rows::fetch_one<rows::CheckpointRow>(*s, last_q);
    if (last) {
      // Never sign over a log that no longer holds what was signed before:
      // that would bless a rewrite or a cut (verify reports it instead).
      Sql at("SELECT hash FROM audit_log WHERE seq = ");
      at.bind(static_cast<std::int64_t>(last->seq));
      const auto hash = sql::query_text(*s, at);
      if (!hash || *hash != last->entry_hash) {
        return fail(Errc::conflict, "the audit log no longer matches checkpoint n=" + std::to_string(last->n) + " (seq " +
                                        std::to_string(last->seq) + "): not signing over it; run deskaudit audit verify");
      }
      if (last->seq == head->seq) return *last;
    }
    AuditCheckpoint cp;
    cp.n = last ? last->n + 1 : 1;
    cp.seq = head->seq;
    cp.entry_hash = head->hash;
    cp.prev_signature = last ? last->signature : "";
    cp.signed_at = now;
    cp.kind = std::string(kind);
    cp.replica = std::string(replica);
    cp.key_id = std::string(key_id);
    cp.signature = sign(audit::signed_message(cp));
    Sql q("INSERT INTO audit_checkpoints (n, seq, entry_hash, prev_signature, signed_at, kind, replica, key_id, signature) "
          "VALUES (");
    q.bind(cp.n)(", ").bind(cp.seq)(", ").bind(cp.entry_hash)(", ").bind(cp.prev_signature)(", ").bind(cp.signed_at);
    q(", ").bind(cp.kind)(", ").bind(cp.replica)(", ").bind(cp.key_id)(", ").bind(cp.signature)(")");
    sql::exec(*s, q);
    tx.commit();
    return cp;
  });
}

Result<std::vector<AuditCheckpoint>> SociCatalog::audit_checkpoints_after(std::int64_t after_n, int limit) {
  const int n = std::clamp(limit, 1, 5000);
  return run("audit_checkpoints_after", "", [&](sql::Session& s) -> Result<std::vector<AuditCheckpoint>> {
    Sql q("SELECT ");
    q(rows::kCheckpointColumns)(" FROM audit_checkpoints k WHERE k.n > ")
        .bind(after_n)(" ORDER BY k.n LIMIT " + std::to_string(n));
    return rows::fetch_all<rows::CheckpointRow>(*s, q);
  });
}

Status SociCatalog::publish_key(const PublishedKey& key) {
  if (key.key_id.empty() || key.public_key.empty()) return fail(Errc::invalid_argument, "key id and public key must not be empty");
  return run("publish_key", "", [&](sql::Session& s) -> Status {
    Sql q("INSERT INTO signing_keys (key_id, algorithm, public_key, first_seen_at) VALUES (");
    q.bind(key.key_id)(", ").bind(key.algorithm)(", ").bind(key.public_key)(", ").bind(key.first_seen_at);
    q(") ON CONFLICT (key_id) DO NOTHING");
    sql::exec(*s, q);
    return {};
  });
}

Result<std::vector<PublishedKey>> SociCatalog::list_published_keys() {
  return run("list_published_keys", "", [&](sql::Session& s) -> Result<std::vector<PublishedKey>> {
    Sql q("SELECT ");
    q(rows::kPublishedKeyColumns)(" FROM signing_keys s ORDER BY s.first_seen_at, s.key_id");
    return rows::fetch_all<rows::PublishedKeyRow>(*s, q);
  });
}

// --- leases --------------------------------------------------------------------

Result<bool> SociCatalog::acquire_lease(std::string_view name, std::string_view holder, EpochMs now,
                                        std::int64_t ttl_ms) {
  if (name.empty() || holder.empty()) return fail(Errc::invalid_argument, "lease name and holder must not be empty");
  if (ttl_ms <= 0) return fail(Errc::invalid_argument, "lease ttl must be positive", "ttl_ms");
  std::int64_t until = 0;
  if (__builtin_add_overflow(now, ttl_ms, &until)) return fail(Errc::invalid_argument, "lease expiry overflows");
  return run("acquire_lease", "", [&](sql::Session& s) -> Result<bool> {
    // One atomic statement on both backends: insert when absent, take over
    // when expired or ours, otherwise change nothing (0 rows).
    Sql q("INSERT INTO leases (name, holder, expires_at) VALUES (");
    q.bind(name)(", ").bind(holder)(", ").bind(until)(") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, ");
    q("expires_at = excluded.expires_at WHERE leases.holder = excluded.holder OR leases.expires_at <= ").bind(now);
    return sql::exec(*s, q) > 0;
  });
}

}  // namespace deskaudit::catalog
