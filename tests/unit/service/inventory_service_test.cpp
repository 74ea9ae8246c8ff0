// InventoryService against the in-memory catalog: the scope rule (hidden ->
// not_found, visible but reaching outside -> permission_denied) for
// computers, pools, moves and enrollment tokens, the validation of what
// administrators send, and the audit entries of every change.
#include "service/inventory_service.hpp"

#include <gtest/gtest.h>

#include "auth/permissions.hpp"
#include "common/crypto.hpp"
#include "memory_catalog.hpp"
#include "inventory_test_support.hpp"

namespace deskaudit::service {
namespace {

using namespace catalog;
using test_support::code_of;
using testing::MemoryCatalog;

constexpr EpochMs kT0 = 1'790'000'000'000;

const Role kInventoryWriter{"inv-writer", "Inventory writer", "", {"inventory:read", "inventory:write"}, false};
const Role kInventoryReader{"inv-reader", "Inventory reader", "", {"inventory:read"}, false};

Caller admin() { return {"admin", "usr-admin", "", auth::Grants::everything()}; }

// An administrator holding `role` on each of `pools`.
Caller scoped(const std::string& name, const std::vector<std::pair<Role, std::string>>& grants) {
  std::vector<RoleGrant> rows;
  std::vector<Role> roles;
  for (const auto& [role, pool] : grants) {
    rows.push_back({"usr-" + name, role.id, TargetType::pool, pool});
    roles.push_back(role);
  }
  return {name, "usr-" + name, "", auth::Grants(rows, roles)};
}

class InventoryServiceTest : public ::testing::Test {
 protected:
  InventoryServiceTest() {
    for (const auto& [id, name] : {std::pair{"pool-a", "A"}, {"pool-b", "B"}, {"pool-c", "C"}}) {
      EXPECT_TRUE(catalog_.create_pool({id, name, "", kT0}));
    }
    a1_ = add_computer("a1", "pool-a");
    b1_ = add_computer("b1", "pool-b");
    c1_ = add_computer("c1", "pool-c");
    loose_ = add_computer("loose", std::nullopt);
  }

  std::string add_computer(const std::string& name, std::optional<std::string> pool) {
    auto c = inventory_.create_computer(admin(), {name, name + ".example", "Linux", std::move(pool)});
    EXPECT_TRUE(c) << c.error().message;
    return c ? c->computer.id : "";
  }
  std::vector<AuditEntry> audit(const std::string& action) { return test_support::audit_entries(catalog_, action); }
  std::optional<std::string> pool_of(const std::string& computer) { return catalog_.get_computer(computer)->pool_id; }

  MemoryCatalog catalog_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kT0);
  AuditLog audit_log_{catalog_, clock_};
  InventoryService inventory_{catalog_, audit_log_, clock_, InventorySettings{90'000}};
  std::string a1_, b1_, c1_, loose_;
  // Writes pool A, only reads pool B, sees nothing of pool C.
  Caller alice_ = scoped("alice", {{kInventoryWriter, "pool-a"}, {kInventoryReader, "pool-b"}});
};

TEST_F(InventoryServiceTest, ChangesAreAuditedAsTheCaller) {
  auto c = inventory_.update_computer(alice_, a1_, {std::string("renamed"), std::nullopt});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->computer.name, "renamed");
  EXPECT_EQ(catalog_.get_computer(a1_)->name, "renamed");
  auto entries = audit("computer.update");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "alice");
  EXPECT_EQ(entries[0].target, a1_);
  EXPECT_EQ(nlohmann::json::parse(entries[0].details_json), (nlohmann::json{{"name", "renamed"}}));
  EXPECT_EQ(audit("computer.create").size(), 4u);
  EXPECT_EQ(audit("computer.create")[0].actor, "admin");
}

TEST_F(InventoryServiceTest, AComputerOutsideTheScopeIsNotFound) {
  EXPECT_EQ(code_of(inventory_.get_computer(alice_, c1_)), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.update_computer(alice_, c1_, {std::string("x"), std::nullopt})), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.delete_computer(alice_, c1_)), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.recording_status(alice_, c1_)), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.add_to_pool(alice_, "pool-a", c1_)), Errc::not_found);
  // Not even a hint that it exists: the same answer as for no computer at all.
  EXPECT_EQ(inventory_.get_computer(alice_, c1_).error().message, "no computer " + c1_);
  // Computers outside every pool are outside every pool-scoped grant.
  EXPECT_EQ(code_of(inventory_.get_computer(alice_, loose_)), Errc::not_found);

  auto list = inventory_.list_computers(alice_, {}, Page{});
  ASSERT_TRUE(list);
  std::vector<std::string> ids;
  for (const auto& v : list->items) ids.push_back(v.computer.id);
  std::ranges::sort(ids);
  std::vector<std::string> want{a1_, b1_};
  std::ranges::sort(want);
  EXPECT_EQ(ids, want);
  EXPECT_EQ(inventory_.list_computers(admin(), {}, Page{})->items.size(), 4u);
}

