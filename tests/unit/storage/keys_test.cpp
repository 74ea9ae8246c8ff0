// validate_key(): the rules that keep keys from escaping a local store's
// directory or meaning different things on different backends.
#include "storage/keys.hpp"

#include <gtest/gtest.h>

#include "storage/object_store.hpp"

namespace deskaudit::storage {
namespace {

void expect_rejected(std::string_view key, std::string_view why) {
  auto st = validate_key(key);
  ASSERT_FALSE(st) << "accepted: '" << key << "'";
  EXPECT_EQ(st.error().code, Errc::invalid_argument);
  EXPECT_EQ(st.error().field, "key");
  EXPECT_NE(st.error().message.find(why), std::string::npos) << st.error().message;
}

TEST(ValidateKey, AcceptsOrdinaryKeys) {
  for (std::string_view key :
       {"a", "rec-k3v/seg-000001.mp4", "a/b/c/d.e_f-g", "A.B", ".hidden", "..x", "x..", "...", "rec-1/init.mp4", "0"}) {
    EXPECT_TRUE(validate_key(key)) << key << ": " << validate_key(key).error().message;
  }
}

TEST(ValidateKey, RejectsPathTraversal) {
  expect_rejected("../x", "'..' component");
  expect_rejected("a/../../b", "'..' component");
  expect_rejected("a/..", "'..' component");
  expect_rejected("..", "'..' component");
  expect_rejected("./a", "'.' component");
  expect_rejected("a/./b", "'.' component");
}

TEST(ValidateKey, RejectsAbsoluteAndEmptyComponents) {
  expect_rejected("/etc/passwd", "relative");
  expect_rejected("a//b", "empty path component");
  expect_rejected("a/", "ends with '/'");
  expect_rejected("", "empty");
}

TEST(ValidateKey, RejectsBackslashNulAndOtherCharacters) {
  expect_rejected("a\\b", "backslash");
  expect_rejected("..\\x", "backslash");
  expect_rejected(std::string_view("a\0b", 3), "NUL");
  expect_rejected("a b", "only A-Z");
  expect_rejected("a:b", "':'");
  expect_rejected("caf\xc3\xa9", "byte 0xc3");
  expect_rejected("a\nb", "byte 0x0a");
  // Keys are never percent-decoded, and '%' is outside the charset, so an
  // encoded traversal cannot sneak through a layer that decodes later.
  expect_rejected("%2e%2e/x", "'%'");
  expect_rejected("a/%2e%2e", "'%'");
}

TEST(ValidateKey, LengthLimitIs1024Bytes) {
  EXPECT_TRUE(validate_key(std::string(1024, 'k')));
  expect_rejected(std::string(1025, 'k'), "1025 bytes");
  std::string deep;
  while (deep.size() < 1000) deep += "ab/";
  deep += "c";
  EXPECT_TRUE(validate_key(deep));
}

TEST(ValidateKey, UnprintableKeysAreNotEchoed) {
  auto st = validate_key("a\x01secret");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message.find("secret"), std::string::npos) << st.error().message;
}

TEST(ValidatePrefix, AllowsPartialComponentsButNotTraversal) {
  for (std::string_view p : {"", "a", "a/", "rec-1/seg-0", "a/b/", ".", ".."}) {
    EXPECT_TRUE(validate_prefix(p)) << p << ": " << validate_prefix(p).error().message;
  }
  for (std::string_view p : {"../", "a/../", "/a", "a//", "a\\", "%2e%2e/"}) {
    EXPECT_FALSE(validate_prefix(p)) << p;
  }
}

}  // namespace
}  // namespace deskaudit::storage
