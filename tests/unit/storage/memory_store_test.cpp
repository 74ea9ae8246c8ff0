// The in-memory fake's own knobs (its ObjectStore behaviour is checked by
// the conformance suite as backend "Memory").
#include <gtest/gtest.h>

#include "memory_object_store.hpp"
#include "store_test_support.hpp"

namespace deskaudit::storage {
namespace {

using testing::as_bytes;
using testing::read_all;

TEST(MemoryObjectStoreFake, FailNextFailsOnceWithoutChangingData) {
  deskaudit::testing::MemoryObjectStore store;
  store.fail_next("put_bytes", Error{Errc::unavailable, "bucket down"});
  auto failed = store.put_bytes("a/b", as_bytes("x"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::unavailable);
  EXPECT_FALSE(store.head("a/b").value().has_value());
  ASSERT_TRUE(store.put_bytes("a/b", as_bytes("x")));
  EXPECT_EQ(read_all(store, "a/b").value(), "x");
  EXPECT_EQ(store.calls("put_bytes"), 2);
  store.fail_next("read", Error{Errc::corrupt, "bad"});
  EXPECT_EQ(read_all(store, "a/b").error().code, Errc::corrupt);
  EXPECT_EQ(read_all(store, "a/b").value(), "x");
}

TEST(MemoryObjectStoreFake, UnavailableFailsEveryCallUntilBack) {
  deskaudit::testing::MemoryObjectStore store;
  ASSERT_TRUE(store.put_bytes("k", as_bytes("v")));
  store.set_unavailable(true);
  EXPECT_EQ(store.head("k").error().code, Errc::unavailable);
  EXPECT_EQ(store.list("").error().code, Errc::unavailable);
  EXPECT_EQ(store.remove("k").error().code, Errc::unavailable);
  store.set_unavailable(false);
  EXPECT_EQ(read_all(store, "k").value(), "v");
}

}  // namespace
}  // namespace deskaudit::storage