TEST_F(InventoryServiceTest, AVisibleChangeReachingOutsideTheScopeIsPermissionDenied) {
  // Pool B is visible (inventory:read) but not writable.
  EXPECT_EQ(code_of(inventory_.update_computer(alice_, b1_, {std::string("x"), std::nullopt})),
            Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.delete_computer(alice_, b1_)), Errc::permission_denied);
  // Into a visible pool it may not write, out of every pool, into a pool it
  // cannot see (reported as not existing): each end of a move counts.
  EXPECT_EQ(code_of(inventory_.update_computer(alice_, a1_, {std::nullopt, std::string("pool-b")})),
            Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.update_computer(alice_, a1_, {std::nullopt, std::optional<std::string>()})),
            Errc::permission_denied);
  auto hidden = inventory_.update_computer(alice_, a1_, {std::nullopt, std::string("pool-c")});
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().code, Errc::unprocessable);
  EXPECT_EQ(hidden.error().message, "pool pool-c does not exist");
  EXPECT_EQ(hidden.error().field, "pool_id");
  EXPECT_EQ(code_of(inventory_.add_to_pool(alice_, "pool-a", b1_)), Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.add_to_pool(alice_, "pool-b", a1_)), Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.remove_from_pool(alice_, "pool-a", a1_)), Errc::permission_denied);
  EXPECT_EQ(pool_of(a1_), "pool-a");
  EXPECT_EQ(pool_of(b1_), "pool-b");
  EXPECT_TRUE(audit("computer.update").empty());
  EXPECT_TRUE(audit("pool.").empty());
  // A create lands in a pool too.
  EXPECT_EQ(code_of(inventory_.create_computer(alice_, {"new", "", "", std::string("pool-b")})), Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.create_computer(alice_, {"new", "", "", std::nullopt})), Errc::permission_denied);
  EXPECT_TRUE(inventory_.create_computer(alice_, {"new", "", "", std::string("pool-a")}));
}

TEST_F(InventoryServiceTest, MovesWithinTheScopeAndOutOfPoolsWithAnUnscopedGrant) {
  auto both = scoped("bob", {{kInventoryWriter, "pool-a"}, {kInventoryWriter, "pool-b"}});
  ASSERT_TRUE(inventory_.add_to_pool(both, "pool-b", a1_));
  EXPECT_EQ(pool_of(a1_), "pool-b");
  auto moved = inventory_.update_computer(both, a1_, {std::nullopt, std::string("pool-a")});
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(moved->computer.pool_id, "pool-a");
  EXPECT_EQ(pool_of(a1_), "pool-a");
  EXPECT_EQ(code_of(inventory_.remove_from_pool(admin(), "pool-b", a1_)), Errc::not_found);  // not in that pool
  ASSERT_TRUE(inventory_.remove_from_pool(admin(), "pool-a", a1_));
  EXPECT_EQ(pool_of(a1_), std::nullopt);
  auto entries = audit("pool.");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].action, "pool.remove_computer");
  EXPECT_EQ(entries[1].action, "pool.add_computer");
  EXPECT_EQ(entries[1].target, "pool-b");
  // A destination that does not exist at all.
  auto missing = inventory_.update_computer(admin(), b1_, {std::nullopt, std::string("pool-zz")});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::unprocessable);
}

