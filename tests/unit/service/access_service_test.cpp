// AccessService against the in-memory catalog: escalation rules, sign-in
// and lockout, password changes, tokens, bearer authentication, the audit
// entries each writes, and an unreachable catalog answering unavailable.
#include <filesystem>
#include <fstream>

#include "common/crypto.hpp"
#include "common/text.hpp"
#include "service/agent_service.hpp"
#include "service_test_support.hpp"

namespace deskaudit::service::test {
namespace {

using catalog::TargetType;

class AccessServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    admin_id = add_user("admin", {grant("administrator")});
    ASSERT_TRUE(catalog.create_pool({"pool-a", "Alpha", "", kT0}));
    ASSERT_TRUE(catalog.create_pool({"pool-b", "Beta", "", kT0}));
    // A user manager without recording rights.
    ASSERT_TRUE(catalog.upsert_role({"role-users", "User managers", "", {"admin:users", "inventory:read"}, false}));
    manager_id = add_user("manager", {grant("role-users"), grant("auditor", TargetType::pool, "pool-a")});
  }

  AccessService service{catalog, audit, clock, AccessSettings{catalog::LockoutRule{3, 1000, 5000}, 3600'000, {}}};
  std::string admin_id, manager_id;
};

TEST_F(AccessServiceTest, CreatesAUserWithItsGrantsAndAuditsIt) {
  const auto before = entries().size();
  auto made = service.create_user(caller(admin_id),
                                  {"carol", "a long passphrase", {grant("auditor", TargetType::pool, "pool-b")}});
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(made->user.username, "carol");
  ASSERT_EQ(made->grants.size(), 1u);
  EXPECT_EQ(made->grants[0].user_id, made->user.id);
  EXPECT_TRUE(auth::verify_password("a long passphrase", catalog.get_user(made->user.id)->password_hash));
  auto stored = catalog.list_grants(made->user.id);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].scope_id, "pool-b");
  const auto log = entries();
  ASSERT_EQ(log.size(), before + 1);
  EXPECT_EQ(log.back().actor, "admin");
  EXPECT_EQ(log.back().action, "user.create");
  EXPECT_EQ(log.back().target, made->user.id);
  EXPECT_EQ(nlohmann::json::parse(log.back().details_json)["roles"][0]["scope_id"], "pool-b");
}

TEST_F(AccessServiceTest, GrantsMustExistAndPasswordsFollowTheRules) {
  const auto admin = caller(admin_id);
  for (const auto& bad : {grant("no-such-role"), grant("auditor", TargetType::pool, "pool-x"),
                          grant("auditor", TargetType::computer, "cc-x")}) {
    auto r = service.create_user(admin, {"dave", "a long passphrase", {bad}});
    ASSERT_FALSE(r) << bad.role_id;
    EXPECT_EQ(r.error().code, Errc::unprocessable) << r.error().message;
    EXPECT_EQ(r.error().field, "roles");
  }
  auto weak = service.create_user(admin, {"dave", "short", {}});
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().field, "password");
  EXPECT_EQ(catalog.find_user("dave").error().code, Errc::not_found);
  auto taken = service.create_user(admin, {"manager", "a long passphrase", {}});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::conflict);
}

TEST_F(AccessServiceTest, NobodyGrantsMoreThanTheyHold) {
  const auto manager = caller(manager_id);
  const auto before = entries().size();
  // The manager plays recordings only in pool-a: it may hand that on, not more.
  for (const auto& wider : {grant("administrator"), grant("auditor"), grant("auditor", TargetType::pool, "pool-b"),
                            grant("auditor-download", TargetType::pool, "pool-a")}) {
    auto r = service.create_user(manager, {"erin", "a long passphrase", {wider}});
    ASSERT_FALSE(r) << wider.role_id;
    EXPECT_EQ(r.error().code, Errc::permission_denied) << r.error().message;
  }
  EXPECT_EQ(catalog.find_user("erin").error().code, Errc::not_found);
  EXPECT_EQ(entries().size(), before);
  auto ok = service.create_user(manager, {"erin", "a long passphrase", {grant("auditor", TargetType::pool, "pool-a")}});
  ASSERT_TRUE(ok) << ok.error().message;

  // Nor gives a user more by PATCH, nor defines a role with what it lacks.
  auto patched = service.update_user(manager, ok->user.id, {std::nullopt, std::nullopt, {{grant("auditor")}}}, "");
  ASSERT_FALSE(patched);
  EXPECT_EQ(patched.error().code, Errc::permission_denied);
  auto role = service.create_role(manager, {"Players", "", {"recording:play"}});
  ASSERT_FALSE(role);
  EXPECT_EQ(role.error().code, Errc::permission_denied);
  EXPECT_EQ(role.error().field, "permissions");
  auto fine = service.create_role(manager, {"Viewers", "d", {"inventory:read", "inventory:read"}});
  ASSERT_TRUE(fine) << fine.error().message;
  EXPECT_EQ(fine->permissions, std::vector<std::string>{"inventory:read"});
}

