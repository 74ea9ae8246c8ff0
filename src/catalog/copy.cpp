#include "catalog/copy.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <variant>

#include "catalog/catalog.hpp"
#include "catalog/migrations.hpp"
#include "catalog/sql.hpp"

namespace deskaudit::catalog {

namespace {

using sql::Backend;
using sql::Sql;

// Parents before children so that foreign keys hold after every table.
const std::vector<std::string> kTables = {
    "pools",           "computers",          "agent_credentials",
    "policies",        "policy_assignments", "enrollment_tokens",
    "recordings",      "segments",           "event_documents",
    "recording_events", "users",             "roles",
    "role_permissions", "role_grants",       "api_tokens",
    "audit_log",       "audit_checkpoints",  "signing_keys",      "agent_keys",
};

// Every catalog column is TEXT, INTEGER or BIGINT (migrations.hpp), so a
// value is a string, a number or NULL.
using Value = std::variant<std::monostate, std::string, std::int64_t>;

struct Endpoint {
  Backend backend = Backend::sqlite;
  std::string connect;  // SOCI connect string (may hold a password: never log it)
};

// The same URL forms as make_catalog(); make_catalog() has already accepted
// the URL by the time this runs, so only the connect string is derived here.
Endpoint endpoint_for(std::string_view url) {
  Endpoint e;
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    e.backend = Backend::postgresql;
    e.connect = std::string(url);
    if (url.find('?') == std::string_view::npos) e.connect += "?application_name=deskaudit-migrate";
  } else {
    const std::string path(url.starts_with("sqlite://") ? url.substr(9) : url);
    e.connect = "db=\"" + path + "\" timeout=10";
  }
  return e;
}

Result<std::unique_ptr<soci::session>> open_session(const Endpoint& e, std::string_view role) {
  auto s = std::make_unique<soci::session>();
  try {
    if (e.backend == Backend::sqlite) {
      s->open(soci::sqlite3, e.connect);
      *s << "PRAGMA foreign_keys=ON";
      *s << "PRAGMA busy_timeout=10000";
    } else {
      s->open(soci::postgresql, e.connect);
      sql::prepare_postgresql_session(*s);
    }
  } catch (const soci::soci_error& ex) {
    return fail(Errc::unavailable, "cannot open the " + std::string(role) + " catalog: " + ex.get_error_message());
  }
  return s;
}

Value value_at(const soci::row& r, std::size_t i, const std::string& table) {
  if (r.get_indicator(i) == soci::i_null) return std::monostate{};
  switch (r.get_properties(i).get_data_type()) {
    case soci::dt_string:
      return r.get<std::string>(i);
    case soci::dt_integer:
      return static_cast<std::int64_t>(r.get<int>(i));
    case soci::dt_long_long:
      return static_cast<std::int64_t>(r.get<long long>(i));
    case soci::dt_unsigned_long_long:
      return static_cast<std::int64_t>(r.get<unsigned long long>(i));
    default:
      throw std::runtime_error("table " + table + " column " + r.get_properties(i).get_name() +
                               " has a type the catalog does not use");
  }
}

void bind_value(Sql& q, const Value& v) {
  if (std::holds_alternative<std::string>(v)) {
    q.bind(std::get<std::string>(v));
  } else if (std::holds_alternative<std::int64_t>(v)) {
    q.bind(std::get<std::int64_t>(v));
  } else {
    q("NULL");
  }
}

std::int64_t count_rows(soci::session& s, const std::string& table) {
  Sql q("SELECT COUNT(*) FROM " + table);
  return sql::query_int(s, q).value_or(0);
}

// Inserts rows as one multi-row INSERT.
void insert_batch(soci::session& to, const std::string& table, const std::vector<std::string>& columns,
                  const std::vector<std::vector<Value>>& rows) {
  Sql q("INSERT INTO " + table + " (");
  for (std::size_t c = 0; c < columns.size(); ++c) q(c ? ", " : "")(columns[c]);
  q(") VALUES ");
  for (std::size_t r = 0; r < rows.size(); ++r) {
    q(r ? ", (" : "(");
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      if (c) q(", ");
      bind_value(q, rows[r][c]);
    }
    q(")");
  }
  sql::exec(to, q);
}

