#include "catalog/soci_catalog.hpp"

#include <fcntl.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "catalog/migrations.hpp"
#include "catalog/page_token.hpp"
#include "catalog/rows.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"

namespace deskaudit::catalog {

using sql::Backend;
using sql::Sql;

namespace {

// Any constant works as long as every replica uses the same one; this one
// is "dskadt" in ASCII (0x64736b616474) so it is recognisable in pg_locks.
constexpr std::string_view kMigrationLockSql = "SELECT pg_advisory_xact_lock(110446885561460)";

EpochMs wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status require_id(std::string_view value, std::string_view field) {
  if (value.empty()) return fail(Errc::invalid_argument, std::string(field) + " must not be empty", std::string(field));
  return {};
}

std::string name_token(std::string_view kind, const std::string& name, const std::string& id) {
  return encode_page_token(kind, {name, id});
}

// Keyset continuation for lists ordered by (name, id) ascending.
Status add_name_keyset(Sql& q, const Page& page, std::string_view kind, std::string_view name_col,
                       std::string_view id_col) {
  if (page.next_token.empty()) return {};
  auto fields = decode_page_token(page.next_token, kind, 2);
  if (!fields) return std::unexpected(fields.error());
  q(" AND (")(name_col)(", ")(id_col)(") > (").bind((*fields)[0])(", ").bind((*fields)[1])(")");
  return {};
}

}  // namespace

SociCatalog::SociCatalog(Backend backend, std::unique_ptr<soci::connection_pool> pool)
    : backend_(backend), pool_(std::move(pool)) {}

SociCatalog::~SociCatalog() = default;

Result<std::unique_ptr<SociCatalog>> SociCatalog::open(const SociOptions& options) {
  if (options.pool_size < 1 || options.pool_size > 256) {
    return fail(Errc::invalid_argument, "catalog pool size must be 1..256", "pool_size");
  }
  if (options.target.empty()) return fail(Errc::invalid_argument, "catalog database location is empty");
  const auto size = static_cast<std::size_t>(options.pool_size);
  auto pool = std::make_unique<soci::connection_pool>(size);
  std::string connect;
  if (options.backend == Backend::sqlite) {
    if (options.target.find('"') != std::string::npos) {
      return fail(Errc::invalid_argument, "SQLite path must not contain '\"': " + options.target);
    }
    const std::filesystem::path path(options.target);
    std::error_code ec;
    if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), ec)) {
      if (auto made = ensure_private_dir(path.parent_path()); !made) return std::unexpected(made.error());
    }
    // Created 0600 up front: the catalog holds credential hashes, and SQLite
    // would otherwise create the file with the umask's permissions.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::unavailable, errno_message("open catalog database " + options.target, errno));
    ::close(fd);
    connect = "db=\"" + options.target + "\" timeout=" + std::to_string(options.sqlite_busy_timeout_ms / 1000);
  } else {
    connect = options.target;
  }
  for (std::size_t i = 0; i < size; ++i) {
    soci::session& s = pool->at(i);
    try {
      if (options.backend == Backend::sqlite) {
        s.open(soci::sqlite3, connect);
        std::string mode;
        s << "PRAGMA journal_mode=WAL", soci::into(mode);
        if (mode != "wal") {
          return fail(Errc::unavailable, "catalog database " + options.target + " cannot use WAL mode (got '" + mode +
                                             "'); is it on a network file system?");
        }
        s << "PRAGMA busy_timeout=" + std::to_string(options.sqlite_busy_timeout_ms);
        s << "PRAGMA foreign_keys=ON";
        s << "PRAGMA synchronous=NORMAL";
      } else {
        s.open(soci::postgresql, connect);
        sql::prepare_postgresql_session(s);
      }
    } catch (const soci::soci_error& e) {
      // The driver text names host and port, never the password.
      const std::string where =
          options.backend == Backend::sqlite ? "SQLite database " + options.target : std::string("PostgreSQL");
      spdlog::error("catalog: cannot open {}: {}", where, e.get_error_message());
      return fail(Errc::unavailable, "cannot open catalog " + where + ": " + e.get_error_message());
    }
  }
  return std::unique_ptr<SociCatalog>(new SociCatalog(options.backend, std::move(pool)));
}

std::string SociCatalog::backend() const { return backend_ == Backend::sqlite ? "sqlite" : "postgresql"; }

// --- migrations ---------------------------------------------------------------

