#include "common/crypto.hpp"

#include <set>

#include <gtest/gtest.h>

using namespace deskaudit;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Sha256 h;
  h.update("a");
  h.update("bc");
  EXPECT_EQ(h.hex(), sha256_hex("abc"));
}

TEST(Sha256, LongInputInUnevenPieces) {
  // FIPS 180-2 vector: one million 'a', fed in pieces that straddle blocks.
  const std::string million(1000000, 'a');
  Sha256 h;
  for (std::size_t at = 0, step = 1; at < million.size(); at += step, step = step * 3 % 65537 + 1) {
    h.update(std::string_view(million).substr(at, step));
  }
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, HexCheck) {
  EXPECT_TRUE(is_sha256_hex(sha256_hex("x")));
  EXPECT_FALSE(is_sha256_hex("ABC"));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'g')));
}

TEST(RandomId, HasPrefixAndIsUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = random_id("rec-");
    ASSERT_EQ(id.size(), 24u);
    ASSERT_EQ(id.rfind("rec-", 0), 0u);
    ASSERT_TRUE(seen.insert(id).second);
  }
}

TEST(RandomToken, Has256Bits) {
  auto t = random_token("dat_");
  EXPECT_EQ(t.size(), 4u + 43u);
  EXPECT_NE(t, random_token("dat_"));
}

TEST(SecureEqual, ComparesContent) {
  EXPECT_TRUE(secure_equal("abc", "abc"));
  EXPECT_FALSE(secure_equal("abc", "abd"));
  EXPECT_FALSE(secure_equal("abc", "ab"));
}