std::int64_t copy_table(soci::session& from, soci::session& to, Backend to_backend, const std::string& table,
                        int batch_rows) {
  sql::Tx tx(to, to_backend);
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> batch;
  std::int64_t copied = 0;
  // SQLite caps bound parameters per statement (999 in older builds).
  std::size_t max_rows = static_cast<std::size_t>(batch_rows);
  soci::row r;
  soci::statement st = (from.prepare << "SELECT * FROM " + table, soci::into(r));
  st.execute();
  while (st.fetch()) {
    if (columns.empty()) {
      for (std::size_t i = 0; i < r.size(); ++i) columns.push_back(r.get_properties(i).get_name());
      max_rows = std::max<std::size_t>(1, std::min(max_rows, 900 / std::max<std::size_t>(1, columns.size())));
    }
    std::vector<Value> values;
    values.reserve(r.size());
    for (std::size_t i = 0; i < r.size(); ++i) values.push_back(value_at(r, i, table));
    batch.push_back(std::move(values));
    if (batch.size() >= max_rows) {
      insert_batch(to, table, columns, batch);
      copied += static_cast<std::int64_t>(batch.size());
      batch.clear();
    }
  }
  if (!batch.empty()) {
    insert_batch(to, table, columns, batch);
    copied += static_cast<std::int64_t>(batch.size());
  }
  tx.commit();
  return copied;
}

}  // namespace

std::vector<std::string> copied_tables() { return kTables; }

Result<CopyReport> copy_catalog(std::string_view from_url, std::string_view to_url, const CopyOptions& options) {
  if (options.batch_rows < 1 || options.batch_rows > 10000) {
    return fail(Errc::invalid_argument, "batch_rows must be 1..10000", "batch_rows");
  }
  if (from_url == to_url) return fail(Errc::invalid_argument, "source and target catalog are the same");
  // make_catalog() would create a missing SQLite file: an empty source is a typo.
  if (const Endpoint from = endpoint_for(from_url); from.backend == Backend::sqlite) {
    const std::string_view path = from_url.starts_with("sqlite://") ? from_url.substr(9) : from_url;
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(path), ec)) {
      return fail(Errc::not_found, "source catalog " + std::string(path) + " does not exist");
    }
  }
  // Schema first, through the catalog itself: the same migrations the server runs.
  auto from_catalog = make_catalog(from_url, 1);
  if (!from_catalog) return std::unexpected(from_catalog.error());
  if (auto st = (*from_catalog)->migrate(); !st) return std::unexpected(st.error());
  auto to_catalog = make_catalog(to_url, 1);
  if (!to_catalog) return std::unexpected(to_catalog.error());
  if (auto st = (*to_catalog)->migrate(); !st) return std::unexpected(st.error());
  auto from_version = (*from_catalog)->schema_version();
  auto to_version = (*to_catalog)->schema_version();
  if (!from_version) return std::unexpected(from_version.error());
  if (!to_version) return std::unexpected(to_version.error());
  if (*from_version != *to_version) {
    return fail(Errc::conflict, "source catalog is at schema version " + std::to_string(*from_version) +
                                    " but the target at " + std::to_string(*to_version) +
                                    "; use the same deskaudit version for both");
  }
  from_catalog->reset();
  to_catalog->reset();

  const Endpoint from_ep = endpoint_for(from_url);
  const Endpoint to_ep = endpoint_for(to_url);
  auto from = open_session(from_ep, "source");
  if (!from) return std::unexpected(from.error());
  auto to = open_session(to_ep, "target");
  if (!to) return std::unexpected(to.error());

  CopyReport report;
  report.schema_version = *from_version;
  std::string current;
  try {
    for (const auto& table : kTables) {
      current = table;
      if (const auto n = count_rows(**to, table); n > 0) {
        return fail(Errc::conflict, "target catalog is not empty: table " + table + " has " + std::to_string(n) +
                                        " rows; copy into a fresh database (or schema)");
      }
    }
    for (const auto& table : kTables) {
      current = table;
      TableCopied done{table, copy_table(**from, **to, to_ep.backend, table, options.batch_rows)};
      const auto expected = count_rows(**from, table);
      if (done.rows != expected) {
        return fail(Errc::internal, "table " + table + ": copied " + std::to_string(done.rows) +
                                        " rows but the source has " + std::to_string(expected) +
                                        " (was the server still running?)");
      }
      report.total_rows += done.rows;
      if (options.on_table) options.on_table(done);
      report.tables.push_back(std::move(done));
    }
  } catch (const soci::soci_error& e) {
    spdlog::error("catalog copy: table {}: {}", current, e.get_error_message());
    return fail(Errc::internal, "copying table " + current + " failed: " + e.get_error_message());
  } catch (const std::exception& e) {
    return fail(Errc::internal, "copying table " + current + " failed: " + e.what());
  }
  return report;
}

}  // namespace deskaudit::catalog