Status SociCatalog::migrate() {
  const auto all = migrations();
  auto current = schema_version();
  if (!current) return std::unexpected(current.error());
  int latest = 0;
  for (const auto& m : all) latest = std::max(latest, m.version);
  if (*current > latest) {
    return fail(Errc::conflict, "catalog schema version " + std::to_string(*current) +
                                    " is newer than this build supports (" + std::to_string(latest) +
                                    "); upgrade deskaudit");
  }
  for (const auto& m : all) {
    // Not skipped by the highest applied version: features reserve numbers
    // and may land out of order; migrate_one skips what is recorded.
    if (auto st = migrate_one(m); !st) return st;
  }
  return {};
}

Status SociCatalog::migrate_one(const Migration& m) {
  const int version = m.version;
  return run("migrate " + std::string(m.name), "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    // Replicas starting together: one applies, the others wait and skip.
    if (backend_ == Backend::postgresql) sql::exec(*s, kMigrationLockSql);
    sql::exec(*s,
              "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    Sql check("SELECT COUNT(*) FROM schema_migrations WHERE version = ");
    check.bind(version);
    if (sql::query_int(*s, check).value_or(0) > 0) return {};
    for (auto statement : m.statements) sql::exec(*s, statement);
    Sql mark("INSERT INTO schema_migrations (version, applied_at) VALUES (");
    mark.bind(version)(", ").bind(wall_now_ms())(")");
    sql::exec(*s, mark);
    tx.commit();
    spdlog::info("catalog: applied migration {}", m.name);
    return {};
  });
}

Result<int> SociCatalog::schema_version() {
  return run("schema_version", "", [&](sql::Session& s) -> Result<int> {
    Sql exists(backend_ == Backend::sqlite
                   ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
                   : "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                     "AND table_name = 'schema_migrations'");
    if (sql::query_int(*s, exists).value_or(0) == 0) return 0;
    Sql q("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    return static_cast<int>(sql::query_int(*s, q).value_or(0));
  });
}

// --- pools -------------------------------------------------------------------

Status SociCatalog::create_pool(const Pool& pool) {
  if (auto st = require_id(pool.id, "id"); !st) return st;
  if (auto st = require_id(pool.name, "name"); !st) return st;
  return run("create_pool", "a pool with this id or the name " + rows::quote_id(pool.name) + " already exists",
             [&](sql::Session& s) -> Status {
               Sql q("INSERT INTO pools (id, name, description, created_at) VALUES (");
               q.bind(pool.id)(", ").bind(pool.name)(", ").bind(pool.description)(", ").bind(pool.created_at)(")");
               sql::exec(*s, q);
               return {};
             });
}

Result<Pool> SociCatalog::get_pool(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kPoolColumns)(" FROM pools p WHERE p.id = ").bind(id);
  return fetch_required<rows::PoolRow>("get_pool", std::move(q), "pool " + rows::quote_id(id) + " not found");
}

Result<PageOf<Pool>> SociCatalog::list_pools(std::string_view search, const std::optional<Scope>& scope,
                                             const Page& page) {
  const int limit = clamp_limit(page.limit);
  return run("list_pools", "", [&](sql::Session& s) -> Result<PageOf<Pool>> {
    Sql q("SELECT ");
    q(rows::kPoolColumns)(" FROM pools p WHERE 1 = 1");
    if (!search.empty()) {
      const std::string pattern = sql::like_contains(search);
      q(" AND (LOWER(p.name) LIKE LOWER(")
          .bind(pattern)(") ESCAPE '!' OR LOWER(p.id) LIKE LOWER(")
          .bind(pattern)(") ESCAPE '!')");
    }
    if (scope) {
      // A scoped administrator sees the pools named in the scope and the
      // pools of the computers named in it.
      if (scope->computer_ids.empty() && scope->pool_ids.empty()) {
        q(" AND 1 = 0");
      } else {
        q(" AND (");
        if (!scope->pool_ids.empty()) {
          q("p.id IN (").bind_list(scope->pool_ids)(")");
          if (!scope->computer_ids.empty()) q(" OR ");
        }
        if (!scope->computer_ids.empty()) {
          q("p.id IN (SELECT c.pool_id FROM computers c WHERE c.id IN (").bind_list(scope->computer_ids)("))");
        }
        q(")");
      }
    }
    if (auto st = add_name_keyset(q, page, "p", "p.name", "p.id"); !st) return std::unexpected(st.error());
    q(" ORDER BY p.name, p.id LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::PoolRow>(*s, q), limit,
                           [](const Pool& p) { return name_token("p", p.name, p.id); });
  });
}

Status SociCatalog::update_pool(const Pool& pool) {
  if (auto st = require_id(pool.name, "name"); !st) return st;
  return run("update_pool", "a pool named " + rows::quote_id(pool.name) + " already exists",
             [&](sql::Session& s) -> Status {
               Sql q("UPDATE pools SET name = ");
               q.bind(pool.name)(", description = ").bind(pool.description)(" WHERE id = ").bind(pool.id);
               if (sql::exec(*s, q) == 0)
                 return fail(Errc::not_found, "pool " + rows::quote_id(pool.id) + " not found");
               return {};
             });
}

Status SociCatalog::delete_pool(std::string_view id) {
  return run("delete_pool", "pool " + rows::quote_id(id) + " is still in use", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    Sql members("SELECT COUNT(*) FROM computers WHERE pool_id = ");
    members.bind(id);
    const auto count = sql::query_int(*s, members).value_or(0);
    if (count > 0) {
      return fail(Errc::conflict, "pool " + rows::quote_id(id) + " still has " + std::to_string(count) +
                                      " computer(s); move them out first");
    }
    sql::exec(*s, "DELETE FROM policy_assignments WHERE target_type = 'pool' AND target_id = ", id);
    if (sql::exec(*s, "DELETE FROM pools WHERE id = ", id) == 0)
      return fail(Errc::not_found, "pool " + rows::quote_id(id) + " not found");
    tx.commit();
    return {};
  });
}

