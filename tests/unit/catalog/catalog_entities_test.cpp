// Conformance: migrations, pools, computers, policies, enrollment,
// administrators, roles and tokens. Runs on every backend (instantiated in
// catalog_audit_test.cpp).
#include <algorithm>

#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

TEST_P(CatalogTest, MigrationsAreIdempotent) {
  CATALOG_SKIP_UNLESS_SQL();
  auto v = cat().schema_version();
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_GE(*v, 1);
  CAT_OK(cat().migrate());
  CAT_OK(cat().migrate());
  auto again = cat().schema_version();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *v);
  EXPECT_EQ(cat().backend(), GetParam() == BackendKind::sqlite ? "sqlite" : "postgresql");
  // A second catalog on the same database sees the applied schema.
  auto other = make_catalog(url_, 2);
  ASSERT_TRUE(other) << other.error().message;
  CAT_OK((*other)->migrate());
  EXPECT_EQ(*(*other)->schema_version(), *v);
}

TEST_P(CatalogTest, PoolsCrudAndConflicts) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_pool(make_pool("pool-b", "Beta")));
  auto dup_name = cat().create_pool(make_pool("pool-c", "Alpha"));
  ASSERT_FALSE(dup_name);
  EXPECT_EQ(dup_name.error().code, Errc::conflict);
  EXPECT_NE(dup_name.error().message.find("Alpha"), std::string::npos) << dup_name.error().message;
  auto dup_id = cat().create_pool(make_pool("pool-a", "Gamma"));
  ASSERT_FALSE(dup_id);
  EXPECT_EQ(dup_id.error().code, Errc::conflict);

  auto got = cat().get_pool("pool-a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "Alpha");
  EXPECT_EQ(got->description, "desc");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(cat().get_pool("pool-x").error().code, Errc::not_found);

  CAT_OK(cat().update_pool(Pool{"pool-a", "Aardvark", "new", 0}));
  EXPECT_EQ(cat().get_pool("pool-a")->name, "Aardvark");
  EXPECT_EQ(cat().get_pool("pool-a")->description, "new");
  EXPECT_EQ(cat().update_pool(Pool{"pool-a", "Beta", "", 0}).error().code, Errc::conflict);
  EXPECT_EQ(cat().update_pool(Pool{"pool-x", "X", "", 0}).error().code, Errc::not_found);

  auto all = cat().list_pools("", std::nullopt, Page{});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->items.size(), 2u);
  EXPECT_EQ(all->items[0].id, "pool-a");  // by name: Aardvark < Beta
  auto found = cat().list_pools("bet", std::nullopt, Page{});
  ASSERT_TRUE(found);
  ASSERT_EQ(found->items.size(), 1u);
  EXPECT_EQ(found->items[0].id, "pool-b");
  auto scoped = cat().list_pools("", Scope{{}, {"pool-b"}}, Page{});
  ASSERT_TRUE(scoped);
  ASSERT_EQ(scoped->items.size(), 1u);
  EXPECT_EQ(scoped->items[0].id, "pool-b");

  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  auto busy = cat().delete_pool("pool-a");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Errc::conflict);
  CAT_OK(cat().set_computer_pool("cc-1", std::nullopt));
  CAT_OK(cat().delete_pool("pool-a"));
  EXPECT_EQ(cat().delete_pool("pool-a").error().code, Errc::not_found);
}

