// Conformance: failed sign-ins counted atomically, password changes,
// revoking a user's tokens, and noting silent agents. Runs on every backend.
#include <thread>
#include <vector>

#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

User make_user(std::string id, std::string name) {
  User u;
  u.id = std::move(id);
  u.username = std::move(name);
  u.password_hash = "$argon2id$old";
  u.created_at = u.password_changed_at = kT0;
  return u;
}

ApiToken make_token(std::string id, std::string user_id, TokenKind kind) {
  ApiToken t;
  t.id = id;
  t.user_id = std::move(user_id);
  t.kind = kind;
  t.token_sha256 = sha256_hex(id);
  t.created_at = kT0;
  return t;
}

TEST_P(CatalogTest, FailedLoginsCountLocksAndBackOff) {
  CAT_OK(cat().create_user(make_user("usr-1", "alice")));
  const LockoutRule rule{3, 1000, 5000};
  for (int i = 1; i <= 2; ++i) {
    auto r = cat().note_failed_login("usr-1", kT0, rule);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->failed_logins, i);
    EXPECT_EQ(r->locked_until, 0);
  }
  auto third = cat().note_failed_login("usr-1", kT0, rule);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->locked_until, kT0 + 1000);  // the 3rd failure locks for base_ms
  EXPECT_EQ(cat().note_failed_login("usr-1", kT0, rule)->locked_until, kT0 + 2000);
  EXPECT_EQ(cat().note_failed_login("usr-1", kT0, rule)->locked_until, kT0 + 4000);
  EXPECT_EQ(cat().note_failed_login("usr-1", kT0, rule)->locked_until, kT0 + 5000);  // capped
  for (int i = 0; i < 70; ++i) (void)cat().note_failed_login("usr-1", kT0, rule);    // no shift overflow
  auto many = cat().note_failed_login("usr-1", kT0, rule);
  ASSERT_TRUE(many);
  EXPECT_EQ(many->failed_logins, 77);
  EXPECT_EQ(many->locked_until, kT0 + 5000);
  EXPECT_EQ(cat().get_user("usr-1")->failed_logins, 77);
  CAT_OK(cat().clear_failed_logins("usr-1"));
  auto u = cat().get_user("usr-1");
  EXPECT_EQ(u->failed_logins, 0);
  EXPECT_EQ(u->locked_until, 0);
  EXPECT_EQ(cat().note_failed_login("usr-missing", kT0, rule).error().code, Errc::not_found);
}

TEST_P(CatalogTest, ParallelFailedLoginsAllCount) {
  CAT_OK(cat().create_user(make_user("usr-1", "alice")));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 4; ++i) EXPECT_TRUE(cat().note_failed_login("usr-1", kT0, LockoutRule{}));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cat().get_user("usr-1")->failed_logins, 32);
}

TEST_P(CatalogTest, FailedLoginDoesNotUndoAConcurrentDisableOrPasswordChange) {
  CAT_OK(cat().create_user(make_user("usr-1", "alice")));
  // The sign-in read the row (enabled, old password) before an administrator
  // disabled the account and changed its password; then the failure is counted.
  auto stale = cat().get_user("usr-1");
  ASSERT_TRUE(stale);
  auto admin_view = *stale;
  admin_view.disabled = true;
  CAT_OK(cat().update_user(admin_view));
  CAT_OK(cat().set_password("usr-1", "$argon2id$new", kT0 + kMinute, false));
  CAT_OK(cat().note_failed_login(stale->id, kT0 + kMinute, LockoutRule{}));
  auto now = cat().get_user("usr-1");
  ASSERT_TRUE(now);
  EXPECT_TRUE(now->disabled);
  EXPECT_EQ(now->password_hash, "$argon2id$new");
  EXPECT_EQ(now->password_changed_at, kT0 + kMinute);
  EXPECT_EQ(now->failed_logins, 1);
}