// --- computers -----------------------------------------------------------------

Status SociCatalog::create_computer(const Computer& c) {
  if (auto st = require_id(c.id, "id"); !st) return st;
  return run("create_computer", "a computer with id " + rows::quote_id(c.id) + " already exists",
             [&](sql::Session& s) -> Status {
               if (c.pool_id) {
                 if (!rows::row_exists(*s, "pools", *c.pool_id)) {
                   return fail(Errc::not_found, "pool " + rows::quote_id(*c.pool_id) + " not found", "pool_id");
                 }
               }
               Sql q(
                   "INSERT INTO computers (id, name, hostname, os, pool_id, created_at, agent_version, capture_json, "
                   "spool_bytes, last_error, session_json, last_seen_at, last_upload_at, last_upload_error, "
                   "last_session_at) VALUES (");
               q.bind(c.id)(", ").bind(c.name)(", ").bind(c.hostname)(", ").bind(c.os)(", ").bind(c.pool_id)(", ");
               q.bind(c.created_at)(", ").bind(c.agent.agent_version)(", ").bind(c.agent.capture_json)(", ");
               q.bind(c.agent.spool_bytes)(", ").bind(c.agent.last_error)(", ").bind(c.agent.session_json)(", ");
               q.bind(c.agent.last_seen_at)(", ").bind(c.agent.last_upload_at)(", ").bind(c.agent.last_upload_error);
               q(", ").bind(c.agent.last_session_at)(")");
               sql::exec(*s, q);
               return {};
             });
}

Result<Computer> SociCatalog::get_computer(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kComputerColumns)(" FROM computers c WHERE c.id = ").bind(id);
  return fetch_required<rows::ComputerRow>("get_computer", std::move(q),
                                           "computer " + rows::quote_id(id) + " not found");
}

Result<PageOf<Computer>> SociCatalog::list_computers(const ComputerFilter& filter, const Page& page) {
  const int limit = clamp_limit(page.limit);
  return run("list_computers", "", [&](sql::Session& s) -> Result<PageOf<Computer>> {
    Sql q("SELECT ");
    q(rows::kComputerColumns)(" FROM computers c WHERE 1 = 1");
    if (!filter.pool_id.empty()) q(" AND c.pool_id = ").bind(filter.pool_id);
    if (!filter.q.empty()) {
      // LOWER on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
      const std::string pattern = sql::like_contains(filter.q);
      q(" AND (LOWER(c.name) LIKE LOWER(")
          .bind(pattern)(") ESCAPE '!' OR LOWER(c.id) LIKE LOWER(")
          .bind(pattern)(") ESCAPE '!')");
    }
    if (filter.scope) rows::add_scope(q, *filter.scope, "c.id", "c.pool_id");
    if (auto st = add_name_keyset(q, page, "c", "c.name", "c.id"); !st) return std::unexpected(st.error());
    q(" ORDER BY c.name, c.id LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::ComputerRow>(*s, q), limit,
                           [](const Computer& c) { return name_token("c", c.name, c.id); });
  });
}