TEST_P(CatalogTest, ComputersCrudAgentStateAndListing) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "web-01", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "Web-02")));
  CAT_OK(cat().create_computer(make_computer("cc-3", "db_01")));
  EXPECT_EQ(cat().create_computer(make_computer("cc-1", "dup")).error().code, Errc::conflict);
  EXPECT_EQ(cat().create_computer(make_computer("cc-9", "x", "pool-none")).error().code, Errc::not_found);

  auto c = cat().get_computer("cc-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "web-01");
  EXPECT_EQ(c->hostname, "web-01.example");
  EXPECT_EQ(c->pool_id, "pool-a");
  EXPECT_FALSE(c->enrolled);
  EXPECT_EQ(c->agent.capture_json, "null");
  EXPECT_EQ(c->agent.set_aside_json, "null");  // the column default (migration 5)
  EXPECT_EQ(cat().get_computer("cc-x").error().code, Errc::not_found);

  Computer edit = *c;
  edit.name = "web-1";
  edit.hostname = "h";
  edit.os = "Ubuntu";
  CAT_OK(cat().update_computer(edit));
  c = cat().get_computer("cc-1");
  EXPECT_EQ(c->name, "web-1");
  EXPECT_EQ(c->os, "Ubuntu");
  EXPECT_EQ(cat().update_computer(make_computer("cc-x", "x")).error().code, Errc::not_found);

  AgentState state;
  state.agent_version = "0.1.0";
  state.capture_json = R"({"backend":"xshm","ok":true})";
  state.spool_bytes = 1234;
  state.last_error = "none";
  state.session_json = R"({"user":"alice"})";
  state.set_aside_json = R"({"count":1,"items":[{"local_id":"r1","http_status":404}]})";
  state.last_seen_at = kT0 + 5;
  state.last_upload_at = 999;  // ignored by the heartbeat
  CAT_OK(cat().update_agent_heartbeat("cc-1", state));
  CAT_OK(cat().note_upload("cc-1", kT0 + 10, ""));
  CAT_OK(cat().note_upload("cc-1", kT0 + 20, "bucket unreachable"));
  CAT_OK(cat().note_session_start("cc-1", kT0 + 30));
  c = cat().get_computer("cc-1");
  EXPECT_EQ(c->agent.agent_version, "0.1.0");
  EXPECT_EQ(c->agent.capture_json, state.capture_json);
  EXPECT_EQ(c->agent.spool_bytes, 1234);
  EXPECT_EQ(c->agent.session_json, state.session_json);
  EXPECT_EQ(c->agent.set_aside_json, state.set_aside_json);
  EXPECT_EQ(c->agent.last_seen_at, kT0 + 5);
  EXPECT_EQ(c->agent.last_upload_at, kT0 + 10);
  EXPECT_EQ(c->agent.last_upload_error, "bucket unreachable");
  EXPECT_EQ(c->agent.last_session_at, kT0 + 30);
  CAT_OK(cat().note_upload("cc-1", kT0 + 40, ""));
  EXPECT_EQ(cat().get_computer("cc-1")->agent.last_upload_error, "");
  EXPECT_EQ(cat().update_agent_heartbeat("cc-x", state).error().code, Errc::not_found);
  EXPECT_EQ(cat().note_upload("cc-x", 1, "").error().code, Errc::not_found);
  EXPECT_EQ(cat().note_session_start("cc-x", 1).error().code, Errc::not_found);

  // Listing: by name then id; q is a case-insensitive substring of name or id;
  // '_' is literal, not a wildcard.
  auto all = cat().list_computers(ComputerFilter{}, Page{});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->items.size(), 3u);
  auto web = cat().list_computers(ComputerFilter{"", "WEB", std::nullopt}, Page{});
  ASSERT_TRUE(web);
  EXPECT_EQ(web->items.size(), 2u);
  auto underscore = cat().list_computers(ComputerFilter{"", "b_", std::nullopt}, Page{});
  ASSERT_TRUE(underscore);
  ASSERT_EQ(underscore->items.size(), 1u);
  EXPECT_EQ(underscore->items[0].id, "cc-3");
  auto by_id = cat().list_computers(ComputerFilter{"", "cc-2", std::nullopt}, Page{});
  ASSERT_EQ(by_id->items.size(), 1u);
  auto in_pool = cat().list_computers(ComputerFilter{"pool-a", "", std::nullopt}, Page{});
  ASSERT_EQ(in_pool->items.size(), 1u);
  EXPECT_EQ(in_pool->items[0].id, "cc-1");
  auto scoped = cat().list_computers(ComputerFilter{"", "", Scope{{"cc-3"}, {"pool-a"}}}, Page{});
  ASSERT_EQ(scoped->items.size(), 2u);
  auto empty_scope = cat().list_computers(ComputerFilter{"", "", Scope{}}, Page{});
  EXPECT_TRUE(empty_scope->items.empty());
  auto paged = cat().list_computers(ComputerFilter{}, Page{2, ""});
  ASSERT_EQ(paged->items.size(), 2u);
  ASSERT_FALSE(paged->next_token.empty());
  auto rest = cat().list_computers(ComputerFilter{}, Page{2, paged->next_token});
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_TRUE(rest->next_token.empty());

  EXPECT_EQ(cat().set_computer_pool("cc-2", std::string("pool-none")).error().code, Errc::not_found);
  EXPECT_EQ(cat().set_computer_pool("cc-x", std::string("pool-a")).error().code, Errc::not_found);
  CAT_OK(cat().set_computer_pool("cc-2", std::string("pool-a")));
  EXPECT_EQ(cat().get_computer("cc-2")->pool_id, "pool-a");

  CAT_OK(cat().delete_computer("cc-2"));
  EXPECT_EQ(cat().get_computer("cc-2").error().code, Errc::not_found);
  EXPECT_EQ(cat().delete_computer("cc-2").error().code, Errc::not_found);
}