TEST_F(AccessServiceTest, NobodyManagesAUserWhoHoldsMore) {
  const auto manager = caller(manager_id);
  const auto old_hash = catalog.get_user(admin_id)->password_hash;
  auto reset =
      service.update_user(manager, admin_id, {std::string("a new passphrase"), std::nullopt, std::nullopt}, "");
  ASSERT_FALSE(reset);
  EXPECT_EQ(reset.error().code, Errc::permission_denied);
  EXPECT_EQ(catalog.get_user(admin_id)->password_hash, old_hash);
  EXPECT_EQ(service.delete_user(manager, admin_id).error().code, Errc::permission_denied);
  SVC_OK(catalog.get_user(admin_id));

  // An API token of someone holding more cannot be revoked either.
  auto token = service.create_api_token(caller(admin_id), "ci", std::nullopt);
  ASSERT_TRUE(token);
  EXPECT_EQ(service.revoke_api_token(manager, token->token.id).error().code, Errc::permission_denied);
  EXPECT_FALSE(catalog.get_token(token->token.id)->revoked);
  // Without admin:users another user's token is not even there.
  const auto player_id = add_user("player", {grant("auditor")});
  EXPECT_EQ(service.revoke_api_token(caller(player_id), token->token.id).error().code, Errc::not_found);
  // A user without admin:users reaches no user management at all.
  EXPECT_EQ(service.list_users(caller(player_id)).error().code, Errc::permission_denied);
}

TEST_F(AccessServiceTest, ResetRevokesTokensDisableRevokesAllAndClearsTheLockout) {
  const auto admin = caller(admin_id);
  const auto player_id = add_user("player", {grant("auditor")});
  auto api = service.create_api_token(caller(player_id), "ci", std::nullopt);
  ASSERT_TRUE(api);
  auto session = service.sign_in({"player", std::string(kPassword), SessionKind::bearer, "10.0.0.1"});
  ASSERT_TRUE(session);
  ASSERT_TRUE(catalog.note_failed_login(player_id, kT0, {1, 1000, 1000}));

  auto reset =
      service.update_user(admin, player_id, {std::string("another passphrase"), std::nullopt, std::nullopt}, "");
  ASSERT_TRUE(reset) << reset.error().message;
  auto after = catalog.get_user(player_id);
  EXPECT_TRUE(auth::verify_password("another passphrase", after->password_hash));
  EXPECT_EQ(after->failed_logins, 0);
  EXPECT_EQ(after->locked_until, 0);
  EXPECT_TRUE(catalog.get_token(api->token.id)->revoked);
  EXPECT_TRUE(catalog.get_token(session->session.token.id)->revoked);
  const auto details = nlohmann::json::parse(entries().back().details_json);
  EXPECT_EQ(entries().back().action, "user.update");
  EXPECT_EQ(details["tokens_revoked"], 2);

  // Resetting one's own password keeps the token in use.
  auto own = service.sign_in({"admin", std::string(kPassword), SessionKind::cookie, "10.0.0.2"});
  ASSERT_TRUE(own);
  ASSERT_TRUE(service.update_user(admin, admin_id, {std::string("my new passphrase"), std::nullopt, std::nullopt},
                                  own->session.token.id));
  EXPECT_FALSE(catalog.get_token(own->session.token.id)->revoked);

  auto api2 = service.create_api_token(caller(player_id), "ci2", std::nullopt);
  ASSERT_TRUE(api2);
  ASSERT_TRUE(service.update_user(admin, player_id, {std::nullopt, true, std::nullopt}, ""));
  EXPECT_TRUE(catalog.get_user(player_id)->disabled);
  EXPECT_TRUE(catalog.get_token(api2->token.id)->revoked);

  auto self = service.update_user(admin, admin_id, {std::nullopt, true, std::nullopt}, "");
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().code, Errc::conflict);
  EXPECT_EQ(service.delete_user(admin, admin_id).error().code, Errc::conflict);
}

