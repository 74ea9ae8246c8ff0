#pragma once
// Helpers shared by the services' unit tests.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "catalog/catalog.hpp"
#include "common/error.hpp"

namespace deskaudit::service::test_support {

// The error code of a result expected to fail.
template <class T>
Errc code_of(const Result<T>& r) {
  EXPECT_FALSE(r) << "expected an error";
  return r ? Errc::internal : r.error().code;
}

// Audit entries with this action (or prefix ending in '.'), newest first.
inline std::vector<catalog::AuditEntry> audit_entries(catalog::Catalog& catalog, const std::string& action) {
  catalog::AuditFilter f;
  f.action = action;
  auto page = catalog.list_audit(f, catalog::Page{500, ""});
  EXPECT_TRUE(page);
  return page ? page->items : std::vector<catalog::AuditEntry>{};
}

}  // namespace deskaudit::service::test_support