TEST_P(CatalogTest, PoliciesAssignmentsAndVersioning) {
  CAT_OK(cat().create_policy(make_policy("pol-1", "Default")));
  EXPECT_EQ(cat().create_policy(make_policy("pol-2", "Default")).error().code, Errc::conflict);
  CAT_OK(cat().create_policy(make_policy("pol-2", "Strict")));
  auto p = cat().get_policy("pol-1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->recording.mode, RecordingMode::session);
  EXPECT_EQ(p->recording.fps, 10);
  EXPECT_EQ(p->version, 1);
  EXPECT_EQ(p->recording, make_policy("pol-1", "Default").recording);

  Policy edit = *p;
  edit.name = "Default v2";
  edit.recording.mode = RecordingMode::period;
  edit.recording.period_start = "08:30";
  edit.recording.audio = true;
  edit.recording.user_notice = true;
  edit.recording.user_notice_message = "You are being recorded";
  // Event-triggered recording's settings are stored too (the triggers as their JSON list).
  edit.recording.triggers = {{policy::TriggerKind::window_title, "*pay\\*roll \"Q3\"*"},
                             {policy::TriggerKind::process, "gimp"}};
  edit.recording.post_event_minutes = 25;
  edit.recording.pre_event_seconds = 0;
  edit.updated_at = kT0 + 1000;
  auto updated = cat().update_policy(edit);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->updated_at, kT0 + 1000);
  EXPECT_EQ(updated->recording, edit.recording);
  EXPECT_EQ(updated->name, "Default v2");
  EXPECT_EQ(cat().update_policy(edit)->version, 3);
  edit.name = "Strict";
  EXPECT_EQ(cat().update_policy(edit).error().code, Errc::conflict);
  EXPECT_EQ(cat().update_policy(make_policy("pol-x", "X")).error().code, Errc::not_found);

  auto list = cat().list_policies(Page{});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0].name, "Default v2");

  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  EXPECT_EQ(cat().assign_policy({"pol-x", TargetType::computer, "cc-1"}).error().code, Errc::not_found);
  EXPECT_EQ(cat().assign_policy({"pol-1", TargetType::computer, "cc-x"}).error().code, Errc::not_found);
  EXPECT_EQ(cat().assign_policy({"pol-1", TargetType::pool, "pool-x"}).error().code, Errc::not_found);
  CAT_OK(cat().assign_policy({"pol-1", TargetType::computer, "cc-1"}));
  CAT_OK(cat().assign_policy({"pol-1", TargetType::pool, "pool-a"}));
  // Assigning another policy to the same target replaces the first.
  CAT_OK(cat().assign_policy({"pol-2", TargetType::computer, "cc-1"}));
  auto a1 = cat().list_assignments("pol-1");
  ASSERT_TRUE(a1);
  ASSERT_EQ(a1->size(), 1u);
  EXPECT_EQ((*a1)[0].target_type, TargetType::pool);
  auto a2 = cat().list_assignments("pol-2");
  ASSERT_EQ(a2->size(), 1u);
  EXPECT_EQ((*a2)[0].target_id, "cc-1");
  EXPECT_EQ(cat().unassign_policy({"pol-1", TargetType::computer, "cc-1"}).error().code, Errc::not_found);
  CAT_OK(cat().unassign_policy({"pol-2", TargetType::computer, "cc-1"}));
  EXPECT_TRUE(cat().list_assignments("pol-2")->empty());
}