TEST_F(InventoryServiceTest, PoolsFollowTheSameRule) {
  EXPECT_EQ(code_of(inventory_.get_pool(alice_, "pool-c")), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.update_pool(alice_, "pool-c", {std::string("x"), std::nullopt})), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.list_pool_computers(alice_, "pool-c", "", Page{})), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.update_pool(alice_, "pool-b", {std::string("x"), std::nullopt})),
            Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.delete_pool(alice_, "pool-b")), Errc::permission_denied);
  // A new pool is outside every scoped grant.
  EXPECT_EQ(code_of(inventory_.create_pool(alice_, {"D", ""})), Errc::permission_denied);

  auto renamed = inventory_.update_pool(alice_, "pool-a", {std::string("A2"), std::string("first floor")});
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(catalog_.get_pool("pool-a")->description, "first floor");
  auto pools = inventory_.list_pools(alice_, "", Page{});
  ASSERT_TRUE(pools);
  EXPECT_EQ(pools->items.size(), 2u);  // A and B
  EXPECT_EQ(code_of(inventory_.delete_pool(alice_, "pool-a")), Errc::conflict);  // still holds a1

  auto d = inventory_.create_pool(admin(), {"D", "empty"});
  ASSERT_TRUE(d);
  ASSERT_TRUE(inventory_.delete_pool(admin(), d->id));
  EXPECT_EQ(code_of(inventory_.get_pool(admin(), d->id)), Errc::not_found);
  EXPECT_EQ(audit("pool.create").size(), 1u);
  EXPECT_EQ(audit("pool.delete").size(), 1u);
  EXPECT_EQ(audit("pool.update").size(), 1u);
}

TEST_F(InventoryServiceTest, NamesAndTextsAreChecked) {
  auto bad = inventory_.create_computer(admin(), {"tab\there", "", "", std::nullopt});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::unprocessable);
  EXPECT_EQ(bad.error().field, "name");
  EXPECT_EQ(code_of(inventory_.create_computer(admin(), {"", "", "", std::nullopt})), Errc::unprocessable);
  auto long_host = inventory_.create_computer(admin(), {"ok", std::string(300, 'h'), "", std::nullopt});
  ASSERT_FALSE(long_host);
  EXPECT_EQ(long_host.error().field, "hostname");
  EXPECT_EQ(code_of(inventory_.update_computer(admin(), a1_, {std::string(129, 'n'), std::nullopt})),
            Errc::unprocessable);
  auto long_description = inventory_.create_pool(admin(), {"E", std::string(3000, 'd')});
  ASSERT_FALSE(long_description);
  EXPECT_EQ(long_description.error().field, "description");
  EXPECT_EQ(code_of(inventory_.update_pool(admin(), "pool-a", {std::nullopt, std::string(3000, 'd')})),
            Errc::unprocessable);
  EXPECT_EQ(catalog_.get_computer(a1_)->name, "a1");
}

TEST_F(InventoryServiceTest, EnrollmentTokensAreSeenAndRevokedByWhoMayEnrollIntoTheirPool) {
  auto in_a = inventory_.create_enrollment_token(alice_, {std::string("pool-a"), std::nullopt, 5});
  ASSERT_TRUE(in_a) << in_a.error().message;
  EXPECT_TRUE(in_a->secret.starts_with(kEnrollPrefix));
  EXPECT_EQ(in_a->token.token_sha256, sha256_hex(in_a->secret));
  EXPECT_EQ(in_a->token.created_by, "usr-alice");
  auto stored = catalog_.get_enrollment_token(in_a->token.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->max_uses, 5);
  auto in_c = inventory_.create_enrollment_token(admin(), {std::string("pool-c"), std::nullopt, std::nullopt});
  auto anywhere = inventory_.create_enrollment_token(admin(), {std::nullopt, std::nullopt, std::nullopt});
  ASSERT_TRUE(in_c && anywhere);

  auto seen = inventory_.list_enrollment_tokens(alice_, Page{});
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->items.size(), 1u);
  EXPECT_EQ(seen->items[0].id, in_a->token.id);
  EXPECT_EQ(inventory_.list_enrollment_tokens(admin(), Page{})->items.size(), 3u);
  EXPECT_EQ(code_of(inventory_.revoke_enrollment_token(alice_, in_c->token.id)), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.revoke_enrollment_token(alice_, anywhere->token.id)), Errc::not_found);
  ASSERT_TRUE(inventory_.revoke_enrollment_token(alice_, in_a->token.id));
  EXPECT_TRUE(catalog_.get_enrollment_token(in_a->token.id)->revoked);
  EXPECT_FALSE(catalog_.get_enrollment_token(in_c->token.id)->revoked);
  EXPECT_EQ(audit("enrollment_token.create").size(), 3u);
  ASSERT_EQ(audit("enrollment_token.revoke").size(), 1u);
  EXPECT_EQ(audit("enrollment_token.revoke")[0].actor, "alice");
  // The secret is never written down.
  for (const auto& e : audit("enrollment_token.")) {
    EXPECT_EQ(e.details_json.find(in_a->secret), std::string::npos);
  }

  // Where enrolled computers land must be reachable; values are checked.
  EXPECT_EQ(code_of(inventory_.create_enrollment_token(alice_, {std::nullopt, std::nullopt, std::nullopt})),
            Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.create_enrollment_token(alice_, {std::string("pool-b"), std::nullopt, std::nullopt})),
            Errc::permission_denied);
  EXPECT_EQ(code_of(inventory_.create_enrollment_token(alice_, {std::string("pool-c"), std::nullopt, std::nullopt})),
            Errc::unprocessable);
  auto past = inventory_.create_enrollment_token(admin(), {std::nullopt, kT0, std::nullopt});
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().field, "expires_at");
  for (std::int64_t uses : {std::int64_t{0}, kMaxEnrollmentUses + 1}) {
    auto r = inventory_.create_enrollment_token(admin(), {std::nullopt, std::nullopt, uses});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().field, "max_uses");
  }
  EXPECT_TRUE(inventory_.create_enrollment_token(admin(), {std::nullopt, kT0 + 1, kMaxEnrollmentUses}));
}