Status SociCatalog::update_computer(const Computer& c) {
  return run("update_computer", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE computers SET name = ");
    q.bind(c.name)(", hostname = ").bind(c.hostname)(", os = ").bind(c.os)(" WHERE id = ").bind(c.id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "computer " + rows::quote_id(c.id) + " not found");
    return {};
  });
}

Status SociCatalog::delete_computer(std::string_view id) {
  return run("delete_computer", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    // Freeze the current name into the recordings that outlive the computer.
    Sql names("UPDATE recordings SET computer_name = (SELECT c.name FROM computers c WHERE c.id = ");
    names.bind(id)(") WHERE computer_id = ")
        .bind(id)(" AND EXISTS (SELECT 1 FROM computers c WHERE c.id = ")
        .bind(id)(")");
    sql::exec(*s, names);
    sql::exec(*s, "DELETE FROM policy_assignments WHERE target_type = 'computer' AND target_id = ", id);
    sql::exec(*s, "DELETE FROM agent_credentials WHERE computer_id = ", id);
    if (sql::exec(*s, "DELETE FROM computers WHERE id = ", id) == 0)
      return fail(Errc::not_found, "computer " + rows::quote_id(id) + " not found");
    tx.commit();
    return {};
  });
}

Status SociCatalog::set_computer_pool(std::string_view computer_id, const std::optional<std::string>& pool_id) {
  return run("set_computer_pool", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    if (pool_id) {
      if (!rows::row_exists(*s, "pools", *pool_id)) {
        return fail(Errc::not_found, "pool " + rows::quote_id(*pool_id) + " not found", "pool_id");
      }
    }
    Sql q("UPDATE computers SET pool_id = ");
    q.bind(pool_id)(" WHERE id = ").bind(computer_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "computer " + rows::quote_id(computer_id) + " not found");
    tx.commit();
    return {};
  });
}

Status SociCatalog::update_agent_heartbeat(std::string_view computer_id, const AgentState& a) {
  return run("update_agent_heartbeat", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE computers SET agent_version = ");
    q.bind(a.agent_version)(", capture_json = ").bind(a.capture_json)(", spool_bytes = ").bind(a.spool_bytes);
    q(", last_error = ").bind(a.last_error)(", session_json = ").bind(a.session_json);
    q(", set_aside_json = ").bind(a.set_aside_json)(", last_seen_at = ");
    q.bind(a.last_seen_at)(" WHERE id = ").bind(computer_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "computer " + rows::quote_id(computer_id) + " not found");
    return {};
  });
}

Status SociCatalog::note_upload(std::string_view computer_id, EpochMs at, std::string_view error) {
  return run("note_upload", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE computers SET ");
    if (error.empty()) {
      q("last_upload_at = ").bind(at)(", last_upload_error = ''");
    } else {
      q("last_upload_error = ").bind(error);
    }
    q(" WHERE id = ").bind(computer_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "computer " + rows::quote_id(computer_id) + " not found");
    return {};
  });
}

Status SociCatalog::note_session_start(std::string_view computer_id, EpochMs at) {
  return run("note_session_start", "", [&](sql::Session& s) -> Status {
    Sql q("UPDATE computers SET last_session_at = ");
    q.bind(at)(" WHERE id = ").bind(computer_id);
    if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "computer " + rows::quote_id(computer_id) + " not found");
    return {};
  });
}

Result<std::vector<SilentComputer>> SociCatalog::list_newly_silent(EpochMs seen_before, int limit) {
  return run("list_newly_silent", "", [&](sql::Session& s) -> Result<std::vector<SilentComputer>> {
    Sql q("SELECT id, last_seen_at FROM computers WHERE last_seen_at > 0 AND last_seen_at < ");
    q.bind(seen_before)(" AND last_seen_at <> silence_noted_at ORDER BY last_seen_at, id LIMIT ");
    q(std::to_string(std::max(1, limit)));
    std::vector<SilentComputer> out;
    std::string id;
    long long seen = 0;
    sql::query(
        *s, q,
        [&](soci::statement& st) {
          st.exchange(soci::into(id));
          st.exchange(soci::into(seen));
        },
        [&] { out.push_back({id, seen}); });
    return out;
  });
}