TEST_P(CatalogTest, EffectivePolicyOwnBeatsPoolThenNone) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  CAT_OK(cat().create_policy(make_policy("pol-own", "Own")));
  CAT_OK(cat().create_policy(make_policy("pol-pool", "Pool")));

  auto none = cat().effective_policy("cc-1");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->source, PolicySource::none);
  EXPECT_FALSE(none->policy);
  EXPECT_EQ(cat().effective_policy("cc-x").error().code, Errc::not_found);

  CAT_OK(cat().assign_policy({"pol-pool", TargetType::pool, "pool-a"}));
  auto pooled = cat().effective_policy("cc-1");
  ASSERT_TRUE(pooled);
  EXPECT_EQ(pooled->source, PolicySource::pool);
  EXPECT_EQ(pooled->policy->id, "pol-pool");
  EXPECT_EQ(cat().effective_policy("cc-2")->source, PolicySource::none);

  CAT_OK(cat().assign_policy({"pol-own", TargetType::computer, "cc-1"}));
  auto own = cat().effective_policy("cc-1");
  EXPECT_EQ(own->source, PolicySource::computer);
  EXPECT_EQ(own->policy->id, "pol-own");

  // Deleting the computer's policy falls back to the pool's; the recordings
  // made under it keep their snapshot.
  Recording r = make_recording("rec-1", "cc-1", "alice", kT0);
  r.policy_id = "pol-own";
  r.policy_name = "Own";
  CAT_OK(cat().create_recording(r));
  CAT_OK(cat().delete_policy("pol-own"));
  EXPECT_EQ(cat().get_policy("pol-own").error().code, Errc::not_found);
  EXPECT_EQ(cat().delete_policy("pol-own").error().code, Errc::not_found);
  EXPECT_EQ(cat().effective_policy("cc-1")->source, PolicySource::pool);
  auto kept = cat().get_recording("rec-1");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->policy_id, "pol-own");
  EXPECT_EQ(kept->policy_name, "Own");

  // Leaving the pool leaves no policy.
  CAT_OK(cat().set_computer_pool("cc-1", std::nullopt));
  EXPECT_EQ(cat().effective_policy("cc-1")->source, PolicySource::none);
}

