#include "auth/permissions.hpp"

#include <algorithm>

#include <gtest/gtest.h>

using namespace deskaudit;
using namespace deskaudit::auth;
using catalog::RoleGrant;
using catalog::TargetType;

TEST(Permissions, BuiltinRolesUseOnlyKnownPermissions) {
  for (const auto& r : builtin_roles()) {
    EXPECT_TRUE(r.builtin);
    for (const auto& p : r.permissions) EXPECT_TRUE(is_permission(p)) << r.id << " " << p;
  }
  EXPECT_EQ(builtin_roles().front().permissions.size(), all_permissions().size());
}

TEST(Permissions, AuditorListsAndPlaysButDoesNotDownload) {
  Grants g({RoleGrant{"u", "auditor", std::nullopt, std::nullopt}}, builtin_roles());
  EXPECT_TRUE(g.has(perm::recording_list));
  EXPECT_TRUE(g.has(perm::recording_play));
  EXPECT_FALSE(g.has(perm::recording_download));
  EXPECT_FALSE(g.has(perm::policy_write));
  EXPECT_EQ(g.scope(perm::recording_list), std::nullopt);
}

TEST(Permissions, ScopedGrantLimitsToPoolsAndComputers) {
  Grants g({RoleGrant{"u", "auditor", TargetType::pool, "pool-a"},
            RoleGrant{"u", "auditor", TargetType::computer, "cc-x"}},
           builtin_roles());
  EXPECT_TRUE(g.allows(perm::recording_play, "cc-1", std::string("pool-a")));
  EXPECT_TRUE(g.allows(perm::recording_play, "cc-x", std::nullopt));
  EXPECT_FALSE(g.allows(perm::recording_play, "cc-2", std::string("pool-b")));
  EXPECT_FALSE(g.allows(perm::recording_play, "cc-2", std::nullopt));
  auto s = g.scope(perm::recording_list);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->pool_ids, std::vector<std::string>{"pool-a"});
  EXPECT_EQ(s->computer_ids, std::vector<std::string>{"cc-x"});
}

TEST(Permissions, UnscopedGrantWinsOverScopedOne) {
  Grants g({RoleGrant{"u", "auditor", TargetType::pool, "pool-a"}, RoleGrant{"u", "read-only", std::nullopt, std::nullopt}},
           builtin_roles());
  EXPECT_EQ(g.scope(perm::recording_list), std::nullopt);             // read-only lists everywhere
  EXPECT_TRUE(g.scope(perm::recording_play).has_value());             // play only in pool-a
}

TEST(Permissions, MissingPermissionGivesEmptyScope) {
  Grants g;
  auto s = g.scope(perm::recording_list);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->pool_ids.empty() && s->computer_ids.empty());
  EXPECT_FALSE(g.allows(perm::recording_list, "cc", std::nullopt));
}