TEST_F(AccessServiceTest, SignInLocksTheAccountAfterFailuresAndAuditsEachAttempt) {
  const SignInRequest wrong{"manager", "wrong password!", SessionKind::bearer, "192.0.2.7"};
  for (int i = 1; i <= 3; ++i) {
    auto r = service.sign_in(wrong);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().error.code, Errc::unauthenticated);
    EXPECT_EQ(r.error().error.message, "wrong user name or password");
    EXPECT_EQ(catalog.get_user(manager_id)->failed_logins, i);
  }
  auto failed = entries().back();
  EXPECT_EQ(failed.action, "auth.login_failed");
  EXPECT_EQ(failed.actor, "manager");
  auto details = nlohmann::json::parse(failed.details_json);
  EXPECT_EQ(details["reason"], "wrong password");
  EXPECT_EQ(details["address"], "192.0.2.7");
  EXPECT_EQ(details["failures"], 3);

  // The third failure locked it for base_ms: even the right password waits.
  const SignInRequest right{"manager", std::string(kPassword), SessionKind::bearer, "192.0.2.7"};
  auto locked = service.sign_in(right);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().error.code, Errc::too_many_requests);
  EXPECT_EQ(locked.error().retry_after_ms, 1000);
  EXPECT_EQ(nlohmann::json::parse(entries().back().details_json)["reason"], "locked");

  clock->advance(1000);
  auto in = service.sign_in(right);
  ASSERT_TRUE(in) << in.error().error.message;
  EXPECT_EQ(in->user.id, manager_id);
  EXPECT_TRUE(in->grants.everywhere("admin:users"));
  EXPECT_TRUE(in->session.secret.starts_with(kSessionPrefix));
  EXPECT_EQ(in->session.token.token_sha256, sha256_hex(in->session.secret));
  EXPECT_EQ(*in->session.token.expires_at, kT0 + 1000 + 3600'000);
  EXPECT_EQ(catalog.find_token(sha256_hex(in->session.secret))->user_id, manager_id);
  EXPECT_EQ(catalog.get_user(manager_id)->failed_logins, 0);
  EXPECT_EQ(entries().back().action, "auth.login");
}

TEST_F(AccessServiceTest, UnknownDisabledAndOversizedSignInsAnswerAlike) {
  ASSERT_TRUE(service.update_user(caller(admin_id), manager_id, {std::nullopt, true, std::nullopt}, ""));
  const std::string long_name(300, 'x');
  for (const auto& [name, reason] : {std::pair<std::string, std::string>{"nobody", "unknown user"},
                                     {"manager", "disabled"},
                                     {long_name, "user name or password too long or not UTF-8"}}) {
    auto r = service.sign_in({name, std::string(kPassword), SessionKind::bearer, "192.0.2.8"});
    ASSERT_FALSE(r) << reason;
    EXPECT_EQ(r.error().error.code, Errc::unauthenticated) << reason;
    EXPECT_EQ(r.error().error.message, "wrong user name or password");
    const auto last = entries().back();
    EXPECT_EQ(last.action, "auth.login_failed");
    EXPECT_EQ(nlohmann::json::parse(last.details_json)["reason"], reason);
    EXPECT_LE(last.actor.size(), kMaxUserNameBytes);
  }
}