Result<bool> SociCatalog::note_silence(std::string_view computer_id, EpochMs last_seen_at) {
  return run("note_silence", "", [&](sql::Session& s) -> Result<bool> {
    Sql q("UPDATE computers SET silence_noted_at = last_seen_at WHERE id = ");
    q.bind(computer_id)(" AND last_seen_at = ").bind(last_seen_at);
    return sql::exec(*s, q) > 0;
  });
}

// --- policies ------------------------------------------------------------------

Status SociCatalog::create_policy(const Policy& p) {
  if (auto st = require_id(p.id, "id"); !st) return st;
  if (auto st = require_id(p.name, "name"); !st) return st;
  return run("create_policy", "a policy with this id or the name " + rows::quote_id(p.name) + " already exists",
             [&](sql::Session& s) -> Status {
               const auto& r = p.recording;
               Sql q(
                   "INSERT INTO policies (id, name, mode, period_start, period_end, fps, audio, segment_max_bytes, "
                   "segment_max_minutes, retention_days, user_notice, user_notice_message, version, created_at, "
                   "updated_at, idle_seconds) VALUES (");
               q.bind(p.id)(", ").bind(p.name)(", ").bind(to_string(r.mode))(", ").bind(r.period_start)(", ");
               q.bind(r.period_end)(", ").bind(r.fps)(", ").bind(r.audio)(", ").bind(r.segment_max_bytes)(", ");
               q.bind(r.segment_max_minutes)(", ").bind(r.retention_days)(", ").bind(r.user_notice)(", ");
               q.bind(r.user_notice_message)(", ").bind(p.version)(", ").bind(p.created_at)(", ");
               q.bind(p.updated_at != 0 ? p.updated_at : p.created_at)(", ").bind(r.idle_seconds)(")");
               sql::exec(*s, q);
               return {};
             });
}

Result<Policy> SociCatalog::get_policy(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kPolicyColumns)(" FROM policies p WHERE p.id = ").bind(id);
  return fetch_required<rows::PolicyRow>("get_policy", std::move(q), "policy " + rows::quote_id(id) + " not found");
}

Result<PageOf<Policy>> SociCatalog::list_policies(const Page& page) {
  const int limit = clamp_limit(page.limit);
  return run("list_policies", "", [&](sql::Session& s) -> Result<PageOf<Policy>> {
    Sql q("SELECT ");
    q(rows::kPolicyColumns)(" FROM policies p WHERE 1 = 1");
    if (auto st = add_name_keyset(q, page, "y", "p.name", "p.id"); !st) return std::unexpected(st.error());
    q(" ORDER BY p.name, p.id LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::PolicyRow>(*s, q), limit,
                           [](const Policy& p) { return name_token("y", p.name, p.id); });
  });
}

Result<Policy> SociCatalog::update_policy(const Policy& p) {
  if (auto st = require_id(p.name, "name"); !st) return std::unexpected(st.error());
  return run("update_policy", "a policy named " + rows::quote_id(p.name) + " already exists",
             [&](sql::Session& s) -> Result<Policy> {
               sql::Tx tx(*s, backend_);
               const auto& r = p.recording;
               Sql q("UPDATE policies SET name = ");
               q.bind(p.name)(", mode = ").bind(to_string(r.mode))(", period_start = ").bind(r.period_start);
               q(", period_end = ").bind(r.period_end)(", fps = ").bind(r.fps)(", audio = ").bind(r.audio);
               q(", segment_max_bytes = ").bind(r.segment_max_bytes)(", segment_max_minutes = ");
               q.bind(r.segment_max_minutes)(", retention_days = ").bind(r.retention_days)(", user_notice = ");
               q.bind(r.user_notice)(", user_notice_message = ").bind(r.user_notice_message);
               q(", idle_seconds = ").bind(r.idle_seconds);
               q(", version = version + 1, updated_at = ").bind(p.updated_at != 0 ? p.updated_at : wall_now_ms());
               q(" WHERE id = ").bind(p.id);
               if (sql::exec(*s, q) == 0) return fail(Errc::not_found, "policy " + rows::quote_id(p.id) + " not found");
               Sql get("SELECT ");
               get(rows::kPolicyColumns)(" FROM policies p WHERE p.id = ").bind(p.id);
               auto row = rows::fetch_one<rows::PolicyRow>(*s, get);
               tx.commit();
               if (!row) return fail(Errc::internal, "policy " + rows::quote_id(p.id) + " vanished during update");
               return *row;
             });
}