TEST_P(CatalogTest, EnrollmentTokensAndAgentCredentials) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  EnrollmentToken good{"enr-1", sha_of("good"), std::string("pool-a"), kT0 + kDay, 2, 0, "usr-1", kT0, false};
  EnrollmentToken expired{"enr-2", sha_of("expired"), std::nullopt, kT0 - 1, std::nullopt, 0, "usr-1", kT0 + 1, false};
  EnrollmentToken revoked{"enr-3", sha_of("revoked"), std::nullopt, std::nullopt, std::nullopt,
                          0,       "usr-1",           kT0 + 2,      false};
  CAT_OK(cat().create_enrollment_token(good));
  CAT_OK(cat().create_enrollment_token(expired));
  CAT_OK(cat().create_enrollment_token(revoked));
  EXPECT_EQ(cat().create_enrollment_token(good).error().code, Errc::conflict);
  CAT_OK(cat().revoke_enrollment_token("enr-3"));
  EXPECT_EQ(cat().revoke_enrollment_token("enr-x").error().code, Errc::not_found);

  auto listed = cat().list_enrollment_tokens(Page{2, ""});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->items.size(), 2u);
  EXPECT_EQ(listed->items[0].id, "enr-3");  // newest first
  EXPECT_TRUE(listed->items[0].revoked);
  auto listed2 = cat().list_enrollment_tokens(Page{2, listed->next_token});
  ASSERT_TRUE(listed2);
  ASSERT_EQ(listed2->items.size(), 1u);
  EXPECT_EQ(listed2->items[0].id, "enr-1");
  EXPECT_EQ(listed2->items[0].max_uses, 2);
  EXPECT_EQ(listed2->items[0].pool_id, "pool-a");

  const auto enroll = [&](std::string_view secret, std::string id) {
    return cat().enroll(sha_of(secret), make_computer(id, id), sha_of("agent-" + id), kT0);
  };
  auto c1 = enroll("good", "cc-1");
  ASSERT_TRUE(c1) << c1.error().message;
  EXPECT_TRUE(c1->enrolled);
  EXPECT_EQ(c1->pool_id, "pool-a");  // from the token
  EXPECT_EQ(cat().computer_for_agent_token(sha_of("agent-cc-1")).value_or(""), "cc-1");

  for (const auto& [secret, what] : {std::pair{"expired", "expired"}, {"revoked", "revoked"}, {"nope", "unknown"}}) {
    auto refused = enroll(secret, std::string("cc-") + what);
    ASSERT_FALSE(refused) << what;
    EXPECT_EQ(refused.error().code, Errc::unauthenticated) << what;
  }
  // A failed enrollment (computer id taken) does not use up the token.
  auto dup = enroll("good", "cc-1");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::conflict);
  auto c2 = enroll("good", "cc-2");
  ASSERT_TRUE(c2) << c2.error().message;
  auto used_up = enroll("good", "cc-3");
  ASSERT_FALSE(used_up);
  EXPECT_EQ(used_up.error().code, Errc::unauthenticated);
  EXPECT_NE(used_up.error().message.find("used up"), std::string::npos);
  EXPECT_EQ(cat().get_computer("cc-3").error().code, Errc::not_found);

  auto unknown = cat().computer_for_agent_token(sha_of("agent-cc-3"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::unauthenticated);

  // Deleting the computer removes its credential.
  CAT_OK(cat().delete_computer("cc-1"));
  EXPECT_EQ(cat().computer_for_agent_token(sha_of("agent-cc-1")).error().code, Errc::unauthenticated);
}

