#pragma once
// Internal to the catalog: a small layer over SOCI that builds statements with
// a variable number of bound parameters, runs them on a pooled session, and
// turns driver exceptions into Error values. Nothing here is part of the
// catalog contract.
//
// Thread safety: ConnectionPool is thread-safe; a Session lease, a Sql and a
// Tx belong to one thread at a time.
#include <soci/soci.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.hpp"

namespace deskaudit::catalog::sql {

enum class Backend { sqlite, postgresql };

// One statement's text and its bound values, appended together so that the
// placeholders (:p0, :p1, ...) always match the values in order.
//   Sql q; q("SELECT ... WHERE id = ").bind(id)(" AND x > ").bind(n);
class Sql {
 public:
  Sql() = default;
  explicit Sql(std::string_view text) { text_ = text; }
  Sql(const Sql&) = delete;  // values are bound by reference: keep them in place
  Sql& operator=(const Sql&) = delete;
  Sql(Sql&&) = default;
  Sql& operator=(Sql&&) = default;

  Sql& operator()(std::string_view text) {
    text_ += text;
    return *this;
  }
  Sql& bind(std::string_view value);
  Sql& bind(const char* value) { return bind(std::string_view(value)); }
  Sql& bind(const std::string& value) { return bind(std::string_view(value)); }
  Sql& bind(std::int64_t value);
  Sql& bind(int value) { return bind(static_cast<std::int64_t>(value)); }
  Sql& bind(bool value) { return bind(static_cast<std::int64_t>(value ? 1 : 0)); }
  Sql& bind(const std::optional<std::string>& value);
  Sql& bind(const std::optional<std::int64_t>& value);
  // ", " separated placeholders for an IN (...) list; `values` must not be empty.
  template <class Range>
  Sql& bind_list(const Range& values) {
    bool first = true;
    for (const auto& v : values) {
      if (!first) text_ += ", ";
      first = false;
      bind(std::string_view(v));
    }
    return *this;
  }

  const std::string& text() const { return text_; }
  // Adds the use() elements to a statement (before prepare()).
  void exchange_uses(soci::statement& st);

 private:
  struct Param {
    std::string text;
    long long number = 0;
    bool is_text = true;
    soci::indicator ind = soci::i_ok;
  };
  std::string text_;
  std::deque<Param> params_;  // deque: stable addresses for soci::use
};

// Statements are built per call, so they are not kept prepared: on
// PostgreSQL one-time queries take one round trip (PQexecParams) instead of
// three (PREPARE, EXECUTE, DEALLOCATE).
inline constexpr auto kStatementType = soci::details::st_one_time_query;

// Runs a statement that returns no rows; returns the affected row count.
std::int64_t exec(soci::session& s, Sql& q);
inline std::int64_t exec(soci::session& s, std::string_view text) {
  Sql q(text);
  return exec(s, q);
}
// exec() of `text` followed by one bound value ("DELETE ... WHERE id = ").
inline std::int64_t exec(soci::session& s, std::string_view text, std::string_view value) {
  Sql q(text);
  q.bind(value);
  return exec(s, q);
}

// Runs a query; `bind(statement&)` adds the into() elements, `row()` is called
// once per fetched row (the bound variables hold that row's values).
template <class Bind, class OnRow>
void query(soci::session& s, Sql& q, Bind&& bind, OnRow&& row) {
  soci::statement st(s);
  bind(st);
  q.exchange_uses(st);
  st.alloc();
  st.prepare(q.text(), kStatementType);
  st.define_and_bind();
  if (!st.execute(true)) return;
  do {
    row();
  } while (st.fetch());
}

// A single integer (COUNT, MAX via COALESCE, ...); nullopt when no row.
std::optional<std::int64_t> query_int(soci::session& s, Sql& q);
// A single text column; nullopt when no row or NULL.
std::optional<std::string> query_text(soci::session& s, Sql& q);

// Pool of sessions; lease() blocks until one is free.
class Session {
 public:
  Session(soci::connection_pool& pool, Backend backend);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  soci::session& operator*() { return *session_; }
  soci::session* operator->() { return session_; }
  Backend backend() const { return backend_; }

 private:
  soci::connection_pool& pool_;
  std::size_t pos_;
  soci::session* session_;
  Backend backend_;
};

// A write transaction. SQLite: BEGIN IMMEDIATE takes the write lock up front
// (waiting up to the busy timeout) so two writers never deadlock upgrading a
// read lock. PostgreSQL: plain BEGIN. Rolls back unless commit() was called.
class Tx {
 public:
  Tx(soci::session& s, Backend backend);
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  void commit();

 private:
  soci::session& s_;
  bool open_ = true;
};

// Maps a driver exception to an Error and logs the driver text (never bound
// values: they can be credential hashes). `what` names the operation
// ("create_pool"); `conflict_message` replaces the text of uniqueness and
// foreign-key clashes so the caller sees something readable.
Error map_error(const soci::soci_error& e, Backend backend, soci::session* s, std::string_view what,
                std::string_view conflict_message);

// Per-connection settings for PostgreSQL (after connect and reconnect):
// libpq prints NOTICEs straight to stderr, around our logging.
void prepare_postgresql_session(soci::session& s);

// LIKE pattern for a substring match with '!' as the escape character.
std::string like_contains(std::string_view text);
std::string like_prefix(std::string_view text);

}  // namespace deskaudit::catalog::sql