Status SociCatalog::delete_policy(std::string_view id) {
  return run("delete_policy", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    sql::exec(*s, "DELETE FROM policy_assignments WHERE policy_id = ", id);
    if (sql::exec(*s, "DELETE FROM policies WHERE id = ", id) == 0)
      return fail(Errc::not_found, "policy " + rows::quote_id(id) + " not found");
    tx.commit();
    return {};
  });
}

Status SociCatalog::assign_policy(const Assignment& a) {
  return run("assign_policy", "", [&](sql::Session& s) -> Status {
    sql::Tx tx(*s, backend_);
    if (!rows::row_exists(*s, "policies", a.policy_id)) {
      return fail(Errc::not_found, "policy " + rows::quote_id(a.policy_id) + " not found", "policy_id");
    }
    if (!rows::row_exists(*s, a.target_type == TargetType::computer ? "computers" : "pools", a.target_id)) {
      return fail(Errc::not_found,
                  std::string(to_string(a.target_type)) + " " + rows::quote_id(a.target_id) + " not found",
                  "target_id");
    }
    Sql q("INSERT INTO policy_assignments (target_type, target_id, policy_id) VALUES (");
    q.bind(to_string(a.target_type))(", ").bind(a.target_id)(", ").bind(a.policy_id)(")");
    q(" ON CONFLICT (target_type, target_id) DO UPDATE SET policy_id = excluded.policy_id");
    sql::exec(*s, q);
    tx.commit();
    return {};
  });
}

Status SociCatalog::unassign_policy(const Assignment& a) {
  return run("unassign_policy", "", [&](sql::Session& s) -> Status {
    Sql q("DELETE FROM policy_assignments WHERE target_type = ");
    q.bind(to_string(a.target_type))(" AND target_id = ").bind(a.target_id)(" AND policy_id = ").bind(a.policy_id);
    if (sql::exec(*s, q) == 0) {
      return fail(Errc::not_found, "policy " + rows::quote_id(a.policy_id) + " is not assigned to " +
                                       std::string(to_string(a.target_type)) + " " + rows::quote_id(a.target_id));
    }
    return {};
  });
}

Result<std::vector<Assignment>> SociCatalog::list_assignments(std::string_view policy_id) {
  return run("list_assignments", "", [&](sql::Session& s) -> Result<std::vector<Assignment>> {
    Sql q("SELECT target_type, target_id FROM policy_assignments WHERE policy_id = ");
    q.bind(policy_id)(" ORDER BY target_type, target_id");
    std::string type, id;
    std::vector<Assignment> out;
    sql::query(
        *s, q,
        [&](soci::statement& st) {
          st.exchange(soci::into(type));
          st.exchange(soci::into(id));
        },
        [&] {
          out.push_back(
              Assignment{std::string(policy_id), type == "pool" ? TargetType::pool : TargetType::computer, id});
        });
    return out;
  });
}

Result<EffectivePolicy> SociCatalog::effective_policy(std::string_view computer_id) {
  return run("effective_policy", "", [&](sql::Session& s) -> Result<EffectivePolicy> {
    Sql comp("SELECT pool_id FROM computers WHERE id = ");
    comp.bind(computer_id);
    std::string pool_id;
    soci::indicator pool_ind = soci::i_null;
    bool found = false;
    sql::query(
        *s, comp, [&](soci::statement& st) { st.exchange(soci::into(pool_id, pool_ind)); }, [&] { found = true; });
    if (!found) return fail(Errc::not_found, "computer " + rows::quote_id(computer_id) + " not found");

    const auto lookup = [&](std::string_view type, std::string_view target) {
      Sql q("SELECT ");
      q(rows::kPolicyColumns)(
          " FROM policy_assignments a JOIN policies p ON p.id = a.policy_id WHERE a.target_type = ");
      q.bind(type)(" AND a.target_id = ").bind(target);
      return rows::fetch_one<rows::PolicyRow>(*s, q);
    };
    if (auto own = lookup("computer", computer_id)) return EffectivePolicy{PolicySource::computer, std::move(own)};
    if (pool_ind == soci::i_ok) {
      if (auto pooled = lookup("pool", pool_id)) return EffectivePolicy{PolicySource::pool, std::move(pooled)};
    }
    return EffectivePolicy{};
  });
}

