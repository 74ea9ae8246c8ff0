#include "common/text.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;

TEST(Utf8, ValidAndInvalid) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("alice"));
  EXPECT_TRUE(is_valid_utf8("Jürgen \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // cut after the lead byte
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // cut inside a 3-byte character
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Utf8, TruncateNeverSplitsACharacter) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  const std::string text = "ab" + euro + "cd";
  EXPECT_EQ(utf8_truncate(text, 100), text);
  EXPECT_EQ(utf8_truncate(text, 2), "ab");
  EXPECT_EQ(utf8_truncate(text, 3), "ab");
  EXPECT_EQ(utf8_truncate(text, 4), "ab");
  EXPECT_EQ(utf8_truncate(text, 5), "ab" + euro);
  EXPECT_EQ(utf8_truncate(text, 0), "");
}

TEST(Utf8, TruncateReplacesInvalidBytes) {
  const auto out = utf8_truncate("a\xE2\x82z", 100);
  EXPECT_TRUE(is_valid_utf8(out));
  EXPECT_EQ(out, "a\xEF\xBF\xBD\xEF\xBF\xBDz");
  EXPECT_EQ(utf8_truncate(std::string(300, 'x'), kMaxUserNameBytes).size(), kMaxUserNameBytes);
}

TEST(AsciiIequals, IgnoresTheCaseOfAsciiLettersOnly) {
  EXPECT_TRUE(ascii_iequals("Content-Length", "content-length"));
  EXPECT_TRUE(ascii_iequals("", ""));
  EXPECT_FALSE(ascii_iequals("close", "closed"));
  EXPECT_FALSE(ascii_iequals("a-b", "a_b"));
  // Other bytes compare as they are (UTF-8 "É" vs "é" differ).
  EXPECT_FALSE(ascii_iequals("\xC3\x89", "\xC3\xA9"));
}