TEST_P(CatalogTest, UsersRolesGrantsAndTokens) {
  User u{"usr-1", "alice", "$argon2id$v=19$m=65536,t=2,p=1$abc$def", false, kT0, kT0, 0, 0};
  CAT_OK(cat().create_user(u));
  EXPECT_EQ(cat().create_user(User{"usr-2", "alice", "x", false, kT0, 0, 0, 0}).error().code, Errc::conflict);
  CAT_OK(cat().create_user(User{"usr-2", "bob", "x", false, kT0, 0, 0, 0}));
  EXPECT_EQ(*cat().count_users(), 2);
  EXPECT_EQ(cat().find_user("alice")->id, "usr-1");
  EXPECT_EQ(cat().find_user("carol").error().code, Errc::not_found);
  EXPECT_EQ(cat().get_user("usr-x").error().code, Errc::not_found);
  u.failed_logins = 3;
  u.locked_until = kT0 + 100;
  u.disabled = true;
  u.password_hash = "new";
  u.password_changed_at = kT0 + 5;
  CAT_OK(cat().update_user(u));
  auto got = cat().get_user("usr-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->failed_logins, 3);
  EXPECT_EQ(got->locked_until, kT0 + 100);
  EXPECT_TRUE(got->disabled);
  EXPECT_EQ(got->password_hash, "new");
  EXPECT_EQ(got->password_changed_at, kT0 + 5);
  auto users = cat().list_users();
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].username, "alice");

  CAT_OK(cat().upsert_role(Role{"administrator", "Administrator", "all", {"policy:read", "policy:write"}, true}));
  CAT_OK(cat().upsert_role(
      Role{"role-aud", "Auditor", "", {"recording:play", "recording:list", "recording:play"}, false}));
  auto role = cat().get_role("role-aud");
  ASSERT_TRUE(role);
  EXPECT_EQ(role->permissions, (std::vector<std::string>{"recording:list", "recording:play"}));
  CAT_OK(cat().upsert_role(Role{"role-aud", "Auditors", "d", {"recording:list"}, false}));
  role = cat().get_role("role-aud");
  EXPECT_EQ(role->name, "Auditors");
  EXPECT_EQ(role->permissions, std::vector<std::string>{"recording:list"});
  EXPECT_EQ(cat().get_role("role-x").error().code, Errc::not_found);
  EXPECT_EQ(cat().list_roles()->size(), 2u);
  EXPECT_EQ(cat().delete_role("administrator").error().code, Errc::conflict);

  RoleGrant everything{"usr-1", "role-aud", std::nullopt, std::nullopt};
  RoleGrant pool_only{"usr-1", "role-aud", TargetType::pool, std::string("pool-a")};
  CAT_OK(cat().grant_role(everything));
  CAT_OK(cat().grant_role(everything));  // idempotent
  CAT_OK(cat().grant_role(pool_only));
  EXPECT_EQ(cat().grant_role(RoleGrant{"usr-x", "role-aud", {}, {}}).error().code, Errc::not_found);
  EXPECT_EQ(cat().grant_role(RoleGrant{"usr-1", "role-x", {}, {}}).error().code, Errc::not_found);
  EXPECT_EQ(cat().grant_role(RoleGrant{"usr-1", "role-aud", TargetType::pool, {}}).error().code,
            Errc::invalid_argument);
  auto grants = cat().list_grants("usr-1");
  ASSERT_EQ(grants->size(), 2u);
  EXPECT_FALSE((*grants)[0].scope_type);
  EXPECT_EQ((*grants)[1].scope_type, TargetType::pool);
  EXPECT_EQ((*grants)[1].scope_id, "pool-a");
  EXPECT_EQ(cat().delete_role("role-aud").error().code, Errc::conflict);
  CAT_OK(cat().revoke_role(pool_only));
  EXPECT_EQ(cat().revoke_role(pool_only).error().code, Errc::not_found);

  ApiToken t{"tok-1", "usr-1", TokenKind::api, "ci", sha_of("secret-1"), kT0, kT0 + kDay, 0, false};
  ApiToken s{"tok-2", "usr-1", TokenKind::session, "", sha_of("secret-2"), kT0 + 1, std::nullopt, 0, false};
  CAT_OK(cat().create_token(t));
  CAT_OK(cat().create_token(s));
  EXPECT_EQ(cat().create_token(t).error().code, Errc::conflict);
  EXPECT_EQ(
      cat().create_token(ApiToken{"tok-3", "usr-x", TokenKind::api, "", sha_of("s3"), kT0, {}, 0, false}).error().code,
      Errc::not_found);
  auto found = cat().find_token(sha_of("secret-2"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, TokenKind::session);
  EXPECT_FALSE(found->expires_at);
  EXPECT_EQ(cat().find_token(sha_of("nope")).error().code, Errc::not_found);
  CAT_OK(cat().touch_token("tok-1", kT0 + 77));
  CAT_OK(cat().revoke_token("tok-1"));
  auto t1 = cat().get_token("tok-1");
  EXPECT_TRUE(t1->revoked);
  EXPECT_EQ(t1->last_used_at, kT0 + 77);
  EXPECT_EQ(t1->expires_at, kT0 + kDay);
  EXPECT_EQ(cat().revoke_token("tok-x").error().code, Errc::not_found);
  EXPECT_EQ(cat().list_tokens("usr-1")->size(), 2u);
  EXPECT_EQ(cat().list_tokens("")->size(), 2u);
  EXPECT_TRUE(cat().list_tokens("usr-2")->empty());

  CAT_OK(cat().delete_user("usr-1"));
  EXPECT_EQ(cat().find_token(sha_of("secret-2")).error().code, Errc::not_found);
  EXPECT_TRUE(cat().list_grants("usr-1")->empty());
  EXPECT_EQ(cat().delete_user("usr-1").error().code, Errc::not_found);
  CAT_OK(cat().delete_role("role-aud"));
  EXPECT_EQ(*cat().count_users(), 1);
}

}  // namespace
}  // namespace deskaudit::catalog::test
