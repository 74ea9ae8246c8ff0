#pragma once
// Copies a whole catalog from one database to another, row for row: the path
// from the embedded SQLite catalog to PostgreSQL (deskaudit-migrate).
//
// Contract:
//  - The source is migrated to this build's schema first (as the server does
//    at start), then the target; both must end on the same version.
//  - The target must be empty (no row in any catalog table): conflict naming
//    the first non-empty table otherwise, so a half-finished or repeated copy
//    never mixes two catalogs. Drop and recreate the target to start over.
//  - Each table is copied in one target transaction, in foreign-key order,
//    inserting batch_rows rows per statement. Leases are not copied (they
//    belong to running replicas of the source).
//  - Nothing may write to the source while it runs (stop the server first).
//  - Not thread-safe against itself on the same target; blocking.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::catalog {

struct TableCopied {
  std::string table;
  std::int64_t rows = 0;
};

struct CopyOptions {
  int batch_rows = 200;
  // Called after each table (progress output); may be empty.
  std::function<void(const TableCopied&)> on_table;
};

struct CopyReport {
  int schema_version = 0;
  std::vector<TableCopied> tables;
  std::int64_t total_rows = 0;
};

// URLs as for make_catalog(). Errors: invalid_argument (bad URL or option),
// unavailable (a database cannot be reached), conflict (non-empty target,
// schema mismatch), internal (a row failed to insert: message names the table).
Result<CopyReport> copy_catalog(std::string_view from_url, std::string_view to_url, const CopyOptions& options = {});

// The tables copy_catalog() copies, in the order it copies them.
std::vector<std::string> copied_tables();

}  // namespace deskaudit::catalog