TEST_P(CatalogTest, MustChangePasswordIsStoredAndClearedBySetPassword) {
  auto u = make_user("usr-1", "admin");
  u.must_change_password = true;
  CAT_OK(cat().create_user(u));
  EXPECT_TRUE(cat().find_user("admin")->must_change_password);
  CAT_OK(cat().note_failed_login("usr-1", kT0, LockoutRule{}));
  EXPECT_TRUE(cat().get_user("usr-1")->must_change_password);
  CAT_OK(cat().set_password("usr-1", "$argon2id$chosen", kT0 + 1, false));
  auto after = cat().get_user("usr-1");
  EXPECT_FALSE(after->must_change_password);
  EXPECT_EQ(after->failed_logins, 1);  // set_password leaves the lockout columns alone
  EXPECT_EQ(cat().set_password("usr-none", "x", kT0, false).error().code, Errc::not_found);
}

TEST_P(CatalogTest, RevokeUserTokensByKindKeepingOne) {
  CAT_OK(cat().create_user(make_user("usr-1", "alice")));
  CAT_OK(cat().create_user(make_user("usr-2", "bob")));
  CAT_OK(cat().create_token(make_token("ses-a", "usr-1", TokenKind::session)));
  CAT_OK(cat().create_token(make_token("ses-b", "usr-1", TokenKind::session)));
  CAT_OK(cat().create_token(make_token("ses-c", "usr-1", TokenKind::session)));
  CAT_OK(cat().create_token(make_token("tok-a", "usr-1", TokenKind::api)));
  CAT_OK(cat().create_token(make_token("ses-x", "usr-2", TokenKind::session)));
  auto n = cat().revoke_user_tokens("usr-1", TokenKind::session, "ses-a");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(cat().get_token("ses-a")->revoked);
  EXPECT_TRUE(cat().get_token("ses-b")->revoked);
  EXPECT_FALSE(cat().get_token("tok-a")->revoked);
  EXPECT_FALSE(cat().get_token("ses-x")->revoked);
  EXPECT_EQ(*cat().revoke_user_tokens("usr-1", std::nullopt, ""), 2);
  EXPECT_TRUE(cat().get_token("ses-a")->revoked);
  EXPECT_TRUE(cat().get_token("tok-a")->revoked);
  EXPECT_FALSE(cat().get_token("ses-x")->revoked);
}

TEST_P(CatalogTest, SilentComputersAreListedUntilNoted) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  CAT_OK(cat().create_computer(make_computer("cc-3", "never")));
  AgentState a;
  a.last_seen_at = kT0;
  CAT_OK(cat().update_agent_heartbeat("cc-1", a));
  a.last_seen_at = kT0 + 10 * kMinute;
  CAT_OK(cat().update_agent_heartbeat("cc-2", a));
  auto silent = cat().list_newly_silent(kT0 + 5 * kMinute, 10);
  ASSERT_TRUE(silent) << silent.error().message;
  ASSERT_EQ(silent->size(), 1u);  // cc-2 reported recently, cc-3 never did
  EXPECT_EQ((*silent)[0].computer_id, "cc-1");
  EXPECT_EQ((*silent)[0].last_seen_at, kT0);
  EXPECT_FALSE(*cat().note_silence("cc-1", kT0 - 1));  // a stale view changes nothing
  EXPECT_TRUE(*cat().note_silence("cc-1", kT0));
  EXPECT_TRUE(cat().list_newly_silent(kT0 + 5 * kMinute, 10)->empty());
  // A heartbeat ends the silence; the next one is listed again.
  a.last_seen_at = kT0 + 20 * kMinute;
  CAT_OK(cat().update_agent_heartbeat("cc-1", a));
  auto again = cat().list_newly_silent(kT0 + 40 * kMinute, 10);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].computer_id, "cc-2");
  EXPECT_EQ((*again)[1].computer_id, "cc-1");
}

}  // namespace
}  // namespace deskaudit::catalog::test