TEST_F(AccessServiceTest, ChangingThePasswordSignsOutOtherSessionsAndRemovesTheFirstPasswordFile) {
  const auto dir = std::filesystem::temp_directory_path() / random_id("deskaudit-access-test-");
  std::filesystem::create_directories(dir);
  const auto first_file = dir / "first-admin-password";
  std::ofstream(first_file) << "generated\n";
  AccessService with_file{catalog, audit, clock, AccessSettings{{}, 3600'000, first_file}};
  auto u = catalog.get_user(admin_id);
  u->must_change_password = true;
  ASSERT_TRUE(catalog.update_user(*u));
  auto mine = with_file.sign_in({"admin", std::string(kPassword), SessionKind::cookie, "a"});
  auto other = with_file.sign_in({"admin", std::string(kPassword), SessionKind::bearer, "b"});
  auto api = with_file.create_api_token(caller(admin_id), "ci", std::nullopt);
  ASSERT_TRUE(mine && other && api);

  auto wrong = with_file.change_password(caller(admin_id), "not it", "a brand new passphrase", mine->session.token.id);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::permission_denied);
  auto same = with_file.change_password(caller(admin_id), kPassword, kPassword, mine->session.token.id);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::unprocessable);
  EXPECT_TRUE(std::filesystem::exists(first_file));

  SVC_OK(with_file.change_password(caller(admin_id), kPassword, "a brand new passphrase", mine->session.token.id));
  EXPECT_FALSE(catalog.get_token(mine->session.token.id)->revoked);
  EXPECT_TRUE(catalog.get_token(other->session.token.id)->revoked);
  EXPECT_FALSE(catalog.get_token(api->token.id)->revoked);
  EXPECT_FALSE(catalog.get_user(admin_id)->must_change_password);
  EXPECT_FALSE(std::filesystem::exists(first_file));
  const auto last = entries().back();
  EXPECT_EQ(last.action, "user.password");
  EXPECT_EQ(nlohmann::json::parse(last.details_json)["was_required"], true);
  std::filesystem::remove_all(dir);
}

TEST_F(AccessServiceTest, ApiTokensAreTheCallersAndExpireInTheFuture) {
  const auto admin = caller(admin_id);
  auto past = service.create_api_token(admin, "old", kT0 - 1);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::unprocessable);
  auto t = service.create_api_token(admin, "ci", kT0 + 60'000);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->secret.starts_with(kApiTokenPrefix));
  EXPECT_EQ(entries().back().action, "token.create");
  ASSERT_TRUE(service.sign_in({"admin", std::string(kPassword), SessionKind::bearer, "a"}));
  auto mine = service.list_api_tokens(admin, false);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 1u);  // sessions are not API tokens
  ASSERT_TRUE(service.create_api_token(caller(manager_id), "theirs", std::nullopt));
  EXPECT_EQ(service.list_api_tokens(admin, true)->size(), 2u);
  const auto player_id = add_user("player", {grant("auditor")});
  EXPECT_TRUE(service.list_api_tokens(caller(player_id), true)->empty());  // all=true needs admin:users
  SVC_OK(service.revoke_api_token(admin, t->token.id));
  EXPECT_TRUE(catalog.get_token(t->token.id)->revoked);
  EXPECT_EQ(entries().back().action, "token.revoke");
}

TEST_F(AccessServiceTest, BuiltInRolesStayAndGrantedRolesCannotGo) {
  const auto admin = caller(admin_id);
  auto builtin = service.update_role(admin, "auditor", {std::string("Renamed"), std::nullopt, std::nullopt});
  ASSERT_FALSE(builtin);
  EXPECT_EQ(builtin.error().code, Errc::conflict);
  EXPECT_EQ(service.delete_role(admin, "administrator").error().code, Errc::conflict);
  auto r = service.create_role(admin, {"Viewers", "", {"recording:list"}});
  ASSERT_TRUE(r);
  auto renamed = service.update_role(admin, r->id, {std::string("Watchers"), std::string("d"), std::nullopt});
  ASSERT_TRUE(renamed);
  EXPECT_EQ(catalog.get_role(r->id)->name, "Watchers");
  ASSERT_TRUE(service.create_user(admin, {"frank", "a long passphrase", {grant(r->id)}}));
  EXPECT_EQ(service.delete_role(admin, r->id).error().code, Errc::conflict);
  // The manager lacks recording:list everywhere, so it may not touch this role.
  EXPECT_EQ(service.update_role(caller(manager_id), r->id, {std::string("X"), std::nullopt, std::nullopt}).error().code,
            Errc::permission_denied);
}

TEST_F(AccessServiceTest, AnUnreachableCatalogAnswersUnavailable) {
  const auto admin = caller(admin_id);
  catalog.set_unavailable(true);
  EXPECT_EQ(service.list_users(admin).error().code, Errc::unavailable);
  EXPECT_EQ(service.get_user(admin, manager_id).error().code, Errc::unavailable);
  EXPECT_EQ(service.create_api_token(admin, "ci", std::nullopt).error().code, Errc::unavailable);
  // A sign-in that cannot reach the catalog is not a wrong password.
  auto in = service.sign_in({"admin", std::string(kPassword), SessionKind::bearer, "a"});
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().error.code, Errc::unavailable);
  catalog.set_unavailable(false);

  // Failing in the middle of a sign-in (counting a failure) is not one either.
  catalog.fail_next("note_failed_login", Error{Errc::unavailable, "lost connection"});
  auto counted = service.sign_in({"admin", "wrong password!", SessionKind::bearer, "a"});
  ASSERT_FALSE(counted);
  EXPECT_EQ(counted.error().error.code, Errc::unavailable);
  EXPECT_EQ(catalog.get_user(admin_id)->failed_logins, 0);
}

}  // namespace
}  // namespace deskaudit::service::test

