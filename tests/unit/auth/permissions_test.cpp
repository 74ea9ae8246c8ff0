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

namespace {
std::optional<std::string> pool_of(std::string_view computer) {
  if (computer == "cc-a1") return std::string("pool-a");
  if (computer == "cc-b1") return std::string("pool-b");
  return std::nullopt;
}
const catalog::Role& role(std::string_view id) { return *std::ranges::find(builtin_roles(), id, &catalog::Role::id); }
}  // namespace

TEST(Permissions, NobodyGrantsWiderThanTheyHold) {
  Grants scoped({RoleGrant{"u", "administrator", TargetType::pool, "pool-a"}}, builtin_roles());
  EXPECT_FALSE(scoped.can_grant(role("administrator"), std::nullopt, std::nullopt, pool_of));
  EXPECT_FALSE(scoped.can_grant(role("auditor"), std::nullopt, std::nullopt, pool_of));
  EXPECT_FALSE(scoped.can_grant(role("auditor"), TargetType::pool, std::string("pool-b"), pool_of));
  EXPECT_FALSE(scoped.can_grant(role("auditor"), TargetType::computer, std::string("cc-b1"), pool_of));
  EXPECT_TRUE(scoped.can_grant(role("auditor"), TargetType::pool, std::string("pool-a"), pool_of));
  EXPECT_TRUE(scoped.can_grant(role("administrator"), TargetType::computer, std::string("cc-a1"), pool_of));

  Grants mixed({RoleGrant{"u", "auditor", std::nullopt, std::nullopt},
                RoleGrant{"u", "administrator", TargetType::pool, "pool-a"}},
               builtin_roles());
  EXPECT_TRUE(mixed.can_grant(role("auditor"), std::nullopt, std::nullopt, pool_of));
  EXPECT_FALSE(mixed.can_grant(role("auditor-download"), std::nullopt, std::nullopt, pool_of));
  EXPECT_TRUE(mixed.can_grant(role("auditor-download"), TargetType::pool, std::string("pool-a"), pool_of));
  EXPECT_TRUE(Grants::everything().can_grant(role("administrator"), std::nullopt, std::nullopt, pool_of));
}

TEST(Permissions, CoversComparesEveryPermissionsReach) {
  const Grants global = Grants::everything();
  Grants scoped_a({RoleGrant{"u", "administrator", TargetType::pool, "pool-a"}}, builtin_roles());
  Grants auditor_a({RoleGrant{"u", "auditor", TargetType::pool, "pool-a"}}, builtin_roles());
  Grants auditor_b({RoleGrant{"u", "auditor", TargetType::pool, "pool-b"}}, builtin_roles());
  Grants auditor_c({RoleGrant{"u", "auditor", TargetType::computer, "cc-a1"}}, builtin_roles());
  Grants auditor_all({RoleGrant{"u", "auditor", std::nullopt, std::nullopt}}, builtin_roles());
  EXPECT_TRUE(global.covers(scoped_a, pool_of));
  EXPECT_FALSE(scoped_a.covers(global, pool_of));
  EXPECT_TRUE(scoped_a.covers(auditor_a, pool_of));
  EXPECT_TRUE(scoped_a.covers(auditor_c, pool_of));
  EXPECT_FALSE(scoped_a.covers(auditor_b, pool_of));
  EXPECT_FALSE(scoped_a.covers(auditor_all, pool_of));
  EXPECT_TRUE(scoped_a.covers(Grants(), pool_of));
  EXPECT_TRUE(scoped_a.covers_pool(perm::inventory_write, "pool-a"));
  EXPECT_FALSE(scoped_a.covers_pool(perm::inventory_write, "pool-b"));
  EXPECT_FALSE(auditor_c.covers_pool(perm::inventory_read, "pool-a"));
}
