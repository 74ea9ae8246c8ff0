#include "auth/password.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;
using namespace deskaudit::auth;

TEST(Password, HashIsArgon2idAndVerifies) {
  auto h = hash_password("correct horse battery");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(verify_password("correct horse battery", *h));
  EXPECT_FALSE(verify_password("correct horse batterx", *h));
  EXPECT_FALSE(verify_password("correct horse battery", ""));
  EXPECT_FALSE(verify_password("correct horse battery", "garbage"));
}

TEST(Password, SamePasswordHashesDifferently) {
  EXPECT_NE(hash_password("correct horse battery").value(), hash_password("correct horse battery").value());
}

TEST(Password, RulesNameTheProblem) {
  EXPECT_TRUE(check_password_rules("alice", "tr0ub4dor&3x"));
  auto short_pw = check_password_rules("alice", "short");
  ASSERT_FALSE(short_pw);
  EXPECT_EQ(short_pw.error().field, "password");
  EXPECT_FALSE(check_password_rules("alice", "aaaaaaaaaaaaaa"));
  EXPECT_FALSE(check_password_rules("alice", "xxALICE12345"));
  EXPECT_FALSE(check_password_rules("alice", std::string(2000, 'x')));
}

TEST(Password, GeneratedPasswordsMeetTheRules) {
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(check_password_rules("admin", generate_password()));
}