namespace deskaudit::service::test {
namespace {

class AccessBootstrapTest : public ServiceTest {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path dir = std::filesystem::temp_directory_path() / random_id("deskaudit-bootstrap-test-");
};

TEST_F(AccessBootstrapTest, AGeneratedFirstPasswordGoesToAPrivateFileAndMustBeChanged) {
  std::filesystem::create_directories(dir);
  AccessService service{catalog, audit, clock, AccessSettings{{}, 3600'000, dir / "first-admin-password"}};
  auto generated = service.bootstrap("");
  ASSERT_TRUE(generated) << generated.error().message;
  EXPECT_TRUE(*generated);
  const auto file = dir / "first-admin-password";
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string password;
  std::ifstream(file) >> password;
  auto admin = catalog.find_user("admin");
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->must_change_password);
  EXPECT_TRUE(auth::verify_password(password, admin->password_hash));
  EXPECT_TRUE(load_grants(catalog, admin->id)->everywhere("admin:users"));
  EXPECT_EQ(entries().back().actor, "system");
  EXPECT_EQ(entries().back().action, "user.create");
  // Once there is a user, a start creates nobody.
  auto again = service.bootstrap("");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(*catalog.count_users(), 1);
}

TEST_F(AccessBootstrapTest, AnExplicitFirstPasswordMustFollowTheRules) {
  AccessService service{catalog, audit, clock, AccessSettings{}};
  auto weak = service.bootstrap("admin-admin");
  ASSERT_FALSE(weak);
  EXPECT_NE(weak.error().message.find("DESKAUDIT_ADMIN_PASSWORD"), std::string::npos) << weak.error().message;
  EXPECT_EQ(*catalog.count_users(), 0);
  auto ok = service.bootstrap(std::string(kPassword));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(*ok);
  EXPECT_FALSE(catalog.find_user("admin")->must_change_password);
  catalog.set_unavailable(true);
  EXPECT_EQ(service.bootstrap("").error().code, Errc::unavailable);
}

// --- bearer authentication ----------------------------------------------------------

class AuthenticateTest : public AccessServiceTest {
 protected:
  // Stores a token of admin's with this secret.
  catalog::ApiToken add_token(const std::string& secret, catalog::TokenKind kind,
                              std::optional<EpochMs> expires_at = std::nullopt) {
    catalog::ApiToken t;
    t.id = random_id("tok-");
    t.user_id = admin_id;
    t.kind = kind;
    t.name = "t";
    t.token_sha256 = sha256_hex(secret);
    t.created_at = kT0;
    t.expires_at = expires_at;
    EXPECT_TRUE(catalog.create_token(t));
    return t;
  }
  // An enrolled computer's agent credential.
  std::pair<std::string, std::string> add_agent() {
    catalog::EnrollmentToken e;
    e.id = "enr-1";
    e.token_sha256 = sha256_hex("det_enrol");
    e.created_by = admin_id;
    e.created_at = kT0;
    EXPECT_TRUE(catalog.create_enrollment_token(e));
    catalog::Computer c;
    c.id = "cc-1";
    c.name = c.hostname = "desk-1";
    const std::string secret = std::string(kAgentPrefix) + "secret";
    auto made = catalog.enroll(e.token_sha256, c, sha256_hex(secret), kT0);
    EXPECT_TRUE(made);
    return {secret, made ? made->id : ""};
  }
  // The error's code; none when authenticated.
  static std::optional<Errc> code_of(const Result<Credential>& r) {
    return r ? std::nullopt : std::optional(r.error().code);
  }
};

TEST_F(AuthenticateTest, SessionsAndApiTokensNameTheirUserWithItsGrants) {
  const std::string secret = std::string(kSessionPrefix) + "s1";
  const auto t = add_token(secret, catalog::TokenKind::session, kT0 + 3600'000);
  auto c = service.authenticate(secret);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->kind, Credential::Kind::admin);
  EXPECT_EQ(c->user.id, admin_id);
  EXPECT_EQ(c->token.id, t.id);
  EXPECT_EQ(c->token.kind, catalog::TokenKind::session);
  EXPECT_TRUE(c->grants.everywhere(auth::perm::admin_users));
  // Marked used, then not again within the minute.
  EXPECT_EQ(catalog.get_token(t.id)->last_used_at, kT0);
  EXPECT_EQ(catalog.calls("touch_token"), 1);
  clock->advance(30'000);
  ASSERT_TRUE(service.authenticate(secret));
  EXPECT_EQ(catalog.calls("touch_token"), 1);

  const std::string api = std::string(kApiTokenPrefix) + "a1";
  add_token(api, catalog::TokenKind::api);
  auto a = service.authenticate(api);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->token.kind, catalog::TokenKind::api);
}

TEST_F(AuthenticateTest, UnknownExpiredRevokedOrDisabledIsUnauthenticated) {
  EXPECT_EQ(code_of(service.authenticate(std::string(kSessionPrefix) + "nobody")), Errc::unauthenticated);
  EXPECT_EQ(code_of(service.authenticate("xyz_no_prefix")), Errc::unauthenticated);
  EXPECT_EQ(code_of(service.authenticate(std::string(kAgentPrefix) + "nobody")), Errc::unauthenticated);

  const std::string expiring = std::string(kSessionPrefix) + "e";
  add_token(expiring, catalog::TokenKind::session, kT0 + 1000);
  ASSERT_TRUE(service.authenticate(expiring));
  clock->advance(1000);
  EXPECT_EQ(code_of(service.authenticate(expiring)), Errc::unauthenticated);

  const std::string revoked = std::string(kApiTokenPrefix) + "r";
  const auto t = add_token(revoked, catalog::TokenKind::api);
  ASSERT_TRUE(catalog.revoke_token(t.id));
  EXPECT_EQ(code_of(service.authenticate(revoked)), Errc::unauthenticated);

  const std::string mine = std::string(kApiTokenPrefix) + "d";
  add_token(mine, catalog::TokenKind::api);
  auto u = catalog.get_user(admin_id);
  u->disabled = true;
  ASSERT_TRUE(catalog.update_user(*u));
  EXPECT_EQ(code_of(service.authenticate(mine)), Errc::unauthenticated);
  ASSERT_TRUE(catalog.delete_user(admin_id));
  EXPECT_EQ(code_of(service.authenticate(mine)), Errc::unauthenticated);
}

TEST_F(AuthenticateTest, AnAgentCredentialNamesItsComputer) {
  const auto [secret, computer] = add_agent();
  auto c = service.authenticate(secret);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->kind, Credential::Kind::agent);
  EXPECT_EQ(c->computer_id, computer);
}

// A catalog failure at any step is the server's trouble (unavailable, to be
// retried), never "your credential is gone" (unauthenticated).
TEST_F(AuthenticateTest, ACatalogFailureIsUnavailableNeverUnauthenticated) {
  const std::string secret = std::string(kSessionPrefix) + "s2";
  add_token(secret, catalog::TokenKind::session);
  const auto [agent_secret, computer] = add_agent();
  for (const Errc failure : {Errc::unavailable, Errc::internal, Errc::io}) {
    for (const char* step : {"find_token", "get_user", "list_grants", "list_roles"}) {
      catalog.fail_next(step, Error{failure, "lost connection"});
      auto r = service.authenticate(secret);
      ASSERT_FALSE(r) << step;
      EXPECT_EQ(r.error().code, Errc::unavailable) << step;
      EXPECT_NE(r.error().message.find("retry"), std::string::npos) << r.error().message;
    }
    catalog.fail_next("computer_for_agent_token", Error{failure, "lost connection"});
    EXPECT_EQ(code_of(service.authenticate(agent_secret)), Errc::unavailable);
  }
  // A failure to mark the token used does not refuse the caller.
  clock->advance(120'000);
  catalog.fail_next("touch_token", Error{Errc::unavailable, "lost connection"});
  EXPECT_TRUE(service.authenticate(secret));
  // And once the catalog answers again, the same credentials work.
  EXPECT_TRUE(service.authenticate(secret));
  EXPECT_TRUE(service.authenticate(agent_secret));
}

}  // namespace
}  // namespace deskaudit::service::test