TEST_F(InventoryServiceTest, EffectivePolicyNeedsPolicyReadOnTheComputer) {
  const Role policy_reader{"pol-reader", "", "", {"policy:read"}, false};
  auto carol = scoped("carol", {{policy_reader, "pool-b"}});
  EXPECT_EQ(code_of(inventory_.effective_policy(carol, a1_)), Errc::not_found);
  EXPECT_EQ(code_of(inventory_.effective_policy(alice_, a1_)), Errc::not_found);  // inventory:read is not enough
  Policy p;
  p.id = "pol-1";
  p.name = "record";
  p.recording.mode = RecordingMode::session;
  ASSERT_TRUE(catalog_.create_policy(p));
  ASSERT_TRUE(catalog_.assign_policy({p.id, TargetType::pool, "pool-b"}));
  auto v = inventory_.effective_policy(carol, b1_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->policy.source, PolicySource::pool);
  ASSERT_TRUE(v->policy.policy);
  EXPECT_EQ(v->policy.policy->id, "pol-1");
  // Listed computers carry their policy too.
  auto list = inventory_.list_pool_computers(admin(), "pool-b", "", Page{});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].policy.source, PolicySource::pool);
}

TEST_F(InventoryServiceTest, RecordingStatusNamesWhatIsMissing) {
  auto report = inventory_.recording_status(admin(), a1_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->ok);
  std::vector<std::string> ids;
  for (const auto& c : report->checks) ids.push_back(c.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"enrolled", "agent_online", "agent_version", "os", "capture", "policy",
                                           "session", "audio", "upload", "set_aside", "agent_silent"}));
  const auto check = [&](const RecordingStatusReport& r, std::string_view id) {
    return *std::ranges::find(r.checks, id, &StatusCheck::id);
  };
  EXPECT_FALSE(check(*report, "enrolled").ok);
  EXPECT_FALSE(check(*report, "policy").ok);
  EXPECT_EQ(check(*report, "policy").detail, "no policy is assigned to this computer or its pool");
  EXPECT_TRUE(check(*report, "os").ok);
  EXPECT_TRUE(check(*report, "agent_silent").ok);

  // A version too long for any counter must not overflow the comparison.
  AgentState st;
  st.agent_version = std::string(60, '9');
  st.last_seen_at = kT0;
  st.capture_json = R"({"ok":true,"backend":"xshm","width":1920,"height":1080})";
  st.set_aside_json = R"({"count":2,"items":[{"local_id":"s-1","http_status":422,"error":"bad"}]})";
  ASSERT_TRUE(catalog_.update_agent_heartbeat(a1_, st));
  report = inventory_.recording_status(admin(), a1_);
  ASSERT_TRUE(report);
  EXPECT_TRUE(check(*report, "agent_online").ok);
  EXPECT_TRUE(check(*report, "agent_version").ok);
  EXPECT_EQ(check(*report, "capture").detail, "xshm 1920x1080");
  EXPECT_FALSE(check(*report, "set_aside").ok);
  EXPECT_NE(check(*report, "set_aside").detail.find("s-1 HTTP 422: bad"), std::string::npos);
  clock_->advance(90'001);
  report = inventory_.recording_status(admin(), a1_);
  ASSERT_TRUE(report);
  EXPECT_FALSE(check(*report, "agent_online").ok);
}

}  // namespace
}  // namespace deskaudit::service
