// The in-memory fake's own knobs (its Catalog behaviour is checked by the
// conformance suite as backend "memory"): injected failures reach callers
// without changing data, and a set-unavailable catalog fails every call.
#include <gtest/gtest.h>

#include "catalog_helpers.hpp"
#include "memory_catalog.hpp"

namespace deskaudit::catalog::test {
namespace {

TEST(MemoryCatalogFake, FailNextFailsOnceInOrderWithoutChangingData) {
  deskaudit::testing::MemoryCatalog cat;
  cat.fail_next("create_pool", Error{Errc::conflict, "first"});
  cat.fail_next("create_pool", Error{Errc::internal, "second"});
  auto first = cat.create_pool(make_pool("pool-a", "Alpha"));
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, Errc::conflict);
  EXPECT_EQ(first.error().message, "first");
  EXPECT_EQ(cat.create_pool(make_pool("pool-a", "Alpha")).error().code, Errc::internal);
  EXPECT_EQ(cat.get_pool("pool-a").error().code, Errc::not_found);  // nothing stored by the failed calls
  CAT_OK(cat.create_pool(make_pool("pool-a", "Alpha")));
  EXPECT_EQ(cat.calls("create_pool"), 3);
  EXPECT_EQ(cat.calls("get_pool"), 1);
  // Other methods are not affected by an injection for one method.
  cat.fail_next("append_audit", Error{Errc::unavailable, "down"});
  CAT_OK(cat.get_pool("pool-a"));
  AuditEntry e;
  e.action = "test.a";
  EXPECT_EQ(cat.append_audit(e).error().code, Errc::unavailable);
  auto appended = cat.append_audit(e);
  ASSERT_TRUE(appended);
  EXPECT_EQ(appended->seq, 1);  // the failed append took no sequence number
}

TEST(MemoryCatalogFake, UnavailableFailsEveryCallUntilBack) {
  deskaudit::testing::MemoryCatalog cat;
  CAT_OK(cat.create_pool(make_pool("pool-a", "Alpha")));
  cat.set_unavailable(true);
  EXPECT_EQ(cat.get_pool("pool-a").error().code, Errc::unavailable);
  EXPECT_EQ(cat.list_users().error().code, Errc::unavailable);
  EXPECT_EQ(cat.create_pool(make_pool("pool-b", "Beta")).error().code, Errc::unavailable);
  cat.set_unavailable(false);
  CAT_OK(cat.get_pool("pool-a"));
  EXPECT_EQ(cat.get_pool("pool-b").error().code, Errc::not_found);
}

TEST(MemoryCatalogFake, OverwrittenAuditEntryBlocksSigningOverIt) {
  deskaudit::testing::MemoryCatalog cat;
  AuditEntry e;
  e.action = "test.a";
  auto one = cat.append_audit(e);
  ASSERT_TRUE(one);
  const auto sign = [](std::string_view) { return std::string("sig"); };
  CAT_OK(cat.sign_audit_head("k1", sign, audit::kCheckpointEvery, "r1", kT0));
  // Rewritten with its hash recomputed, as an editor covering tracks would.
  AuditEntry edited = *one;
  edited.target = "rewritten";
  edited.hash = audit_entry_hash(edited);
  CAT_OK(cat.overwrite_audit_entry(edited));
  EXPECT_EQ(cat.audit_after(0, 10)->front().target, "rewritten");
  CAT_OK(cat.append_audit(e));
  auto blocked = cat.sign_audit_head("k1", sign, audit::kCheckpointEvery, "r1", kT0);
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, Errc::conflict);
  EXPECT_EQ(cat.overwrite_audit_entry(AuditEntry{99, 0, "", "x", "", "{}", "", ""}).error().code, Errc::not_found);
}

}  // namespace
}  // namespace deskaudit::catalog::test
