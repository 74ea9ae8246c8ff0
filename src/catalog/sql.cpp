#include "catalog/sql.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace deskaudit::catalog::sql {

Sql& Sql::bind(std::string_view value) {
  text_ += ":p" + std::to_string(params_.size());
  params_.push_back(Param{std::string(value), 0, true, soci::i_ok});
  return *this;
}

Sql& Sql::bind(std::int64_t value) {
  text_ += ":p" + std::to_string(params_.size());
  params_.push_back(Param{{}, static_cast<long long>(value), false, soci::i_ok});
  return *this;
}

Sql& Sql::bind(const std::optional<std::string>& value) {
  text_ += ":p" + std::to_string(params_.size());
  params_.push_back(Param{value.value_or(""), 0, true, value ? soci::i_ok : soci::i_null});
  return *this;
}

Sql& Sql::bind(const std::optional<std::int64_t>& value) {
  text_ += ":p" + std::to_string(params_.size());
  params_.push_back(Param{{}, static_cast<long long>(value.value_or(0)), false, value ? soci::i_ok : soci::i_null});
  return *this;
}

void Sql::exchange_uses(soci::statement& st) {
  for (auto& p : params_) {
    if (p.is_text) {
      st.exchange(soci::use(p.text, p.ind));
    } else {
      st.exchange(soci::use(p.number, p.ind));
    }
  }
}

std::int64_t exec(soci::session& s, Sql& q) {
  soci::statement st(s);
  q.exchange_uses(st);
  st.alloc();
  st.prepare(q.text(), kStatementType);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

std::optional<std::int64_t> query_int(soci::session& s, Sql& q) {
  long long v = 0;
  soci::indicator ind = soci::i_ok;
  std::optional<std::int64_t> out;
  query(
      s, q, [&](soci::statement& st) { st.exchange(soci::into(v, ind)); },
      [&] {
        if (ind == soci::i_ok) out = v;
      });
  return out;
}

std::optional<std::string> query_text(soci::session& s, Sql& q) {
  std::string v;
  soci::indicator ind = soci::i_ok;
  std::optional<std::string> out;
  query(
      s, q, [&](soci::statement& st) { st.exchange(soci::into(v, ind)); },
      [&] {
        if (ind == soci::i_ok) out = v;
      });
  return out;
}

Session::Session(soci::connection_pool& pool, Backend backend)
    : pool_(pool), pos_(pool.lease()), session_(&pool.at(pos_)), backend_(backend) {}

Session::~Session() { pool_.give_back(pos_); }

Tx::Tx(soci::session& s, Backend backend) : s_(s) {
  exec(s_, backend == Backend::sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

Tx::~Tx() {
  if (!open_) return;
  try {
    exec(s_, "ROLLBACK");
  } catch (const std::exception& e) {
    // The connection is likely gone; the server rolls back on its own.
    spdlog::warn("catalog: rollback failed: {}", e.what());
  }
}

void Tx::commit() {
  exec(s_, "COMMIT");
  open_ = false;
}

Error map_error(const soci::soci_error& e, Backend backend, soci::session* s, std::string_view what,
                std::string_view conflict_message) {
  // get_error_message() omits SOCI's context, which can quote bound values.
  const std::string driver = e.get_error_message();
  Errc code = Errc::internal;
  if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    const std::string state = pg->sqlstate();
    if (state.starts_with("23")) {
      code = Errc::conflict;
    } else if (state.starts_with("08") || state.starts_with("57P") || state == "40001" || state == "40P01" ||
               state.starts_with("53")) {
      code = Errc::unavailable;
    }
  } else if (const auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    switch (lite->result() & 0xff) {
      case SQLITE_CONSTRAINT:
        code = Errc::conflict;
        break;
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
      case SQLITE_CANTOPEN:
        code = Errc::unavailable;
        break;
      case SQLITE_IOERR:
      case SQLITE_FULL:
        code = Errc::io;
        break;
      default:
        break;
    }
  }
  if (backend == Backend::postgresql && s != nullptr) {
    // A dropped connection (server restart, failover, idle kill) shows up
    // with or without a SQLSTATE; either way the pooled session is dead
    // until reconnected, so reconnect now for the next caller.
    bool connected = false;
    try {
      connected = s->is_connected();
    } catch (const std::exception&) {
    }
    if (!connected) {
      code = Errc::unavailable;
      try {
        s->reconnect();
        prepare_postgresql_session(*s);
      } catch (const std::exception& re) {
        spdlog::warn("catalog: reconnect failed: {}", re.what());
      }
    }
  }
  if (code == Errc::conflict) {
    spdlog::info("catalog: {}: constraint: {}", what, driver);
    return Error{code,
                 conflict_message.empty() ? std::string(what) + ": conflicts with an existing row"
                                          : std::string(conflict_message),
                 {}};
  }
  spdlog::error("catalog: {}: {} error: {}", what, backend == Backend::sqlite ? "sqlite" : "postgresql", driver);
  if (code == Errc::unavailable) {
    return Error{code, std::string(what) + ": catalog database unavailable", {}};
  }
  return Error{code, std::string(what) + ": catalog database error", {}};
}

void prepare_postgresql_session(soci::session& s) { exec(s, "SET client_min_messages = warning"); }

namespace {
std::string escape_like(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    if (c == '%' || c == '_' || c == '!') out += '!';
    out += c;
  }
  return out;
}
}  // namespace

std::string like_contains(std::string_view text) { return "%" + escape_like(text) + "%"; }
std::string like_prefix(std::string_view text) { return escape_like(text) + "%"; }

}  // namespace deskaudit::catalog::sql