// --- enrollment --------------------------------------------------------------

Status SociCatalog::create_enrollment_token(const EnrollmentToken& t) {
  if (auto st = require_id(t.id, "id"); !st) return st;
  if (!is_sha256_hex(t.token_sha256)) {
    return fail(Errc::invalid_argument, "token_sha256 must be 64 lowercase hex characters", "token_sha256");
  }
  return run("create_enrollment_token", "an enrollment token with this id or secret already exists",
             [&](sql::Session& s) -> Status {
               if (t.pool_id) {
                 if (!rows::row_exists(*s, "pools", *t.pool_id)) {
                   return fail(Errc::not_found, "pool " + rows::quote_id(*t.pool_id) + " not found", "pool_id");
                 }
               }
               Sql q(
                   "INSERT INTO enrollment_tokens (id, token_sha256, pool_id, expires_at, max_uses, uses, "
                   "created_by, created_at, revoked) VALUES (");
               q.bind(t.id)(", ").bind(t.token_sha256)(", ").bind(t.pool_id)(", ").bind(t.expires_at)(", ");
               q.bind(t.max_uses)(", ").bind(t.uses)(", ").bind(t.created_by)(", ").bind(t.created_at)(", ");
               q.bind(t.revoked)(")");
               sql::exec(*s, q);
               return {};
             });
}

Result<PageOf<EnrollmentToken>> SociCatalog::list_enrollment_tokens(const Page& page) {
  const int limit = clamp_limit(page.limit);
  return run("list_enrollment_tokens", "", [&](sql::Session& s) -> Result<PageOf<EnrollmentToken>> {
    Sql q("SELECT ");
    q(rows::kEnrollmentColumns)(" FROM enrollment_tokens e WHERE 1 = 1");
    if (!page.next_token.empty()) {
      auto fields = decode_page_token(page.next_token, "e", 2);
      if (!fields) return std::unexpected(fields.error());
      auto created = page_token_int((*fields)[0]);
      if (!created) return std::unexpected(created.error());
      q(" AND (e.created_at, e.id) < (").bind (*created)(", ").bind((*fields)[1])(")");
    }
    q(" ORDER BY e.created_at DESC, e.id DESC LIMIT " + std::to_string(limit + 1));
    return make_page(rows::fetch_all<rows::EnrollmentRow>(*s, q), limit, [](const EnrollmentToken& t) {
      return encode_page_token("e", {std::to_string(t.created_at), t.id});
    });
  });
}

Result<EnrollmentToken> SociCatalog::get_enrollment_token(std::string_view id) {
  Sql q("SELECT ");
  q(rows::kEnrollmentColumns)(" FROM enrollment_tokens e WHERE e.id = ").bind(id);
  return fetch_required<rows::EnrollmentRow>("get_enrollment_token", std::move(q),
                                             "enrollment token " + rows::quote_id(id) + " not found");
}

Status SociCatalog::revoke_enrollment_token(std::string_view id) {
  return run("revoke_enrollment_token", "", [&](sql::Session& s) -> Status {
    if (sql::exec(*s, "UPDATE enrollment_tokens SET revoked = 1 WHERE id = ", id) == 0)
      return fail(Errc::not_found, "enrollment token " + rows::quote_id(id) + " not found");
    return {};
  });
}

