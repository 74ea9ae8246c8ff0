#pragma once
// The catalog conformance fixture: one suite, run against SQLite (a fresh
// file per test), PostgreSQL (a fresh schema per test in the database of
// DESKAUDIT_TEST_POSTGRES_URL, dropped afterwards), so tests are independent
// and may run in parallel against one server, and the in-memory fake the
// service tests use (tests/common/memory_catalog.hpp), which proves it keeps
// the same contract.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <random>
#include <string>

#include "catalog/catalog.hpp"
#include "memory_catalog.hpp"

namespace deskaudit::catalog::test {

enum class BackendKind { sqlite, postgresql, memory };

inline const char* backend_text(BackendKind kind) {
  switch (kind) {
    case BackendKind::sqlite:
      return "sqlite";
    case BackendKind::postgresql:
      return "postgresql";
    case BackendKind::memory:
      return "memory";
  }
  return "?";
}

inline void PrintTo(BackendKind kind, std::ostream* os) { *os << backend_text(kind); }

inline std::string backend_name(const ::testing::TestParamInfo<BackendKind>& info) { return backend_text(info.param); }

// For the tests of SQL-only behaviour (schema migrations, connections).
#define CATALOG_SKIP_UNLESS_SQL()                              \
  do {                                                         \
    if (GetParam() == BackendKind::memory)                     \
      GTEST_SKIP() << "SQL backends only: the in-memory fake " \
                      "has no schema or connection";           \
  } while (0)

inline const char* postgres_url() {
  const char* url = std::getenv("DESKAUDIT_TEST_POSTGRES_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

inline std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
}

class CatalogTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    if (GetParam() == BackendKind::memory) {
      catalog_ = std::make_unique<deskaudit::testing::MemoryCatalog>();
      auto migrated = catalog_->migrate();
      ASSERT_TRUE(migrated) << migrated.error().message;
      return;
    }
    if (GetParam() == BackendKind::sqlite) {
      dir_ = std::filesystem::temp_directory_path() / ("deskaudit-catalog-test-" + unique_suffix());
      // A missing parent directory: make_catalog creates it.
      url_ = "sqlite://" + (dir_ / "nested" / "catalog.db").string();
    } else {
      const char* base = postgres_url();
      if (base == nullptr) {
        if (std::getenv("CI") != nullptr) FAIL() << "DESKAUDIT_TEST_POSTGRES_URL is not set (required when CI is set)";
        GTEST_SKIP() << "DESKAUDIT_TEST_POSTGRES_URL not set (e.g. export it from scripts/pg-test-server start)";
      }
      schema_ = "catalog_test_" + unique_suffix();
      // SOCI needs a '=' in the URI (see make_catalog); a query parameter gives one.
      const std::string b(base);
      const std::string admin_url = b + (b.find('?') == std::string::npos ? "?application_name=catalog_test" : "");
      admin_ = std::make_unique<soci::session>(soci::postgresql, admin_url);
      *admin_ << "SET client_min_messages = warning";  // no NOTICE per dropped table
      *admin_ << "CREATE SCHEMA " + schema_;
      url_ = b + (b.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
    }
    auto made = make_catalog(url_, 8);
    ASSERT_TRUE(made) << made.error().message;
    catalog_ = std::move(*made);
    auto migrated = catalog_->migrate();
    ASSERT_TRUE(migrated) << migrated.error().message;
  }

  void TearDown() override {
    catalog_.reset();  // closes the pool before the schema goes
    if (admin_) {
      try {
        *admin_ << "DROP SCHEMA " + schema_ + " CASCADE";
      } catch (const std::exception& e) {
        ADD_FAILURE() << "dropping test schema: " << e.what();
      }
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  Catalog& cat() { return *catalog_; }

  // Runs SQL on the test's database from outside the catalog (as an older
  // release or a database administrator would).
  void raw_sql(const std::string& statement) {
    ASSERT_NE(GetParam(), BackendKind::memory) << "raw_sql needs a SQL backend";
    if (GetParam() == BackendKind::sqlite) {
      soci::session s(soci::sqlite3, "db=\"" + (dir_ / "nested" / "catalog.db").string() + "\" timeout=10");
      s << statement;
    } else {
      *admin_ << "SET search_path TO " + schema_;
      *admin_ << statement;
      *admin_ << "SET search_path TO DEFAULT";
    }
  }

  std::unique_ptr<Catalog> catalog_;
  std::string url_;
  std::filesystem::path dir_;
  std::string schema_;
  std::unique_ptr<soci::session> admin_;
};

}  // namespace deskaudit::catalog::test
