#pragma once
// Internal to the catalog: the numbered schema migrations, SQL portable
// between SQLite and PostgreSQL 15 (BIGINT epoch-ms times, TEXT ids, INTEGER
// 0/1 booleans, no auto-increment). A migration is never edited once
// released: changes go into a new one.
#include <span>
#include <string_view>
#include <vector>

namespace deskaudit::catalog {

struct Migration {
  int version;
  std::string_view name;
  // One statement per element: SQLite prepares one statement at a time.
  std::vector<std::string_view> statements;
};

// In ascending version order, starting at 1 (versions are reserved per
// feature, so a build may lack some numbers).
std::span<const Migration> migrations();

}  // namespace deskaudit::catalog