Result<Computer> SociCatalog::enroll(std::string_view enrollment_token_sha256, Computer computer,
                                     std::string_view agent_token_sha256, EpochMs now) {
  if (auto st = require_id(computer.id, "id"); !st) return std::unexpected(st.error());
  if (!is_sha256_hex(agent_token_sha256)) {
    return fail(Errc::invalid_argument, "agent token hash must be 64 lowercase hex characters");
  }
  return run(
      "enroll", "the computer id or agent credential is already in use", [&](sql::Session& s) -> Result<Computer> {
        sql::Tx tx(*s, backend_);
        Sql find("SELECT ");
        find(rows::kEnrollmentColumns)(" FROM enrollment_tokens e WHERE e.token_sha256 = ")
            .bind(enrollment_token_sha256);
        auto token = rows::fetch_one<rows::EnrollmentRow>(*s, find);
        if (!token) return fail(Errc::unauthenticated, "unknown enrollment token");
        if (token->revoked) return fail(Errc::unauthenticated, "enrollment token has been revoked");
        if (token->expires_at && *token->expires_at <= now)
          return fail(Errc::unauthenticated, "enrollment token has expired");
        if (token->max_uses && token->uses >= *token->max_uses) {
          return fail(Errc::unauthenticated, "enrollment token has been used up");
        }
        // Conditional, so two concurrent enrollments cannot both take the last use.
        Sql use("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ");
        use.bind(token->id)(" AND revoked = 0 AND (max_uses IS NULL OR uses < max_uses)");
        if (sql::exec(*s, use) == 0) return fail(Errc::unauthenticated, "enrollment token has been used up");

        if (token->pool_id) computer.pool_id = token->pool_id;
        if (computer.pool_id) {
          if (!rows::row_exists(*s, "pools", *computer.pool_id)) {
            return fail(Errc::conflict,
                        "the enrollment token's pool " + rows::quote_id(*computer.pool_id) + " no longer exists");
          }
        }
        if (rows::row_exists(*s, "computers", computer.id)) {
          return fail(Errc::conflict, "a computer with id " + rows::quote_id(computer.id) + " already exists");
        }
        if (computer.created_at == 0) computer.created_at = now;
        Sql insert("INSERT INTO computers (id, name, hostname, os, pool_id, created_at, agent_version) VALUES (");
        insert.bind(computer.id)(", ").bind(computer.name)(", ").bind(computer.hostname)(", ").bind(computer.os)(", ");
        insert.bind(computer.pool_id)(", ").bind(computer.created_at)(", ").bind(computer.agent.agent_version)(")");
        sql::exec(*s, insert);
        Sql credential("INSERT INTO agent_credentials (token_sha256, computer_id, created_at) VALUES (");
        credential.bind(agent_token_sha256)(", ").bind(computer.id)(", ").bind(now)(")");
        sql::exec(*s, credential);
        Sql get("SELECT ");
        get(rows::kComputerColumns)(" FROM computers c WHERE c.id = ").bind(computer.id);
        auto stored = rows::fetch_one<rows::ComputerRow>(*s, get);
        tx.commit();
        if (!stored) return fail(Errc::internal, "enrolled computer " + rows::quote_id(computer.id) + " not found");
        return *stored;
      });
}

Result<std::string> SociCatalog::computer_for_agent_token(std::string_view agent_token_sha256) {
  return run("computer_for_agent_token", "", [&](sql::Session& s) -> Result<std::string> {
    Sql q("SELECT computer_id FROM agent_credentials WHERE token_sha256 = ");
    q.bind(agent_token_sha256);
    auto id = sql::query_text(*s, q);
    if (!id) return fail(Errc::unauthenticated, "unknown agent credential");
    return *id;
  });
}

// --- factory -------------------------------------------------------------------

Result<std::unique_ptr<Catalog>> make_catalog(std::string_view url, int pool_size) {
  SociOptions options;
  options.pool_size = pool_size;
  if (url.starts_with("sqlite://")) {
    options.backend = Backend::sqlite;
    options.target = std::string(url.substr(9));  // "sqlite:///abs" keeps the leading '/'
    if (options.target.empty()) return fail(Errc::invalid_argument, "catalog URL sqlite:// names no file");
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    options.backend = Backend::postgresql;
    if (url.find_first_of(" \t\r\n") != std::string_view::npos) {
      return fail(Errc::invalid_argument, "catalog URL must not contain whitespace (percent-encode it)");
    }
    options.target = std::string(url);
    // SOCI splits its connect string into key=value words and would turn a
    // bare URI into "URI=" (a database named "db="); a query parameter keeps
    // the URI one well-formed word that libpq then parses itself.
    if (url.find('?') == std::string_view::npos) options.target += "?application_name=deskaudit";
  } else if (url.find("://") == std::string_view::npos && url.ends_with(".db")) {
    options.backend = Backend::sqlite;
    options.target = std::string(url);
  } else {
    // Only the scheme is echoed: the rest may hold a password.
    const auto colon = url.find(':');
    const std::string scheme(colon == std::string_view::npos ? std::string_view("(none)") : url.substr(0, colon));
    return fail(Errc::invalid_argument, "unsupported catalog URL scheme '" + scheme +
                                            "': use sqlite:///path/catalog.db or postgresql://user@host:port/db");
  }
  auto opened = SociCatalog::open(options);
  if (!opened) return std::unexpected(opened.error());
  return std::unique_ptr<Catalog>(std::move(*opened));
}

}  // namespace deskaudit::catalog
